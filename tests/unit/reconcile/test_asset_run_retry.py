"""Retries: a failed run of a job with a retry policy creates one new AssetRun that runs what did not
materialize, and only when a retry can help."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from kubeasset.api import AssetRun
from kubeasset.api.assetrun import AssetRunState, AssetRunStatus, RunAssetStatus, TriggerType
from kubeasset.api.conditions import find_condition
from kubeasset.api.runs import RetryStrategy, RunPhase
from kubeasset.api.types import DNS_SUBDOMAIN_PATTERN, MAX_SELECTION_LENGTH
from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph
from kubeasset.reconcile.asset_run import RunObservation, plan_asset_run
from kubeasset.reconcile.run_retry import (
    ATTEMPT_ANNOTATION,
    RETRIED,
    RETRY_WINDOW_SECONDS,
    retry_run_name,
    retry_selection,
)
from kubeasset.selection import resolve_selection
from tests.unit.reconcile import run_pod_states as states
from tests.unit.reconcile.asset_run_builders import (
    GRAPH,
    JOB_UID,
    KEYS,
    NOW,
    Driver,
    exited,
    failing_events,
    job,
    materialized,
    observe,
    pod_of,
    run,
    started,
    with_status,
)
from tests.unit.reconcile.location_builders import wide_graph

RETRY = {"maxRetries": 2}


def failed_run(
    retry: dict[str, Any] | None = None,
    *,
    pod_status: dict[str, Any] | None = None,
    name: str = "sales-1",
    **fields: Any,
) -> tuple[Driver, RunObservation]:
    """A run of a job with ``retry`` driven to Failed (assets failed unless ``pod_status`` says otherwise)."""
    the_job = job(retry=retry if retry is not None else RETRY)
    driver = Driver.of(run(name, **fields))
    driver.step(observe(job=the_job))
    events = failing_events(name) if pod_status is None else [started(name, KEYS[0], 0)]
    final = observe(job=the_job, pod=pod_of(driver.run, pod_status or exited(1), the_job=the_job), events=events)
    return driver, final


def resolved_by_the_retry(manifest: dict[str, Any], graph: AssetGraph = GRAPH, job_keys: list[str] = KEYS) -> list[str]:
    """What the controller will run for the retry run: its selection over the graph, narrowed to the job."""
    selection = manifest["spec"].get("selection")
    if selection is None:
        return job_keys
    chosen = {key.to_user_string() for key in resolve_selection(selection, graph)}
    return [key for key in job_keys if key in chosen]


def test_a_failed_run_creates_one_retry_of_its_failed_and_skipped_assets() -> None:
    driver, final = failed_run()
    plan = driver.steady(final)
    assert driver.phase() == RunPhase.FAILED
    manifest = plan.retry_run
    assert manifest is not None
    assert manifest["metadata"]["name"] == "sales-1-retry-1"
    assert manifest["spec"]["job"] == "sales"
    assert manifest["spec"]["trigger"] == {"type": "Retry", "retryOf": "sales-1"}
    assert manifest["metadata"]["annotations"][ATTEMPT_ANNOTATION] == "2"
    assert manifest["metadata"]["labels"]["kubeasset.dev/job"] == "sales"
    assert manifest["metadata"]["labels"]["kubeasset.dev/retry-of"] == "sales-1"
    (owner,) = manifest["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("AssetJob", JOB_UID)
    assert resolved_by_the_retry(manifest) == ["orders", "customers", "revenue"]
    assert AssetRun.model_validate(manifest).spec.trigger.type == TriggerType.RETRY

    retried = find_condition(driver.status().conditions, RETRIED)
    assert retried is not None and "sales-1-retry-1" in retried.message
    assert driver.reasons.count("RunRetried") == 1
    run_failed = next(item for item in driver.events if item.reason == "RunFailed")
    assert "retrying as run sales-1-retry-1 (attempt 2 of 3)" in run_failed.message

    # Recorded: planned again (even after the retry run was deleted by the history limits), no new retry.
    again = plan_asset_run(driver.run, final, NOW + timedelta(minutes=5))
    assert again.retry_run is None and again.events == ()


def test_the_retry_run_records_its_attempt_and_its_own_retry_continues_the_chain() -> None:
    driver, final = failed_run()
    manifest = driver.step(final).retry_run
    assert manifest is not None
    body = {**manifest, "metadata": {**manifest["metadata"], "uid": "uid-retry", "generation": 1}}
    retry = AssetRun.model_validate(body)
    the_job = job(retry=RETRY)
    second = Driver.of(retry)
    first_plan = second.step(observe(job=the_job, selected_keys=["orders", "customers", "revenue"]))
    assert first_plan.status.attempts == 2
    assert [asset.key for asset in first_plan.status.assets or ()] == ["orders", "customers", "revenue"]
    pod = pod_of(second.run, exited(1), keys=["orders", "customers", "revenue"], the_job=the_job)
    plan = second.step(observe(job=the_job, pod=pod, events=failing_events("sales-1-retry-1")[4:]))
    assert plan.retry_run is not None
    assert plan.retry_run["metadata"]["name"] == "sales-1-retry-2"
    assert plan.retry_run["metadata"]["annotations"][ATTEMPT_ANNOTATION] == "3"
    assert plan.retry_run["spec"]["trigger"]["retryOf"] == "sales-1-retry-1"


def test_no_retry_once_the_attempts_are_used_up() -> None:
    driver, final = failed_run(
        annotations={ATTEMPT_ANNOTATION: "3"},
        name="sales-1-retry-2",
        job="sales",
        trigger={"type": "Retry", "retryOf": "sales-1-retry-1"},
    )
    plan = driver.steady(final)
    assert plan.retry_run is None
    assert driver.status().attempts == 3
    run_failed = next(item for item in driver.events if item.reason == "RunFailed")
    assert "no retries left: attempt 3 of 3" in run_failed.message


def test_the_backoff_delays_the_retry() -> None:
    driver, final = failed_run({"maxRetries": 1, "backoffSeconds": 600})
    plan = driver.steady(final)
    completed = driver.status().completion_time
    assert plan.retry_run is None and completed is not None
    assert plan.requeue_after == pytest.approx((completed + timedelta(seconds=600) - NOW).total_seconds())
    later = driver.steady(final, completed + timedelta(seconds=600))
    assert later.retry_run is not None


def test_an_old_failure_is_not_retried_when_a_policy_appears_later() -> None:
    driver, final = failed_run({"maxRetries": 0})
    driver.step(final)
    completed = driver.status().completion_time
    assert completed is not None
    late = RunObservation(**{**final.__dict__, "job": job(retry={"maxRetries": 2})})
    assert plan_asset_run(driver.run, late, completed + timedelta(seconds=RETRY_WINDOW_SECONDS + 1)).retry_run is None
    assert plan_asset_run(driver.run, late, completed + timedelta(seconds=60)).retry_run is not None


@pytest.mark.parametrize(
    ("retry", "pod_status", "retried"),
    [
        ({"maxRetries": 1}, states.OOM_KILLED, True),
        ({"maxRetries": 1, "retryOnAssetFailure": False}, states.OOM_KILLED, True),
        ({"maxRetries": 1, "retryOnAssetFailure": False}, None, False),
        ({"maxRetries": 1}, states.INVALID_IMAGE_NAME, False),
        ({"maxRetries": 1}, states.START_ERROR, False),
        ({"maxRetries": 1}, states.terminated(137, "Error", phase="Failed") | {"reason": "DeadlineExceeded"}, False),
        ({"maxRetries": 1}, states.terminated(137, "Error", phase="Failed") | {"reason": "Evicted"}, True),
        ({"maxRetries": 0}, None, False),
    ],
)
def test_only_failures_a_retry_can_fix_are_retried(
    retry: dict[str, Any], pod_status: dict[str, Any] | None, retried: bool
) -> None:
    driver, final = failed_run(retry, pod_status=pod_status)
    plan = driver.steady(final)
    assert driver.phase() == RunPhase.FAILED
    assert (plan.retry_run is not None) is retried


def test_canceled_and_ad_hoc_runs_are_never_retried() -> None:
    the_job = job(retry=RETRY)
    canceled = Driver.of(run(job="sales", cancel=True))
    assert canceled.steady(observe(job=the_job)).retry_run is None
    adhoc = Driver.of(run("adhoc-1", labelled=False, codeLocation="shop", selection="*"))
    adhoc.step(observe(job=the_job, selected_keys=KEYS))
    plan = adhoc.steady(observe(job=the_job, pod=pod_of(adhoc.run, exited(1)), events=failing_events("adhoc-1")))
    assert adhoc.phase() == RunPhase.FAILED
    assert plan.retry_run is None


def test_all_assets_strategy_repeats_the_run_selection() -> None:
    driver, final = failed_run({"maxRetries": 1, "strategy": "AllAssets"})
    manifest = driver.steady(final).retry_run
    assert manifest is not None and "selection" not in manifest["spec"]
    assert resolved_by_the_retry(manifest) == KEYS


def test_a_retry_keeps_the_scheduled_time_tags_and_config() -> None:
    driver, final = failed_run(
        job="sales",
        tags={"team": "sales"},
        config={"limit": 3},
        trigger={"type": "Schedule", "schedule": "nightly", "scheduledTime": "2025-03-02T05:00:00Z"},
    )
    manifest = driver.steady(final).retry_run
    assert manifest is not None
    assert manifest["metadata"]["annotations"]["kubeasset.dev/scheduled-time"] == "2025-03-02T05:00:00Z"
    assert manifest["spec"]["tags"] == {"team": "sales"} and manifest["spec"]["config"] == {"limit": 3}


def status_with(keys: list[str], materialized: int) -> AssetRunStatus:
    assets = [
        RunAssetStatus(key=key, state=AssetRunState.MATERIALIZED if index < materialized else AssetRunState.FAILED)
        for index, key in enumerate(keys)
    ]
    return AssetRunStatus(phase=RunPhase.FAILED, assets=assets)


def test_a_long_retry_selection_is_written_as_the_run_selection_minus_what_materialized() -> None:
    graph = wide_graph(400)
    keys = [key.to_user_string() for key in resolve_selection("*", graph)]
    status = status_with(keys, materialized=60)
    selection = retry_selection(run(), status, RetryStrategy.FROM_FAILURE)
    assert selection is not None and len(selection) <= MAX_SELECTION_LENGTH
    assert selection.startswith("not (")  # "* and not (...)", as the language writes it
    chosen = {key.to_user_string() for key in resolve_selection(selection, graph)}
    assert [key for key in keys if key in chosen] == keys[60:]


def wide_run_failing_after(materialized_count: int) -> tuple[Driver, RunObservation, list[str]]:
    """A run of 400 assets with long keys: ``materialized_count`` materialize, then the Pod is OOMKilled."""
    graph = wide_graph(400)
    keys = [key.to_user_string() for key in resolve_selection("*", graph)]
    the_job = job(keys=keys, retry=RETRY)
    driver = Driver.of(run())
    driver.step(observe(job=the_job))
    events: list[Any] = [
        item
        for key in keys[:materialized_count]
        for item in (started("sales-1", key, 0), materialized("sales-1", key, 1))
    ]
    events.append(started("sales-1", keys[materialized_count], 2))
    pod = pod_of(driver.run, states.OOM_KILLED, keys=keys, the_job=the_job)
    return driver, observe(job=the_job, pod=pod, events=events), keys


def test_a_retry_whose_keys_are_too_many_to_list_uses_the_difference_form() -> None:
    driver, final, keys = wide_run_failing_after(0)  # one asset failed, 399 never ran
    plan = driver.steady(final)
    assert plan.retry_run is not None
    assert len(plan.retry_run["spec"]["selection"]) <= MAX_SELECTION_LENGTH
    assert resolved_by_the_retry(plan.retry_run, wide_graph(400), keys) == keys


def test_a_retry_that_cannot_be_written_is_reported_once_and_not_made() -> None:
    # Half materialized: neither the 200 keys to retry nor the 200 materialized ones fit 4,096 characters.
    driver, final, _ = wide_run_failing_after(200)
    plan = driver.steady(final)
    assert driver.phase() == RunPhase.FAILED and plan.retry_run is None
    assert driver.reasons.count("RetryNotPossible") == 1 and driver.reasons.count("RunFailed") == 1
    warning = next(item for item in driver.events if item.reason == "RetryNotPossible")
    assert "cannot be written in one selection" in warning.message
    with pytest.raises(SelectionError, match="launch a new run instead"):
        retry_selection(run(), driver.status(), RetryStrategy.FROM_FAILURE)


def test_retry_names_are_bounded_and_valid() -> None:
    assert retry_run_name(run("nightly-29015580"), 1) == "nightly-29015580-retry-1"
    long_name = "a" * 250
    name = retry_run_name(run(long_name), 12)
    assert len(name) <= 253 and name.endswith("-retry-12") and re.match(DNS_SUBDOMAIN_PATTERN, name)
    assert retry_run_name(run(long_name), 12) != retry_run_name(run("a" * 249), 12)
    # A manual run that merely looks like a retry keeps its whole name as the base.
    assert retry_run_name(run("fix-retry-3"), 1) == "fix-retry-3-retry-1"


def test_history_keeps_a_failed_run_until_its_retry_exists() -> None:
    the_job = job(retry={"maxRetries": 1, "backoffSeconds": 600}, failedRunsHistoryLimit=0)
    driver = Driver.of(run())
    driver.step(observe(job=the_job))
    plan = driver.step(
        observe(job=the_job, pod=pod_of(driver.run, exited(1), the_job=the_job), events=failing_events("sales-1"))
    )
    assert plan.retry_run is None and plan.runs_to_delete == ()
    completed = driver.status().completion_time
    assert completed is not None
    plan = driver.step(observe(job=the_job, job_runs=[driver.run]), completed + timedelta(seconds=600))
    assert plan.retry_run is not None
    assert [item.name for item in plan.runs_to_delete] == ["sales-1"]
    assert with_status(driver.run, plan.status).status is not None
