"""Names, labels and owner references of the objects the controller creates, in one place, so that every
reconciler derives the same deterministic name from the same input (a re-delivered event finds the
object it created before instead of making a second one).

The rules are those of notes/controller-design.md ("Naming"); each function documents its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.resource import KubeResource
from kubeasset.api.types import MAX_OBJECT_NAME_LENGTH
from kubeasset.errors import ApiModelError
from kubeasset.graph import AssetKey

# --- labels and annotations ---------------------------------------------------------------------------

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "kubeasset"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
COMPONENT_RUN: Final = "run"
COMPONENT_DISCOVERY: Final = "discovery"
#: Asset catalog objects carry the same labels, with this component.
COMPONENT_ASSET: Final = "asset"
CODE_LOCATION_LABEL: Final = "kubeasset.dev/code-location"
JOB_LABEL: Final = "kubeasset.dev/job"
RUN_LABEL: Final = "kubeasset.dev/run"
#: On Asset objects: the asset's group, so ``kubectl get assets -l kubeasset.dev/group=sales`` works.
GROUP_LABEL: Final = "kubeasset.dev/group"
#: On a CodeLocation, set by a person (any new value): run discovery again now.
REFRESH_ANNOTATION: Final = "kubeasset.dev/refresh"
#: On a discovery Pod: the hash its name ends with (what made the discovery necessary).
DISCOVERY_HASH_ANNOTATION: Final = "kubeasset.dev/discovery-hash"

MAX_LABEL_VALUE_LENGTH: Final = 63
_LABEL_VALUE_RE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NOT_LABEL_CHARS: Final = re.compile(r"[^-A-Za-z0-9_.]")
_DNS_LABEL_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HASH_LENGTH: Final = 8
_DISCOVERY_INFIX: Final = "-discovery-"


def short_hash(text: str, length: int = _HASH_LENGTH) -> str:
    """The first ``length`` hex digits of the sha256 of ``text``: ``short_hash("orders") == "..."``."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def label_value(name: str) -> str:
    """``name`` as a label value: unchanged when it is one (<= 63 characters of the label alphabet),
    else ``<first 54 chars>-<8 hex of sha256(name)>`` (characters a label cannot hold become '-').

    Example: ``label_value("a" * 70) == "a" * 54 + "-" + short_hash("a" * 70)``.
    """
    if len(name) <= MAX_LABEL_VALUE_LENGTH and _LABEL_VALUE_RE.match(name):
        return name
    head = _NOT_LABEL_CHARS.sub("-", name[: MAX_LABEL_VALUE_LENGTH - _HASH_LENGTH - 1])
    head = head.lstrip("-_.")  # a label value starts with a letter or digit
    return f"{head}-{short_hash(name)}" if head else short_hash(name)


def child_labels(
    component: str,
    *,
    code_location: str | None = None,
    job: str | None = None,
    run: str | None = None,
    group: str | None = None,
) -> dict[str, str]:
    """The labels of an object kubeasset creates; values pass through :func:`label_value`.

    Example: ``child_labels(COMPONENT_RUN, code_location="shop", job="daily", run="daily-28612340")``.
    """
    labels = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: component}
    for key, value in (
        (CODE_LOCATION_LABEL, code_location),
        (JOB_LABEL, job),
        (RUN_LABEL, run),
        (GROUP_LABEL, group),
    ):
        if value is not None:
            labels[key] = label_value(value)
    return labels


def owner_reference(owner: KubeResource | Mapping[str, Any]) -> dict[str, Any]:
    """The controller ownerReference to ``owner`` (a model or an API object as a dict): deleting the
    owner deletes the child, and ``blockOwnerDeletion`` keeps foreground deletion honest."""
    api_version: str | None
    kind: str | None
    name: str | None
    uid: str | None
    if isinstance(owner, KubeResource):
        api_version, kind = owner.api_version, getattr(owner, "kind", None)  # each kind declares `kind`
        name, uid = owner.metadata.name, owner.metadata.uid
    else:
        metadata = owner.get("metadata") or {}
        api_version, kind = owner.get("apiVersion"), owner.get("kind")
        name, uid = metadata.get("name"), metadata.get("uid")
    if not (api_version and kind and name and uid):
        raise ApiModelError(
            f"cannot reference {kind or 'an object'} {name or '<unnamed>'} as an owner: it needs apiVersion, "
            "kind, metadata.name and metadata.uid (use the object as read from the API server)"
        )
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


# --- Pods ---------------------------------------------------------------------------------------------


def run_pod_name(run_name: str) -> str:
    """The Pod of an AssetRun has the run's name: one Pod per run, found again after any restart."""
    return run_name


def discovery_hash_inputs(location: CodeLocation, now: datetime) -> dict[str, Any]:
    """What makes a discovery necessary: the code (image, module, working directory), the Pod settings it
    runs with, the ``kubeasset.dev/refresh`` annotation, and the periodic-refresh epoch
    (``floor(now / intervalSeconds)``, None without an interval). Storage is not in it: discovery
    does not read stored values."""
    spec = location.spec
    interval = spec.refresh.interval_seconds if spec.refresh else None
    annotations = location.metadata.annotations or {}
    return {
        "image": spec.image,
        "module": spec.module,
        "workingDirectory": spec.working_directory,
        "pod": spec.pod.to_json() if spec.pod else None,
        "refresh": annotations.get(REFRESH_ANNOTATION),
        "epoch": math.floor(now.timestamp() / interval) if interval else None,
    }


def discovery_hash(location: CodeLocation, now: datetime) -> str:
    """8 hex digits of the sha256 of :func:`discovery_hash_inputs` as canonical JSON."""
    canonical = json.dumps(discovery_hash_inputs(location, now), sort_keys=True, separators=(",", ":"))
    return short_hash(canonical)


def discovery_pod_name(location: CodeLocation, now: datetime) -> str:
    """``<location name, cut to 44>-discovery-<8 hex>``: at most 63 characters, so the name also fits
    a label value and the Pod's hostname. A new hash (new image, refresh...) is a new Pod."""
    name = location.metadata.name or ""
    head = name[: MAX_LABEL_VALUE_LENGTH - len(_DISCOVERY_INFIX) - _HASH_LENGTH].rstrip("-.")
    return f"{head}{_DISCOVERY_INFIX}{discovery_hash(location, now)}"


# --- Asset objects ------------------------------------------------------------------------------------


def asset_object_names(location_name: str, keys: Iterable[AssetKey]) -> dict[AssetKey, str]:
    """The Asset object name of each key of one code location.

    Plainly ``<location>.<parts joined with '.'>``, each part lower-cased with '_' -> '-'
    (``shop`` + ``raw/Orders_v2`` -> ``shop.raw.orders-v2``). A key gets
    ``-<8 hex of sha256(exact key string)>`` appended to its last part when a normalised part is not a
    DNS-1123 label (``_tmp`` -> ``-tmp``), when the name would exceed 253 characters, or when two keys
    normalise to the same name (``Orders`` and ``orders``: both get the suffix). To stay valid such a
    name also has leading/trailing '-' trimmed from each part, its last part cut to 54 characters and
    the whole cut to 253. Names are unique within the location (should two hashed names still be equal,
    those keys get a longer hash); the exact key is always in ``spec.key``.
    """
    keys = list(dict.fromkeys(keys))
    plain = {key: _plain_name(location_name, key) for key in keys}
    users: defaultdict[str, int] = defaultdict(int)
    for name in plain.values():
        if name is not None:
            users[name] += 1
    names: dict[AssetKey, str] = {}
    for key, name in plain.items():
        names[key] = name if name is not None and users[name] == 1 else _hashed_name(location_name, key)
    # A plain name may equal another key's hashed name only by a sha256 prefix collision; resolve any
    # remaining duplicate with longer hashes rather than hand out one name twice.
    length = _HASH_LENGTH
    while len(set(names.values())) < len(names) and length < 64:
        length *= 2
        seen: defaultdict[str, list[AssetKey]] = defaultdict(list)
        for key, name in names.items():
            seen[name].append(key)
        for group in seen.values():
            if len(group) > 1:
                for key in group:
                    names[key] = _hashed_name(location_name, key, length)
    return names


def _normalise(part: str) -> str:
    return part.lower().replace("_", "-")


def _plain_name(location_name: str, key: AssetKey) -> str | None:
    parts = [_normalise(part) for part in key.path]
    if not all(_DNS_LABEL_RE.match(part) for part in parts):
        return None
    name = ".".join([location_name, *parts])
    return name if len(name) <= MAX_OBJECT_NAME_LENGTH else None


def _hashed_name(location_name: str, key: AssetKey, length: int = _HASH_LENGTH) -> str:
    digest = short_hash(key.to_user_string(), length)
    parts = [_normalise(part).strip("-") for part in key.path]
    last = parts[-1][: MAX_LABEL_VALUE_LENGTH - length - 1].rstrip("-")
    tail = f"{last}-{digest}" if last else digest
    head = ".".join([location_name, *(part for part in parts[:-1] if part)])
    budget = MAX_OBJECT_NAME_LENGTH - len(tail) - 1
    if len(head) > budget:
        # Each part starts with a letter or digit, so cutting and trimming '-'/'.' keeps every part valid.
        head = head[:budget].rstrip("-.")
    return f"{head}.{tail}"
