"""The API models: they read what the API server stores, write it back unchanged, and agree with the CRDs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml
from pydantic import ValidationError

from kubeasset.api import (
    AssetJobSpec,
    AssetRun,
    AssetRunSpec,
    AssetSchedule,
    CodeLocation,
    ConditionStatus,
    RunAssetStatus,
    RunSummary,
    RunTrigger,
    find_condition,
    load_manifests,
    parse_manifest,
    parse_resource,
    set_condition,
)
from kubeasset.api import types as api_types
from kubeasset.api.assetrun import AssetRunState
from kubeasset.errors import InvalidAssetKeyError, InvalidManifestError
from kubeasset.graph import AssetKey
from tests.unit.api.schema_tools import (
    all_kinds,
    apply_defaults,
    cel_violations,
    crd_schema,
    openapi_errors,
    walk,
)

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2025, 3, 2, 5, 0, tzinfo=UTC)


def _fixture(kind: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((FIXTURES / f"{kind.lower()}.yaml").read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("kind", all_kinds())
def test_a_stored_object_round_trips_unchanged(kind: str) -> None:
    stored = _fixture(kind)
    resource = parse_resource(stored)
    assert resource.kind == kind
    assert resource.status is not None
    assert resource.to_json() == stored


@pytest.mark.parametrize("kind", all_kinds())
def test_fixtures_are_what_the_api_server_would_store(kind: str) -> None:
    # Defaults already applied, valid against the schema and its CEL rules: the round trip above then
    # proves the models read real objects, not objects only the models would write.
    stored = _fixture(kind)
    schema = crd_schema(kind)
    assert apply_defaults(schema, stored) == stored
    assert openapi_errors(schema, stored) == []
    assert cel_violations(schema, stored) == []


def test_typed_fields_read_as_python_values() -> None:
    run = AssetRun.model_validate(_fixture("AssetRun"))
    assert run.status is not None and run.status.assets is not None
    assert run.spec.trigger.scheduled_time == datetime(2025, 3, 2, 5, 0, tzinfo=UTC)
    assert run.status.assets[3].state is AssetRunState.FAILED
    assert run.status.assets[0].metadata is not None
    assert run.status.assets[0].metadata["dagster/row_count"].value == 40
    location = CodeLocation.model_validate(_fixture("CodeLocation"))
    assert location.spec.pod is not None and location.spec.pod.volumes is not None
    # Fields kubeasset does not type are kept, so the Pod gets the volume source as written.
    assert location.spec.pod.volumes[0].model_extra == {"persistentVolumeClaim": {"claimName": "shop-assets"}}


def test_strict_parsing_names_unknown_fields_and_tolerant_parsing_ignores_them() -> None:
    manifest = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetJob",
        "metadata": {"name": "sales-job"},
        "spec": {"codeLocation": "shop", "selction": "group:sales", "selection": "group:sales"},
    }
    expected = r"AssetJob sales-job is invalid:\n  spec: unknown field\(s\) selction"
    with pytest.raises(InvalidManifestError, match=expected):
        parse_manifest(manifest)
    assert parse_resource(manifest).to_json()["spec"]["selection"] == "group:sales"


def test_manifest_errors_point_at_camel_case_paths() -> None:
    manifest = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetSchedule",
        "metadata": {"name": "nightly"},
        "spec": {"job": "sales-job", "cron": ["0 6 * * *"], "catchUpLimit": 101, "concurrencyPolicy": "Sometimes"},
    }
    with pytest.raises(InvalidManifestError) as raised:
        parse_manifest(manifest)
    message = str(raised.value)
    assert "spec.catchUpLimit:" in message
    assert "spec.concurrencyPolicy:" in message


def test_cron_is_one_string_or_a_list_and_the_api_server_keeps_either() -> None:
    """The CRD leaves cron untyped (a structural schema cannot say "string or list"); the model keeps what
    was written and the controller checks it (tests/unit/reconcile/test_schedule_plan.py)."""
    for cron in ("0 6 * * *", ["0 6 * * *", "@hourly"]):
        spec = {"job": "j", "cron": cron}
        resource = parse_manifest(
            {"apiVersion": "kubeasset.dev/v1alpha1", "kind": "AssetSchedule", "metadata": {"name": "n"}, "spec": spec}
        )
        assert resource.to_json()["spec"]["cron"] == cron
        assert openapi_errors(crd_schema("AssetSchedule")["properties"]["spec"], spec) == []


def test_wrong_api_version_kind_and_long_names_are_explained() -> None:
    base = {"metadata": {"name": "x"}, "spec": {"job": "j", "cron": ["@daily"]}}
    with pytest.raises(InvalidManifestError, match="use apiVersion: kubeasset.dev/v1alpha1"):
        parse_manifest({"apiVersion": "kubeasset.dev/v1", "kind": "AssetSchedule", **base})
    with pytest.raises(InvalidManifestError, match="unknown kind 'Schedule'"):
        parse_manifest({"apiVersion": "kubeasset.dev/v1alpha1", "kind": "Schedule", **base})
    long_name = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetSchedule",
        **base,
        "metadata": {"name": "n" * 53},
    }
    with pytest.raises(InvalidManifestError, match="at most 52"):
        parse_manifest(long_name)
    assert isinstance(parse_manifest({**long_name, "metadata": {"name": "n" * 52}}), AssetSchedule)


def test_load_manifests_reads_every_document_and_rejects_non_mappings() -> None:
    text = (
        "apiVersion: kubeasset.dev/v1alpha1\nkind: AssetRun\nmetadata: {name: a}\nspec: {job: j}\n---\n"
        "---\napiVersion: kubeasset.dev/v1alpha1\nkind: AssetRun\nmetadata: {name: b}\nspec: {job: j}\n"
    )
    assert [resource.metadata.name for resource in load_manifests(text)] == ["a", "b"]
    with pytest.raises(InvalidManifestError, match="must be a mapping"):
        load_manifests("- a\n- b\n")
    with pytest.raises(InvalidManifestError, match="not valid YAML"):
        load_manifests("a: [b\n")


@pytest.mark.parametrize("kind", all_kinds())
def test_model_defaults_equal_crd_defaults(kind: str) -> None:
    # A minimal object: the model's dump must hold exactly the defaults the API server would add.
    minimal = {
        "CodeLocation": {"image": "i", "module": "m"},
        "Asset": {"key": "a", "codeLocation": "c"},
        "AssetJob": {"codeLocation": "c", "selection": "*"},
        "AssetSchedule": {"job": "j", "cron": ["@daily"]},
        "AssetSensor": {"job": "j", "selection": "key:a"},
        "AssetRun": {"job": "j"},
    }[kind]
    obj = {"apiVersion": "kubeasset.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"}, "spec": minimal}
    schema = crd_schema(kind)
    assert parse_manifest(obj).to_json()["spec"] == apply_defaults(schema, obj)["spec"]


# --- AssetRun forms: the model and the CEL rules agree ------------------------------------------------

RUN_SPECS = [
    ({"job": "sales-job"}, True),
    ({"job": "sales-job", "selection": "key:daily_revenue"}, True),
    ({"codeLocation": "shop", "selection": "group:sales"}, True),
    ({"job": "sales-job", "codeLocation": "shop", "selection": "*"}, False),
    ({"codeLocation": "shop"}, False),
    ({"selection": "*"}, False),
    ({}, False),
]


@pytest.mark.parametrize(("spec", "valid"), RUN_SPECS)
def test_run_form_is_checked_identically_by_model_and_schema(spec: dict[str, Any], valid: bool) -> None:
    schema = crd_schema("AssetRun")["properties"]["spec"]
    assert (cel_violations(schema, apply_defaults(schema, spec)) == []) is valid
    if valid:
        AssetRunSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError, match="exactly one of job|needs a selection"):
            AssetRunSpec.model_validate(spec)



JOB_SPECS = [
    ({"codeLocation": "shop", "selection": "group:sales"}, True),
    ({"codeLocation": "shop", "codeJob": "sales_job"}, True),
    ({"codeLocation": "shop", "selection": "*", "codeJob": "sales_job"}, False),
    ({"codeLocation": "shop"}, False),
]


@pytest.mark.parametrize(("spec", "valid"), JOB_SPECS)
def test_job_takes_a_selection_or_a_job_defined_in_code(spec: dict[str, Any], valid: bool) -> None:
    schema = crd_schema("AssetJob")["properties"]["spec"]
    assert (cel_violations(schema, apply_defaults(schema, spec)) == []) is valid
    if valid:
        AssetJobSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError, match="exactly one of selection .* or codeJob"):
            AssetJobSpec.model_validate(spec)


TRIGGERS = [
    ({"type": "Manual"}, True),
    ({"type": "Schedule", "schedule": "nightly", "scheduledTime": "2025-03-02T05:00:00Z"}, True),
    ({"type": "Schedule", "schedule": "nightly"}, False),
    ({"type": "Manual", "scheduledTime": "2025-03-02T05:00:00Z"}, False),
    ({"type": "Sensor", "sensor": "on-sales"}, True),
    ({"type": "Sensor"}, False),
    ({"type": "Manual", "sensor": "on-sales"}, False),
    ({"type": "Retry", "retryOf": "sales-job-x7k2p"}, True),
    ({"type": "Retry"}, False),
    ({"type": "Sensor", "sensor": "on-sales", "retryOf": "r"}, False),
]


@pytest.mark.parametrize(("trigger", "valid"), TRIGGERS)
def test_trigger_cause_is_checked_identically_by_model_and_schema(
    trigger: dict[str, Any], valid: bool
) -> None:
    schema = crd_schema("AssetRun")["properties"]["spec"]["properties"]["trigger"]
    assert (cel_violations(schema, trigger) == []) is valid
    if valid:
        RunTrigger.model_validate(trigger)
    else:
        with pytest.raises(ValidationError, match="set exactly when type is"):
            RunTrigger.model_validate(trigger)


def test_run_defaults_to_a_manual_uncanceled_run() -> None:
    spec = AssetRunSpec(job="sales-job")
    assert spec.to_json() == {"job": "sales-job", "cancel": False, "trigger": {"type": "Manual"}}
    # A default instance is not shared between objects.
    spec.trigger.type = "Retry"  # type: ignore[assignment]
    assert AssetRunSpec(job="other").trigger.type == "Manual"


# --- times, conditions, summaries -------------------------------------------------------------------


def test_times_are_written_in_utc_with_z_and_naive_times_are_refused() -> None:
    berlin = timezone(timedelta(hours=1))
    entry = RunAssetStatus(key="a", start_time=datetime(2025, 3, 2, 6, 0, tzinfo=berlin))
    assert entry.to_json()["startTime"] == "2025-03-02T05:00:00Z"
    with pytest.raises(ValidationError, match="timezone"):
        RunAssetStatus(key="a", start_time=datetime(2025, 3, 2, 6, 0))


def test_set_condition_moves_the_transition_time_only_when_the_status_changes() -> None:
    conditions = set_condition([], "Ready", "False", reason="ImportFailed", message="no module shop", now=NOW)
    later = NOW + timedelta(minutes=5)
    same = set_condition(
        conditions, "Ready", "False", reason="ImportFailed", message="still failing", now=later
    )
    assert same[0].last_transition_time == NOW and same[0].message == "still failing"
    flipped = set_condition(same, "Ready", ConditionStatus.TRUE, reason="Discovered", message="ok", now=later)
    assert flipped[0].last_transition_time == later
    both = set_condition(flipped, "Stalled", "False", reason="Fine", message="", now=later)
    assert [condition.type for condition in both] == ["Ready", "Stalled"]
    found = find_condition(both, "Ready")
    assert found is not None and found.status is ConditionStatus.TRUE
    assert find_condition(both, "Succeeded") is None


def test_condition_reasons_must_be_camel_case() -> None:
    with pytest.raises(ValidationError, match="reason"):
        set_condition([], "Ready", "False", reason="import failed", message="", now=NOW)


def test_run_summary_counts_states_and_renders_progress() -> None:
    assets = [
        RunAssetStatus(key=key, state=state)
        for key, state in [
            ("a", "Materialized"),
            ("b", "Materialized"),
            ("c", "Failed"),
            ("d", "Skipped"),
            ("e", "Running"),
        ]
    ]
    summary = RunSummary.of(assets)
    assert (summary.total, summary.materialized, summary.failed, summary.skipped, summary.canceled) == (
        5,
        2,
        1,
        1,
        0,
    )
    assert summary.progress == "2/5"


# --- patterns ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "orders",
        "raw/orders",
        "_private",
        "a-b/c_d",
        "x" * 63,
        "/".join(["p"] * 8),
        "-bad",
        "a//b",
        "a/",
        "x" * 64,
        "/".join(["p"] * 9),
        "with space",
        "dots.not.allowed",
        "é",
    ],
)
def test_asset_key_pattern_accepts_exactly_the_keys_the_graph_accepts(text: str) -> None:
    try:
        AssetKey.from_user_string(text)
        graph_ok = True
    except InvalidAssetKeyError:
        graph_ok = False
    assert (re.fullmatch(api_types.ASSET_KEY_PATTERN, text) is not None) is graph_ok
    assert len(text) <= api_types.MAX_ASSET_KEY_LENGTH or not graph_ok


def test_every_schema_pattern_is_valid_re2() -> None:
    # The API server (Go regexp) and CEL's matches() use RE2, which lacks look-arounds and backreferences.
    for kind in all_kinds():
        for _path, node in walk(crd_schema(kind)):
            if "pattern" in node:
                re2.compile(node["pattern"])
            for rule in node.get("x-kubernetes-validations", []):
                for pattern in re.findall(r"matches\(r'([^']*)'\)", rule["rule"]):
                    re2.compile(pattern)
