"""The README's GitOps health checks on the status shapes the controller writes (built with the API models and
set_condition, exactly as the planners build them): the Argo CD Lua scripts executed by a real Lua runtime, and
the Flux CEL expressions evaluated by cel-python. The integration tests run the same checks on objects read
back from a real API server (tests/integration/gitops)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeasset.api.assetjob import AssetJob, AssetJobStatus
from kubeasset.api.assetrun import AssetRun, AssetRunStatus
from kubeasset.api.assetschedule import AssetSchedule, AssetScheduleStatus
from kubeasset.api.codelocation import CodeLocation, CodeLocationStatus
from kubeasset.api.conditions import READY, SUCCEEDED, ConditionStatus, set_condition
from kubeasset.api.runs import RunPhase
from tests.unit.docs.health_checks import ARGOCD_SCRIPTS, LUA_FOLDER, argocd_health, flux_health, readme_block

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _ready(status: str, reason: str, message: str = "details") -> list[Any]:
    return set_condition([], READY, status, reason=reason, message=message, now=NOW, observed_generation=1)


def code_location(ready: tuple[str, str] | None, *, generation: int = 1, observed: int = 1) -> dict[str, Any]:
    location = CodeLocation.model_validate(
        {"metadata": {"name": "shop", "generation": generation}, "spec": {"image": "shop:1", "module": "shop"}}
    )
    if ready is not None:
        location.status = CodeLocationStatus(observed_generation=observed, conditions=_ready(*ready))
    return location.to_json()


def asset_run(phase: RunPhase | None, reason: str = "", message: str = "") -> dict[str, Any]:
    run = AssetRun.model_validate({"metadata": {"name": "sales-now", "generation": 1}, "spec": {"job": "sales-job"}})
    if phase is not None:
        state = (
            ConditionStatus.TRUE
            if phase == RunPhase.SUCCEEDED
            else ConditionStatus.FALSE
            if phase.is_finished
            else ConditionStatus.UNKNOWN
        )
        conditions = set_condition(
            [],
            SUCCEEDED,
            state,
            reason=reason or str(phase),
            message=message or str(phase),
            now=NOW,
            observed_generation=1,
        )
        run.status = AssetRunStatus(observed_generation=1, conditions=conditions, phase=phase, message=message or None)
    return run.to_json()


def test_the_readme_argocd_cm_carries_exactly_the_lua_files() -> None:
    config_map = yaml.safe_load(readme_block("argocd-cm"))
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == "argocd-cm"
    expected = {
        f"resource.customizations.health.kubeasset.dev_{kind}": (LUA_FOLDER / script).read_text(encoding="utf-8")
        for kind, script in ARGOCD_SCRIPTS.items()
    }
    assert config_map["data"] == expected


@pytest.mark.parametrize(
    ("ready", "health"),
    [
        (None, "Progressing"),
        (("True", "Discovered"), "Healthy"),
        (("Unknown", "Discovering"), "Progressing"),
        (("False", "ImportError"), "Degraded"),
        (("False", "InvalidGraph"), "Degraded"),
        (("False", "ImagePullFailed"), "Degraded"),
    ],
)
def test_argocd_reads_a_code_locations_ready_condition(ready: tuple[str, str] | None, health: str) -> None:
    status, message = argocd_health(code_location(ready))
    assert status == health
    if ready is not None:
        assert message == f"{ready[1]}: details"


def test_argocd_waits_for_a_generation_the_controller_has_not_observed() -> None:
    status, message = argocd_health(code_location(("True", "Discovered"), generation=2, observed=1))
    assert (status, message) == ("Progressing", "Waiting for the controller to observe generation 2")


def test_argocd_shows_a_job_waiting_for_its_code_location_as_progressing_and_a_bad_selection_as_degraded() -> None:
    job = AssetJob.model_validate(
        {"metadata": {"name": "j", "generation": 1}, "spec": {"codeLocation": "shop", "selection": "*"}}
    )
    job.status = AssetJobStatus(observed_generation=1, conditions=_ready("False", "WaitingForCodeLocation"))
    assert argocd_health(job.to_json())[0] == "Progressing"
    job.status = AssetJobStatus(observed_generation=1, conditions=_ready("False", "InvalidSelection"))
    assert argocd_health(job.to_json())[0] == "Degraded"
    job.status = AssetJobStatus(observed_generation=1, conditions=_ready("True", "Resolved"))
    assert argocd_health(job.to_json())[0] == "Healthy"


def test_argocd_shows_a_suspended_schedule_as_suspended() -> None:
    body = {"metadata": {"name": "s", "generation": 1}, "spec": {"job": "j", "cron": "0 6 * * *", "suspend": True}}
    schedule = AssetSchedule.model_validate(body)
    schedule.status = AssetScheduleStatus(observed_generation=1, conditions=_ready("True", "Suspended"))
    assert argocd_health(schedule.to_json())[0] == "Suspended"
    body["spec"]["suspend"] = False
    schedule = AssetSchedule.model_validate(body)
    schedule.status = AssetScheduleStatus(observed_generation=1, conditions=_ready("True", "Scheduled"))
    assert argocd_health(schedule.to_json())[0] == "Healthy"


@pytest.mark.parametrize(
    ("phase", "health", "flux"),
    [
        (None, "Progressing", "inProgress"),
        (RunPhase.PENDING, "Progressing", "inProgress"),
        (RunPhase.STARTING, "Progressing", "inProgress"),
        (RunPhase.RUNNING, "Progressing", "inProgress"),
        (RunPhase.SUCCEEDED, "Healthy", "current"),
        (RunPhase.FAILED, "Degraded", "failed"),
        (RunPhase.CANCELED, "Suspended", "failed"),
    ],
)
def test_argocd_and_flux_follow_a_runs_phase(phase: RunPhase | None, health: str, flux: str) -> None:
    run = asset_run(phase)
    assert argocd_health(run)[0] == health
    assert flux_health(run) == {flux}  # exactly one expression holds, whatever order Flux tries them in


def test_argocd_shows_why_a_run_failed() -> None:
    run = asset_run(RunPhase.FAILED, "OOMKilled", "Pod sales-now was OOMKilled (limit 256Mi)")
    assert argocd_health(run) == ("Degraded", "OOMKilled: Pod sales-now was OOMKilled (limit 256Mi)")


def test_every_kind_with_a_script_has_its_lua_file() -> None:
    for script in set(ARGOCD_SCRIPTS.values()):
        assert Path(LUA_FOLDER / script).is_file()
