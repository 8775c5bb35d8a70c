"""Bad resources, one table row each: manifests a person may apply (wrong types, huge strings, unknown fields,
asset keys with path characters, NUL or non-ASCII) against the two gates they meet, parse_manifest (the CLI
and ``kubeasset dev``) and the generated CRD schema (what the API server checks: OpenAPI and CEL rules);
then what the schema lets through (selection syntax, cron syntax, time zones) against the planners, which
must answer with a Ready=False / Failed condition whose message says what to fix, bounded in size, and
never raise.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeasset.api import AssetJob, AssetRun, AssetSchedule
from kubeasset.api.conditions import READY, SUCCEEDED, find_condition
from kubeasset.api.registry import load_manifests, parse_manifest, parse_resource
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import MAX_CONDITION_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH, MAX_SELECTION_LENGTH
from kubeasset.errors import InvalidManifestError, SelectionError
from kubeasset.reconcile.asset_job import INVALID_SELECTION, plan_asset_job
from kubeasset.reconcile.asset_run import plan_asset_run
from kubeasset.reconcile.schedule import ScheduleObservation, plan_schedule
from kubeasset.selection import resolve_selection
from tests.unit.api.schema_tools import apply_defaults, cel_violations, crd_schema, openapi_errors
from tests.unit.reconcile import asset_run_builders as runs
from tests.unit.reconcile.location_builders import shop_graph

FIXTURES = Path(__file__).resolve().parents[1] / "api" / "fixtures"
NOW = datetime(2027, 3, 2, 5, 0, tzinfo=UTC)
TEN_KB = 10 * 1024


def manifest(kind: str) -> dict[str, Any]:
    """The valid example of ``kind`` (tests/unit/api/fixtures) as a person would write it: no status."""
    document: dict[str, Any] = yaml.safe_load((FIXTURES / f"{kind.lower()}.yaml").read_text())
    document.pop("status", None)
    document["metadata"] = {"name": document["metadata"]["name"], "namespace": "analytics"}
    return document


def changed(kind: str, path: str, value: Any) -> dict[str, Any]:
    """The example of ``kind`` with the field at the dotted ``path`` set to ``value`` (DELETE removes it)."""
    document = copy.deepcopy(manifest(kind))
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return document


DELETE = object()


def schema_problems(document: dict[str, Any]) -> list[str]:
    """What the API server says of ``document``: OpenAPI errors, else broken CEL rules (the test's CEL
    evaluator cannot take values of the wrong type or beyond int64, which OpenAPI refuses first)."""
    schema = crd_schema(document["kind"])
    defaulted = apply_defaults(schema, document)
    return openapi_errors(schema, defaulted) or cel_violations(schema, defaulted)


# (kind, field, bad value, what parse_manifest's message says, whether the API server's schema refuses it:
# False for unknown fields, which the API server drops with a warning (or refuses with --validate=strict).
MANIFEST_ROWS: dict[str, tuple[str, str, Any, str | None, bool]] = {
    "run: job a number": ("AssetRun", "spec.job", 5, "spec.job", True),
    "run: job of 10 KB": ("AssetRun", "spec.job", "a" * TEN_KB, "spec.job", True),
    "run: job ../etc": ("AssetRun", "spec.job", "../etc", "spec.job", True),
    "run: cancel a string": ("AssetRun", "spec.cancel", "yes please", "spec.cancel", True),
    "run: tags a list": ("AssetRun", "spec.tags", ["a", "b"], "spec.tags", True),
    "run: tag value of 10 KB": ("AssetRun", "spec.tags", {"trigger": "x" * TEN_KB}, "spec.tags.trigger", True),
    "run: tag key with NUL": ("AssetRun", "spec.tags", {"a\x00b": "x"}, "spec.tags", True),
    "run: unknown field": ("AssetRun", "spec.jbo", "sales-job", "spec: unknown field(s) jbo", False),
    "run: unknown trigger field": ("AssetRun", "spec.trigger.when", "now", "trigger: unknown field(s) when", False),
    # The API server checks names itself (not through the CRD schema): parse_manifest says so first.
    "run: name of 300 characters": ("AssetRun", "metadata.name", "r" * 300, "metadata.name must be a DNS", False),
    "run: name with a slash": ("AssetRun", "metadata.name", "a/b", "metadata.name must be a DNS", False),
    "run: name ../etc": ("AssetRun", "metadata.name", "../etc", "metadata.name must be a DNS", False),
    "run: name with NUL": ("AssetRun", "metadata.name", "run\x00", "metadata.name must be a DNS", False),
    "run: selection of 10 KB": ("AssetRun", "spec.selection", "key:orders or " * 750, "spec.selection", True),
    "job: selection of 10 KB": ("AssetJob", "spec.selection", "k" * TEN_KB, "spec.selection", True),
    "job: selection empty": ("AssetJob", "spec.selection", "", "spec.selection", True),
    "job: selection a list": ("AssetJob", "spec.selection", ["a", "b"], "spec.selection", True),
    "job: maxConcurrentRuns negative": ("AssetJob", "spec.maxConcurrentRuns", -1, "spec.maxConcurrentRuns", True),
    "job: maxConcurrentRuns huge": ("AssetJob", "spec.maxConcurrentRuns", 10**30, "spec.maxConcurrentRuns", True),
    "job: codeLocation non-ASCII": ("AssetJob", "spec.codeLocation", "läden", "spec.codeLocation", True),
    "asset: key ../etc": ("Asset", "spec.key", "../etc", "spec.key", True),
    "asset: key /etc/passwd": ("Asset", "spec.key", "/etc/passwd", "spec.key", True),
    "asset: key a//b": ("Asset", "spec.key", "a//b", "spec.key", True),
    "asset: key with NUL": ("Asset", "spec.key", "orders\x00", "spec.key", True),
    "asset: key non-ASCII": ("Asset", "spec.key", "bestellungen/äpfel", "spec.key", True),
    "asset: key of 10 KB": ("Asset", "spec.key", "a" * TEN_KB, "spec.key", True),
    "asset: key a list": ("Asset", "spec.key", ["raw", "orders"], "spec.key", True),
    "asset: dep with path characters": ("Asset", "spec.deps", ["raw/../orders"], "spec.deps[0]", True),
    # Asset objects are the controller's: only the API server's CEL rule refuses this one.
    "asset: depends on itself": ("Asset", "spec.deps", ["cleaned_orders"], None, True),
    "schedule: time zone ../../etc/passwd": (
        "AssetSchedule",
        "spec.timezone",
        "../../etc/passwd",
        "spec.timezone",
        True,
    ),
    "schedule: catchUpLimit a string": ("AssetSchedule", "spec.catchUpLimit", "all", "spec.catchUpLimit", True),
    "schedule: concurrencyPolicy unknown": (
        "AssetSchedule",
        "spec.concurrencyPolicy",
        "Sometimes",
        "spec.concurrencyPolicy",
        True,
    ),
    "sensor: trigger unknown": ("AssetSensor", "spec.trigger", "most", "spec.trigger", True),
    "sensor: selection of 10 KB": ("AssetSensor", "spec.selection", "s" * TEN_KB, "spec.selection", True),
    "location: module with a shell command": ("CodeLocation", "spec.module", "shop; rm -rf /", "spec.module", True),
    "location: module ../shop": ("CodeLocation", "spec.module", "../shop", "spec.module", True),
    "location: image missing": ("CodeLocation", "spec.image", DELETE, "spec.image", True),
    "location: unknown pod field": ("CodeLocation", "spec.pod.privileged", True, "unknown field(s) privileged", False),
}


@pytest.mark.parametrize("row", MANIFEST_ROWS.values(), ids=MANIFEST_ROWS.keys())
def test_bad_manifests_are_refused_with_the_field_named(row: tuple[str, str, Any, str | None, bool]) -> None:
    kind, path, value, named, schema_refuses = row
    document = changed(kind, path, value)
    assert parse_manifest(manifest(kind)) is not None and schema_problems(manifest(kind)) == []

    assert bool(schema_problems(document)) == schema_refuses
    if named is None:
        parse_manifest(document)
        return
    with pytest.raises(InvalidManifestError) as raised:
        parse_manifest(document)
    message = str(raised.value)
    assert f"\n  {named}" in message or f"{named}:" in message or named in message
    assert len(message) < 4 * 1024, "the message must not echo a 10 KB value"


def test_yaml_that_is_not_a_manifest_is_refused_with_a_clear_message() -> None:
    for text, said in [
        ("kind: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "a manifest must be a mapping"),
        ("apiVersion: v1\nkind: Pod\n", "is not kubeasset's"),
        ("apiVersion: kubeasset.dev/v1alpha1\nkind: AssetRunner\n", "unknown kind 'AssetRunner'"),
        ("apiVersion: kubeasset.dev/v1alpha1\nkind: AssetRun\nmetadata: 5\nspec: {}\n", "metadata"),
    ]:
        with pytest.raises(InvalidManifestError, match=said):
            load_manifests(text)


# --- past the schema: the planners ---------------------------------------------------------------------

#: Selections of the largest size the schema allows, which only the selection language refuses.
LONGEST = MAX_SELECTION_LENGTH
BAD_SELECTIONS = {
    "syntax error at the end": ("key:orders or " * 300)[: LONGEST - 2] + "(",
    "one long unknown key": "x" * LONGEST,
    "hundreds of unknown keys": " ".join(f"unknown_{n}" for n in range(400))[:LONGEST].rsplit(" ", 1)[0],
    "unsupported filter with a long value": "status:" + "x" * (LONGEST - 7),
    "nested too deep": "(" * 1000 + "key:orders" + ")" * 1000,
    "NUL and non-ASCII": "key:orders\x00 or key:äpfel",
}


def _selection_error(text: str) -> str:
    with pytest.raises(SelectionError) as raised:
        resolve_selection(text, shop_graph())
    return str(raised.value)


@pytest.mark.parametrize("text", BAD_SELECTIONS.values(), ids=BAD_SELECTIONS.keys())
def test_a_bad_selection_fails_the_ad_hoc_run_with_a_short_message(text: str) -> None:
    # What the controller does: resolve the selection; a SelectionError becomes the observation's error.
    error = _selection_error(text)
    assert len(error) < 2 * 1024
    the_run = runs.run("adhoc-1", codeLocation="shop", selection=text)

    plan = plan_asset_run(the_run, runs.observe(job=None, selection_error=error), runs.NOW)

    assert plan.status.phase == RunPhase.FAILED
    assert plan.pod_to_create is None
    assert (plan.status.message or "").startswith("spec.selection is invalid: ")
    assert len(plan.status.message or "") <= MAX_MESSAGE_LENGTH
    condition = find_condition(plan.status.conditions, SUCCEEDED)
    assert condition is not None and condition.reason == "InvalidSelection"
    AssetRun.model_validate({**the_run.to_json(), "status": plan.status.to_json()})


@pytest.mark.parametrize("text", BAD_SELECTIONS.values(), ids=BAD_SELECTIONS.keys())
def test_a_bad_selection_makes_the_job_not_ready_with_a_short_message(text: str) -> None:
    job = AssetJob.model_validate(
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetJob",
            "metadata": {"name": "sales", "namespace": "data", "uid": "job-uid", "generation": 1},
            "spec": {"codeLocation": "shop", "selection": text},
        }
    )
    location = runs.location()

    plan = plan_asset_job(job, location, shop_graph(), None, NOW)

    ready = find_condition(plan.status.conditions, READY)
    assert ready is not None and (ready.status.value, ready.reason) == ("False", INVALID_SELECTION)
    assert "selection" in ready.message and len(ready.message) < 4 * 1024
    assert len(ready.message) <= MAX_CONDITION_MESSAGE_LENGTH
    assert all(len(item.message) <= 1024 for item in plan.events)


def test_a_selection_of_keys_with_path_characters_selects_nothing_and_says_so() -> None:
    text = "key:../etc or key:a//b or key:/etc/passwd"
    the_run = runs.run("adhoc-2", codeLocation="shop", selection=text)

    selected = [key.to_user_string() for key in resolve_selection(text, shop_graph())]

    plan = plan_asset_run(the_run, runs.observe(job=None, selected_keys=selected), runs.NOW)

    assert plan.status.phase == RunPhase.FAILED and plan.pod_to_create is None
    assert plan.status.message == f"spec.selection {text!r} matches no asset of code location 'shop'"


def test_the_longest_valid_selection_resolves() -> None:
    text = ("key:raw/orders or " * 300)[: LONGEST - 20].rsplit(" or ", 1)[0]
    assert len(text) > LONGEST - 40
    assert [key.to_user_string() for key in resolve_selection(text, shop_graph())] == ["raw/orders"]


def _schedule(**spec: Any) -> AssetSchedule:
    resource = parse_resource(
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetSchedule",
            "metadata": {"name": "hourly", "namespace": "shop", "uid": "u", "creationTimestamp": "2027-01-01T00:00Z"},
            "spec": {"job": "sales", **spec},
        }
    )
    assert isinstance(resource, AssetSchedule)
    return resource


BAD_SCHEDULES = {
    "cron a number": ({"cron": 5}, "spec.cron"),
    "100 cron expressions": ({"cron": ["@hourly"] * 100}, "spec.cron"),
    "cron of 10 KB": ({"cron": ["*" * TEN_KB]}, "spec.cron[0]"),
    "cron of superscript digits": ({"cron": ["² * * * *"]}, "spec.cron[0]"),
    "cron words": ({"cron": ["every day at noon"]}, "spec.cron[0]"),
    "cron out of range": ({"cron": ["61 * * * *"]}, "spec.cron[0]"),
    "cron second expression bad": ({"cron": ["@hourly", "0 0 31 2 *"]}, "spec.cron[1]"),
    "cron with NUL": ({"cron": ["0 0 * * *\x00"]}, "spec.cron[0]"),
    "cron non-ASCII": ({"cron": ["０ ０ * * *"]}, "spec.cron[0]"),
    "cron of 4 KB of fields": ({"cron": [" ".join(["1"] * 2000)]}, "spec.cron[0]"),
    "unknown time zone": ({"cron": ["@hourly"], "timezone": "Mars/Olympus_Mons"}, "Mars/Olympus_Mons"),
    "time zone that is a path": ({"cron": ["@hourly"], "timezone": "posix/../../etc/passwd"}, "time zone"),
}


@pytest.mark.parametrize("spec_and_said", BAD_SCHEDULES.values(), ids=BAD_SCHEDULES.keys())
def test_a_bad_schedule_is_not_ready_and_starts_nothing(spec_and_said: tuple[dict[str, Any], str]) -> None:
    spec, said = spec_and_said
    try:
        schedule = _schedule(**spec)
    except InvalidManifestError as error:  # the model (and the CRD schema) refuse it before any planner
        assert said.split("[")[0] in str(error) or "timezone" in str(error)
        return
    plan = plan_schedule(schedule, ScheduleObservation(job=runs.job()), NOW)

    assert plan.create == ()
    ready = find_condition(plan.status.conditions, READY)
    assert ready is not None and ready.status.value == "False"
    assert said in ready.message
    assert len(ready.message) < 4 * 1024
