"""The generated CRDs (crds/) on a real API server: accepted and Established, listed under the `kubeasset`
category, printer columns shown by kubectl, the example manifests accepted, invalid objects rejected with
the offending field's path (OpenAPI patterns, enums, ranges and CEL rules, transition rules included), and
the status subresource separated from the main resource."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.conftest import CRD_DIR, REPOSITORY, Kubectl, crd_documents

GROUP = "kubeasset.dev"
VERSION = "v1alpha1"
EXAMPLES = REPOSITORY / "examples" / "manifests"
#: No example manifest holds an Asset (the controller creates them from discovery), so the unit tests'
#: catalog entry stands in for one, as the controller would write it.
ASSET_FIXTURE = REPOSITORY / "tests" / "unit" / "api" / "fixtures" / "asset.yaml"

CRDS = {document["spec"]["names"]["kind"]: document for document in crd_documents()}
KINDS = sorted(CRDS)


def _plural(kind: str) -> str:
    return str(CRDS[kind]["spec"]["names"]["plural"])


def _bare(document: dict[str, Any]) -> dict[str, Any]:
    """A manifest as a user would apply it: no namespace, status or server-owned metadata."""
    metadata = {key: value for key, value in document["metadata"].items() if key in ("name", "labels", "annotations")}
    return {
        "apiVersion": document["apiVersion"],
        "kind": document["kind"],
        "metadata": metadata,
        "spec": document["spec"],
    }


def _examples() -> list[dict[str, Any]]:
    documents = [
        document
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document and str(document.get("apiVersion", "")).startswith(f"{GROUP}/")
    ]
    documents.append(yaml.safe_load(ASSET_FIXTURE.read_text(encoding="utf-8")))
    return [_bare(document) for document in documents]


EXAMPLE_OBJECTS = _examples()
#: The first example of each kind, the base of the invalid variants below.
EXAMPLE = {kind: next(obj for obj in EXAMPLE_OBJECTS if obj["kind"] == kind) for kind in KINDS}


def test_every_kind_has_an_example() -> None:
    assert sorted(EXAMPLE) == KINDS == sorted(CRDS)


def _custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def _create(api_client: client.ApiClient, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = _custom(api_client).create_namespaced_custom_object(
        GROUP, VERSION, namespace, _plural(obj["kind"]), obj
    )
    return created


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in (JSON merge patch semantics: None removes a key)."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _with_defaults_of(stored: Any, sent: Any) -> Any:
    """``sent`` plus the fields only ``stored`` has (the defaults the server filled in), recursively."""
    if isinstance(stored, dict) and isinstance(sent, dict):
        return {**stored, **{key: _with_defaults_of(stored.get(key), value) for key, value in sent.items()}}
    return sent


def _rejection(error: ApiException) -> tuple[str, list[str]]:
    body = json.loads(error.body)
    return body["message"], [cause.get("field", "") for cause in body.get("details", {}).get("causes", [])]


# --- the CRDs themselves -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CRD_DIR.glob("*.yaml")), ids=lambda path: path.name)
def test_crd_is_accepted_and_established(
    path: Path, crds: list[dict[str, Any]], kubectl: Kubectl, api_client: client.ApiClient
) -> None:
    # A server-side dry run validates the whole definition again, CEL compilation and cost budget included.
    dry_run = kubectl("apply", "--dry-run=server", "-f", str(path))
    assert f"customresourcedefinition.apiextensions.k8s.io/{path.stem.split('_')[1]}.kubeasset.dev" in dry_run.stdout
    assert "(server dry run)" in dry_run.stdout
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    stored = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(document["metadata"]["name"])
    conditions = {condition.type: condition.status for condition in stored.status.conditions}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert conditions.get("NonStructuralSchema") is None  # a structural schema: pruning and defaulting work
    assert stored.status.accepted_names.categories == ["kubeasset"]


def test_kubeasset_category_lists_every_kind(
    crds: list[dict[str, Any]], kubectl: Kubectl, api_client: client.ApiClient, namespace: str
) -> None:
    for kind in KINDS:
        _create(api_client, namespace, EXAMPLE[kind])

    listed = kubectl("get", "kubeasset", "-n", namespace, "-o", "name").stdout.split()

    assert sorted(listed) == sorted(
        f"{kind.lower()}.{GROUP}/{EXAMPLE[kind]['metadata']['name']}" for kind in KINDS
    )


def _columns(kind: str, wide: bool) -> list[dict[str, Any]]:
    columns = CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    return [column for column in columns if wide or not column.get("priority")]


def _table(output: str) -> list[dict[str, str]]:
    """Parse kubectl's table output; cells are cut at the header's column starts (empty cells are blank)."""
    header, *rows = output.rstrip("\n").splitlines()
    starts = [match.start() for match in re.finditer(r"(?:^|(?<=\s\s))\S+(?: \S+)*", header)]
    names = [header[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {name: row[start:end].strip() for name, start, end in zip(names, starts, [*starts[1:], None], strict=True)}
        for row in rows
    ]


def _simple_spec_value(obj: dict[str, Any], json_path: str) -> str | None:
    """The example's value at ``.spec.a.b`` as kubectl prints a scalar, or None for other columns."""
    if not re.fullmatch(r"\.spec(\.\w+)+", json_path):
        return None
    value: Any = obj
    for part in json_path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, str | int) else None


def _ready(reason: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": "",
        "lastTransitionTime": "2030-01-01T00:00:00Z",
    }


#: A status per kind as the controller would write it, and the cells (by header, as regular expressions)
#: it must fill; cells of wide-only columns are checked with -o wide only. Date columns show an age.
STATUS_CELLS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "Asset": (
        {"state": "Materialized", "lastMaterialization": {"runName": "sales-1", "time": "2025-01-01T00:00:00Z"}},
        {"STATE": "Materialized", "LAST MATERIALIZED": r"\d+[dy]\S*", "RUN": "sales-1"},
    ),
    "AssetJob": (
        {"assetCount": 3, "conditions": [_ready("Resolved")], "lastRun": {"name": "sales-job-1", "phase": "Running"}},
        {"ASSETS": "3", "READY": "True", "REASON": "Resolved", "LAST RUN": "sales-job-1", "LAST PHASE": "Running"},
    ),
    "AssetRun": (
        {"phase": "Running", "progress": "2/5", "summary": {"failed": 1}},
        {"PHASE": "Running", "DONE": "2/5", "FAILED": "1"},
    ),
    "AssetSchedule": (
        {"nextScheduleTime": "2030-01-01T06:00:00Z", "conditions": [_ready("Scheduled")]},
        {"NEXT": "2030-01-01T06:00:00Z", "READY": "True"},
    ),
    "AssetSensor": (
        {"conditions": [_ready("Watching")], "lastTrigger": {"time": "2025-01-01T00:00:00Z", "runName": "m-1"}},
        {"READY": "True", "LAST RUN": "m-1", "LAST": r"\d+[dy]\S*"},
    ),
    "CodeLocation": (
        {"assets": {"count": 4}, "conditions": [_ready("Discovered")]},
        {"ASSETS": "4", "READY": "True", "REASON": "Discovered"},
    ),
}


@pytest.mark.parametrize("wide", [False, True], ids=["default", "wide"])
@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns_show_headers_and_values(
    kind: str, wide: bool, crds: list[dict[str, Any]], kubectl: Kubectl, api_client: client.ApiClient, namespace: str
) -> None:
    example = EXAMPLE[kind]
    _create(api_client, namespace, example)
    status, status_cells = STATUS_CELLS[kind]
    _custom(api_client).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, _plural(kind), example["metadata"]["name"], {"status": status}
    )

    output = kubectl("get", _plural(kind), "-n", namespace, *(["-o", "wide"] if wide else [])).stdout

    columns = _columns(kind, wide)
    rows = _table(output)
    assert list(rows[0]) == ["NAME", *(column["name"].upper() for column in columns)], output
    assert rows[0]["NAME"] == example["metadata"]["name"]
    checked = 0
    for column in columns:
        expected = _simple_spec_value(example, column["jsonPath"])
        if expected is not None:
            assert rows[0][column["name"].upper()] == expected, (column, output)
            checked += 1
    assert checked >= 1  # every kind shows at least one spec field in its columns
    shown = {header: cell for header, cell in status_cells.items() if header in rows[0]}
    assert shown, output  # and at least one status field
    for header, pattern in shown.items():
        assert re.fullmatch(pattern, rows[0][header]), (header, output)
    assert re.fullmatch(r"\d+s", rows[0]["AGE"])


# --- objects --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example", EXAMPLE_OBJECTS, ids=[f"{obj['kind']}/{obj['metadata']['name']}" for obj in EXAMPLE_OBJECTS]
)
def test_example_object_is_accepted(
    example: dict[str, Any], crds: list[dict[str, Any]], api_client: client.ApiClient, namespace: str
) -> None:
    created = _create(api_client, namespace, example)
    # Nothing pruned (every field of the example is in the schema); defaults may have been added.
    assert _with_defaults_of(created["spec"], example["spec"]) == created["spec"]


@dataclass(frozen=True)
class Invalid:
    """An example object with ``spec_patch`` merged into its spec, which the API server must refuse."""

    id: str
    kind: str
    spec_patch: dict[str, Any]
    field: str  # the field path the error names
    says: str  # a piece of the message
    metadata_patch: dict[str, Any] = field(default_factory=dict)


INVALID = [
    # names and patterns
    Invalid("codelocation-bad-object-name", "CodeLocation", {}, "metadata.name", "RFC 1123", {"name": "Shop_1"}),
    Invalid("assetschedule-name-too-long", "AssetSchedule", {}, "metadata.name", "52", {"name": "s" * 53}),
    Invalid("codelocation-module-not-python", "CodeLocation", {"module": "shop-code"}, "spec.module", "should match"),
    Invalid("codelocation-relative-workdir", "CodeLocation", {"workingDirectory": "src"}, "spec.workingDirectory",
            "should match"),
    Invalid("assetjob-location-not-a-name", "AssetJob", {"codeLocation": "Shop_Location"}, "spec.codeLocation",
            "should match"),
    Invalid("assetschedule-job-not-a-name", "AssetSchedule", {"job": "sales job"}, "spec.job", "should match"),
    Invalid("asset-key-with-space", "Asset", {"key": "raw orders"}, "spec.key", "should match"),
    Invalid("asset-owner-not-email-or-team", "Asset", {"owners": ["nobody"]}, "spec.owners[0]", "should match"),
    Invalid("asset-group-with-dash", "Asset", {"group": "sales-team"}, "spec.group", "should match"),
    # enums
    Invalid("codelocation-unknown-pull-policy", "CodeLocation", {"pod": {"imagePullPolicy": "Sometimes"}},
            "spec.pod.imagePullPolicy", 'Unsupported value: "Sometimes"'),
    Invalid("assetjob-unknown-retry-strategy", "AssetJob", {"retry": {"strategy": "Everything"}},
            "spec.retry.strategy", 'Unsupported value: "Everything"'),
    Invalid("assetschedule-unknown-concurrency", "AssetSchedule", {"concurrencyPolicy": "Never"},
            "spec.concurrencyPolicy", 'Unsupported value: "Never"'),
    Invalid("assetsensor-unknown-trigger", "AssetSensor", {"trigger": "some"}, "spec.trigger",
            'Unsupported value: "some"'),
    Invalid("assetrun-unknown-trigger-type", "AssetRun", {"trigger": {"type": "Cron"}}, "spec.trigger.type",
            'Unsupported value: "Cron"'),
    # ranges and sizes
    Invalid("codelocation-refresh-under-a-minute", "CodeLocation", {"refresh": {"intervalSeconds": 30}},
            "spec.refresh.intervalSeconds", "greater than or equal to 60"),
    Invalid("assetjob-too-many-retries", "AssetJob", {"retry": {"maxRetries": 11}}, "spec.retry.maxRetries",
            "less than or equal to 10"),
    Invalid("assetjob-zero-concurrent-runs", "AssetJob", {"maxConcurrentRuns": 0}, "spec.maxConcurrentRuns",
            "greater than or equal to 1"),
    Invalid("assetschedule-catch-up-over-100", "AssetSchedule", {"catchUpLimit": 101}, "spec.catchUpLimit",
            "less than or equal to 100"),
    Invalid("assetsensor-interval-over-a-day", "AssetSensor", {"minimumIntervalSeconds": 86401},
            "spec.minimumIntervalSeconds", "less than or equal to 86400"),
    # CEL rules
    Invalid("assetjob-tag-key-with-space", "AssetJob", {"tags": {"has space": "v"}}, "spec.tags",
            "every key must have 1-317 characters"),
    Invalid("assetrun-job-and-location", "AssetRun", {"codeLocation": "shop", "selection": "*"}, "spec",
            "set exactly one of job"),
    Invalid("assetrun-adhoc-without-selection", "AssetRun", {"job": None, "codeLocation": "shop"},
            "spec.selection", "needs a selection"),
    Invalid("assetrun-sensor-trigger-without-sensor", "AssetRun", {"trigger": {"type": "Sensor"}}, "spec.trigger",
            "sensor is set exactly when type is Sensor"),
    Invalid("asset-depends-on-itself", "Asset", {"deps": ["raw/orders", "cleaned_orders"]}, "spec.deps",
            "cannot depend on itself"),
]


def _assert_rejected(error: ApiException, field_path: str, says: str) -> None:
    message, fields = _rejection(error)
    assert error.status == 422, message
    assert f"{field_path}: " in message, message
    assert says in message, message
    assert field_path in fields, fields


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_object_is_rejected_naming_the_field(
    case: Invalid, crds: list[dict[str, Any]], api_client: client.ApiClient, namespace: str
) -> None:
    obj = _merged(EXAMPLE[case.kind], {"spec": case.spec_patch, "metadata": case.metadata_patch})
    with pytest.raises(ApiException) as rejected:
        _create(api_client, namespace, obj)
    _assert_rejected(rejected.value, case.field, case.says)


@dataclass(frozen=True)
class Transition:
    """An AssetRun created with ``before`` merged into the example spec, then patched with ``patch``."""

    id: str
    before: dict[str, Any]
    patch: dict[str, Any]
    field: str
    says: str


TRANSITIONS = [
    Transition("cancel-true-to-false", {"cancel": True}, {"cancel": False}, "spec.cancel", "cancel cannot be undone"),
    Transition("cancel-removed", {"cancel": True}, {"cancel": None}, "spec.cancel", "cancel cannot be undone"),
    Transition("job-changed", {}, {"job": "marketing-job"}, "spec.job", "job is immutable"),
    Transition("selection-added", {}, {"selection": "key:x"}, "spec", "cannot be added or removed after creation"),
    Transition("trigger-changed", {}, {"trigger": {"type": "Sensor", "sensor": "s"}}, "spec.trigger",
               "trigger is immutable"),
]


def _patch(api_client: client.ApiClient, namespace: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    patched: dict[str, Any] = _custom(api_client).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, _plural(kind), name, body
    )
    return patched


@pytest.mark.parametrize("case", TRANSITIONS, ids=[case.id for case in TRANSITIONS])
def test_assetrun_transition_rule_rejects_the_update(
    case: Transition, crds: list[dict[str, Any]], api_client: client.ApiClient, namespace: str
) -> None:
    run = _merged(EXAMPLE["AssetRun"], {"spec": case.before})
    _create(api_client, namespace, run)
    with pytest.raises(ApiException) as rejected:
        _patch(api_client, namespace, "AssetRun", run["metadata"]["name"], {"spec": case.patch})
    _assert_rejected(rejected.value, case.field, case.says)


def test_assetrun_allowed_updates_pass_the_transition_rules(
    crds: list[dict[str, Any]], api_client: client.ApiClient, namespace: str
) -> None:
    run = EXAMPLE["AssetRun"]
    _create(api_client, namespace, run)
    name = run["metadata"]["name"]
    canceled = _patch(api_client, namespace, "AssetRun", name, {"spec": {"cancel": True, "tags": {"why": "test"}}})
    assert canceled["spec"]["cancel"] is True
    assert canceled["spec"]["tags"] == {"requested-by": "example", "why": "test"}
    assert _patch(api_client, namespace, "AssetRun", name, {"spec": {"cancel": True}})["spec"]["cancel"] is True


#: A spec change each kind allows, to show which endpoint honours it.
SPEC_CHANGES = {
    "Asset": {"description": "changed by the test"},
    "AssetJob": {"selection": "group:other"},
    "AssetRun": {"tags": {"changed": "yes"}},
    "AssetSchedule": {"timezone": "UTC"},
    "AssetSensor": {"minimumIntervalSeconds": 120},
    "CodeLocation": {"image": "kubeasset-example:v2"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_status_subresource_and_main_resource_each_ignore_the_other_half(
    kind: str, crds: list[dict[str, Any]], api_client: client.ApiClient, namespace: str
) -> None:
    assert sorted(SPEC_CHANGES) == KINDS
    example = EXAMPLE[kind]
    name = example["metadata"]["name"]
    custom = _custom(api_client)
    created = _create(api_client, namespace, {**example, "status": {"observedGeneration": 3}})
    assert "status" not in created or created["status"].get("observedGeneration") is None  # create ignores status

    both_halves = {"spec": SPEC_CHANGES[kind], "status": {"observedGeneration": 5}}
    via_status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, _plural(kind), name, both_halves
    )
    assert via_status["status"]["observedGeneration"] == 5
    assert via_status["spec"] == created["spec"]  # the status endpoint ignored the spec change
    assert via_status["metadata"]["generation"] == created["metadata"]["generation"]

    via_main = _patch(
        api_client, namespace, kind, name, {"spec": SPEC_CHANGES[kind], "status": {"observedGeneration": 9}}
    )
    assert via_main["status"]["observedGeneration"] == 5  # the main resource ignored the status change
    assert _merged(created["spec"], SPEC_CHANGES[kind]) == via_main["spec"]
    assert via_main["metadata"]["generation"] == created["metadata"]["generation"] + 1
