"""History limits of a job's runs: the oldest finished runs kubeasset made beyond the limits are deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kubeasset.api import AssetRun
from kubeasset.reconcile.asset_run import plan_asset_run
from kubeasset.reconcile.run_history import job_history_deletions
from tests.unit.reconcile.asset_run_builders import CREATED, JOB_UID, NOW, Driver, exited, job, observe, pod_of, run


def finished(name: str, phase: str, minute: int, *, labelled: bool = True, **fields: Any) -> AssetRun:
    done = CREATED + timedelta(minutes=minute)
    status = {"phase": phase, "completionTime": done.isoformat()}
    return run(name, created=done - timedelta(minutes=1), status=status, labelled=labelled, **fields)


def names(runs: Any) -> list[str]:
    return [item.name for item in runs]


def test_the_oldest_finished_runs_beyond_each_limit_are_deleted_oldest_first() -> None:
    the_job = job(successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1)
    runs = [
        finished("ok-1", "Succeeded", 1),
        finished("ok-2", "Succeeded", 2),
        finished("ok-3", "Succeeded", 5),
        finished("ok-4", "Succeeded", 6),
        finished("bad-1", "Failed", 3),
        finished("stop-1", "Canceled", 4),
        finished("bad-2", "Failed", 7),
        run("active-1", created=CREATED, status={"phase": "Running"}),
    ]
    assert names(job_history_deletions(the_job, runs, NOW)) == ["ok-1", "ok-2", "bad-1", "stop-1"]


def test_runs_kubeasset_did_not_make_for_the_job_are_never_deleted() -> None:
    the_job = job(successfulRunsHistoryLimit=0)
    gitops = finished("applied-by-argo", "Succeeded", 1, labelled=False)
    other_job = finished("other-1", "Succeeded", 2, job="reports")
    body = finished("owned-1", "Succeeded", 3, labelled=False).to_json()
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "kubeasset.dev/v1alpha1", "kind": "AssetJob", "name": "sales", "uid": JOB_UID}
    ]
    owned = AssetRun.model_validate(body)
    assert names(job_history_deletions(the_job, [gitops, other_job, owned], NOW)) == ["owned-1"]


def test_a_run_that_finishes_deletes_the_runs_beyond_the_limits_including_itself_at_limit_zero() -> None:
    the_job = job(successfulRunsHistoryLimit=1)
    older = finished("sales-0", "Succeeded", -10)
    driver = Driver.of(run())
    driver.step(observe(job=the_job))
    plan = driver.step(
        observe(job=the_job, job_runs=[older, driver.run], pod=pod_of(driver.run, exited(0, "Completed")))
    )
    assert names(plan.runs_to_delete) == ["sales-0"]
    zero = job(successfulRunsHistoryLimit=0)
    again = plan_asset_run(driver.run, observe(job=zero, job_runs=[older]), NOW)
    assert names(again.runs_to_delete) == ["sales-0", "sales-1"]


def test_active_runs_plan_no_deletions() -> None:
    the_job = job(successfulRunsHistoryLimit=0)
    older = finished("sales-0", "Succeeded", -10)
    plan = plan_asset_run(run(), observe(job=the_job, job_runs=[older]), NOW)
    assert plan.runs_to_delete == ()


def test_deletions_carry_the_uid_so_a_new_run_of_the_same_name_is_safe() -> None:
    the_job = job(successfulRunsHistoryLimit=0)
    (doomed,) = job_history_deletions(the_job, [finished("sales-0", "Succeeded", 1)], NOW)
    assert doomed.uid == "uid-sales-0"


def test_a_run_being_deleted_is_not_counted() -> None:
    the_job = job(successfulRunsHistoryLimit=1)
    going = finished("ok-1", "Succeeded", 1)
    going = going.model_copy(update={"metadata": going.metadata.model_copy(update={"deletion_timestamp": NOW})})
    runs = [going, finished("ok-2", "Succeeded", 2), finished("ok-3", "Succeeded", 3)]
    assert names(job_history_deletions(the_job, runs, NOW)) == ["ok-2"]
