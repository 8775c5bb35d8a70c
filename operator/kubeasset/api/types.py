"""Constrained field types and size limits shared by every custom resource.

Each type carries its pattern and bounds, so the CRD schema validates names before they reach a Pod and
the API server can bound the cost of every CEL rule (CEL cost estimates need a ``maxLength`` on each
string and a ``maxItems``/``maxProperties`` on each list and map). The limits are exported: the
controller truncates what it copies from user code (descriptions, messages, metadata) to fit them.

Patterns here are written to mean the same in Python's ``re``, in RE2 (CEL ``matches``) and in the API
server's OpenAPI validation, and those derived from user-code naming rules mirror ``kubeasset.sdk.naming``
(a unit test keeps them equal; ``api`` and ``sdk`` are sibling layers and cannot import each other).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, PlainSerializer, StringConstraints, WithJsonSchema

from kubeasset.api.markers import PRESERVE_UNKNOWN_FIELDS
from kubeasset.graph.keys import KEY_PART_PATTERN, KEY_SEPARATOR, MAX_KEY_PARTS

# --- limits -----------------------------------------------------------------------------------------

#: Longest name of an object that other objects reference and that ends up in a label value.
MAX_NAME_LENGTH: Final = 63
#: Longest AssetSchedule / AssetSensor name: like a CronJob's 52, so that ``<name>-<8-10 digits>`` run
#: names still fit a 63-character label value.
MAX_TRIGGER_NAME_LENGTH: Final = 52
#: Longest Kubernetes object name (a DNS subdomain), e.g. a run or Pod name.
MAX_OBJECT_NAME_LENGTH: Final = 253
#: Longest asset key string: MAX_KEY_PARTS parts of 63 characters and their separators.
MAX_ASSET_KEY_LENGTH: Final = MAX_KEY_PARTS * 64 - 1
#: Most assets one job resolves to or one run materializes (bounds status size and CEL costs).
MAX_ASSETS: Final = 5000
#: Most dependencies of one asset.
MAX_DEPS: Final = 1000
#: Most tags on one object.
MAX_TAGS: Final = 64
#: Longest selection expression.
MAX_SELECTION_LENGTH: Final = 4096
#: Longest free-text description (asset docstrings are truncated to this by the controller).
MAX_DESCRIPTION_LENGTH: Final = 4096
#: Longest human-readable message in a status (errors are truncated to this by the controller).
MAX_MESSAGE_LENGTH: Final = 4096
#: Longest condition message, as in the Kubernetes ``metav1.Condition``.
MAX_CONDITION_MESSAGE_LENGTH: Final = 32768
#: Most metadata entries kept per materialization in a status.
MAX_METADATA_ENTRIES: Final = 128
#: Longest metadata key (the SDK's ``MAX_METADATA_KEY_LENGTH``).
MAX_METADATA_KEY_LENGTH: Final = 256
#: Most groups, code-defined jobs, owners, kinds of one code location / asset.
MAX_GROUPS: Final = 1000
MAX_CODE_JOBS: Final = 1000
MAX_OWNERS: Final = 32
MAX_KINDS: Final = 32
#: Most cron expressions of one schedule.
MAX_CRON_EXPRESSIONS: Final = 16
#: Most run names listed as active in a status.
MAX_ACTIVE_RUNS: Final = 100
#: Most conditions in one status.
MAX_CONDITIONS: Final = 16
#: Longest generic short string (versions, hashes, image references, reasons).
MAX_SHORT_STRING: Final = 256
#: Longest path or URL.
MAX_PATH_LENGTH: Final = 2048

# --- patterns ---------------------------------------------------------------------------------------

#: A DNS-1123 subdomain, the rule for Kubernetes object names.
DNS_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A DNS-1123 label, the rule for volume and port names.
DNS_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: An asset key: 1 to MAX_KEY_PARTS parts separated by '/', each part ``KEY_PART_PATTERN``.
ASSET_KEY_PATTERN: Final = (
    rf"^{KEY_PART_PATTERN}({KEY_SEPARATOR}{KEY_PART_PATTERN}){{0,{MAX_KEY_PARTS - 1}}}$"
)
#: Mirrors ``kubeasset.sdk.naming.GROUP_NAME_PATTERN`` (Dagster's group rule, bounded like a label value).
GROUP_NAME_PATTERN: Final = r"^[A-Za-z0-9_]{1,63}$"
#: Mirrors ``kubeasset.sdk.naming.JOB_NAME_PATTERN`` (jobs defined in code, such as ``sales_job``).
CODE_JOB_NAME_PATTERN: Final = r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$"
_LABEL_NAME: Final = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN_PART: Final = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
#: A tag key: a Kubernetes label key, as ``kubeasset.sdk.naming`` requires of definition tags.
TAG_KEY_PATTERN: Final = rf"^({_DNS_SUBDOMAIN_PART}/)?{_LABEL_NAME}$"
#: A tag value: a Kubernetes label value (possibly empty), as ``kubeasset.sdk.naming`` requires.
TAG_VALUE_PATTERN: Final = rf"^({_LABEL_NAME})?$"
#: Mirrors the SDK's owner rule (Dagster's): an email address or ``team:<name>``.
OWNER_PATTERN: Final = r"^([^@\s]+@[^@\s]+\.[^@\s]+|team:[A-Za-z0-9_.-]{1,63})$"
#: Mirrors the SDK's asset kind rule (``python``, ``table``, ``dbt``).
KIND_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,63}$"
#: Longest tag key (253-character prefix, '/', 63-character name).
MAX_TAG_KEY_LENGTH: Final = 317
#: A Python module path such as ``shop`` or ``company.pipelines.shop``.
PYTHON_MODULE_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
#: A cron expression: five fields, or one of the @-macros croniter and CronJob understand. The schema
#: catches a wrong field count early; the controller validates the fields themselves (Ready=False).
#: An IANA time zone name (``UTC``, ``Europe/Berlin``, ``America/Argentina/Buenos_Aires``, ``Etc/GMT+2``);
#: whether the zone exists is checked by the controller (Ready=False), as the schema cannot know tzdata.
TIMEZONE_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*)*$"
#: A metadata value type such as ``text`` or ``int``: a pattern rather than an enum, because the runner
#: inside a user's image may be a newer kubeasset with more types, and a status write must not fail on it.
METADATA_TYPE_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}$"
#: A Kubernetes resource quantity (``500m``, ``2Gi``, ``1.5``), as in the core API's OpenAPI schema.
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
#: An environment variable name: any printable ASCII except '=' (Kubernetes' relaxed rule since 1.32).
ENV_VAR_NAME_PATTERN: Final = r"^[ -<>-~]+$"

# --- types ------------------------------------------------------------------------------------------

#: The name of an object in the same namespace that is referenced and used in labels (≤ 63).
ObjectRef = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=DNS_SUBDOMAIN_PATTERN)
]
#: The name of any Kubernetes object (a DNS subdomain, ≤ 253), such as a run or a Pod.
ObjectName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_OBJECT_NAME_LENGTH, pattern=DNS_SUBDOMAIN_PATTERN)
]
#: An asset key in its user string form, ``warehouse/orders``.
AssetKeyString = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ASSET_KEY_LENGTH, pattern=ASSET_KEY_PATTERN)
]
#: A selection expression (``group:sales``, ``1+key:top_customers``); its syntax is checked by the controller.
Selection = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SELECTION_LENGTH)]
#: An asset group name.
GroupName = Annotated[str, StringConstraints(max_length=63, pattern=GROUP_NAME_PATTERN)]
#: A tag key and a tag value (label key / label value rules).
TagKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TAG_KEY_LENGTH, pattern=TAG_KEY_PATTERN)
]
TagValue = Annotated[str, StringConstraints(max_length=63, pattern=TAG_VALUE_PATTERN)]
#: Free text bounded by MAX_MESSAGE_LENGTH / MAX_DESCRIPTION_LENGTH / MAX_SHORT_STRING.
Message = Annotated[str, StringConstraints(max_length=MAX_MESSAGE_LENGTH)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
ShortString = Annotated[str, StringConstraints(max_length=MAX_SHORT_STRING)]
NonEmptyShortString = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT_STRING)]
PathString = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH)]


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a 'Z', as Kubernetes writes times (fractional seconds only when present)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: A point in time: timezone-aware in Python (naive datetimes are rejected: they are ambiguous), an
#: RFC 3339 ``date-time`` string with a 'Z' in JSON.
Timestamp = Annotated[AwareDatetime, PlainSerializer(format_time, return_type=str, when_used="json")]

#: A Kubernetes resource quantity: an integer or a quantity string, like ``resource.Quantity``.
Quantity = Annotated[
    int | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)],
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
        }
    ),
]

#: Any JSON object, kept as written (run config, Kubernetes objects kubeasset passes through).
FreeFormObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object", **PRESERVE_UNKNOWN_FIELDS})]
#: Any JSON value (a metadata value): an untyped node that the API server keeps as written.
FreeFormValue = Annotated[Any, WithJsonSchema(dict(PRESERVE_UNKNOWN_FIELDS))]
