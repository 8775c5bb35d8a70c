"""plan_asset_run: a run's life from Pending to a final phase, as a user sees it in its status and Events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kubeasset.api.assetrun import AssetRun, AssetRunState
from kubeasset.api.conditions import SUCCEEDED, ConditionStatus, find_condition
from kubeasset.api.runs import RunPhase
from kubeasset.reconcile.asset_run import RUN_TIMEOUT_GRACE_SECONDS, WAIT_REQUEUE_SECONDS, RunPlan, plan_asset_run
from kubeasset.reconcile.plan_items import EventType
from kubeasset.sdk.runner_protocol import parse_run_summary
from tests.unit.reconcile import run_pod_states as states
from tests.unit.reconcile.asset_run_builders import (
    CREATED,
    KEYS,
    NOW,
    Driver,
    at,
    created_pod,
    exited,
    failing_events,
    job,
    location,
    materialized,
    observe,
    pod_of,
    run,
    started,
    with_status,
)


def succeeded_condition(driver: Driver) -> tuple[str, str]:
    condition = find_condition(driver.status().conditions, SUCCEEDED)
    assert condition is not None
    return condition.status, condition.reason


def states_of(driver: Driver) -> dict[str, AssetRunState]:
    assets = driver.status().assets
    assert assets is not None
    return {asset.key: asset.state for asset in assets}


# --- the happy path ---------------------------------------------------------------------------------


def test_a_run_goes_starting_running_succeeded_with_each_event_exactly_once() -> None:
    driver = Driver.of(run())
    # The Pod is created and the status says Starting with the Pod's name in the same plan (one write);
    # steady() also checks that observing the just-created Pod changes nothing.
    first = driver.steady(observe())
    assert first.pod_to_create is not None and first.pod_to_create["metadata"]["name"] == "sales-1"
    owner = first.pod_to_create["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("AssetRun", "uid-sales-1")
    assert driver.phase() == RunPhase.STARTING
    assert driver.status().pod_name == "sales-1"
    assert driver.status().image == "registry.example/shop:1.0"
    assert succeeded_condition(driver) == (ConditionStatus.UNKNOWN, "Pending")
    assert driver.status().progress == f"0/{len(KEYS)}"

    # The Pod gets its node and pulls its image: still Starting; nothing is created again.
    plan = driver.steady(observe(pod=pod_of(driver.run, states.CONTAINER_CREATING)))
    assert plan.pod_to_create is None and plan.pod_to_delete is None
    assert driver.phase() == RunPhase.STARTING
    assert "pulling the image" in driver.message()

    # Running, one asset after the other turns Materialized.
    events = [started("sales-1", "raw/customers", 0), materialized("sales-1", "raw/customers", 1)]
    plan = driver.steady(observe(pod=pod_of(driver.run, states.RUNNING), events=events))
    assert driver.phase() == RunPhase.RUNNING
    assert states_of(driver)["raw/customers"] == AssetRunState.MATERIALIZED
    assert driver.status().progress == f"1/{len(KEYS)}"
    assert [update.key for update in plan.catalog] == ["raw/customers"]
    assert driver.status().start_time is not None

    events += [item for key in KEYS[1:] for item in (started("sales-1", key, 2), materialized("sales-1", key, 3))]
    done = pod_of(driver.run, exited(0, "Completed"))
    plan = driver.steady(observe(pod=done, events=events))
    assert driver.phase() == RunPhase.SUCCEEDED
    assert succeeded_condition(driver) == (ConditionStatus.TRUE, "Succeeded")
    assert driver.status().completion_time is not None
    assert [update.key for update in plan.catalog] == KEYS
    assert plan.pod_to_delete is None  # a Pod that ended is kept for `kubectl logs`
    # No RunQueued: the run never waited (it is queued only while Pending).
    assert driver.reasons == ["PodCreated", "RunStarted", "RunSucceeded"]
    assert [item.type for item in driver.events] == [EventType.NORMAL] * 3


def api_writes(plan: RunPlan, stored: AssetRun) -> dict[str, int]:
    """The API writes the controller makes for ``plan`` of ``stored``: creates, the status patch (only when
    the status differs), Events, deletes."""
    current = stored.status.to_json() if stored.status is not None else {}
    return {
        "create": int(plan.pod_to_create is not None) + int(plan.retry_run is not None),
        "status": int(plan.status.to_json() != current),
        "events": len(plan.events),
        "delete": int(plan.pod_to_delete is not None) + len(plan.runs_to_delete),
    }


def test_a_new_run_costs_one_create_one_status_write_and_one_event_until_its_pod_changes() -> None:
    new = run()
    first = plan_asset_run(new, observe(), NOW)
    assert api_writes(first, new) == {"create": 1, "status": 1, "events": 1, "delete": 0}
    assert first.status.phase == RunPhase.STARTING and first.status.pod_name == "sales-1"

    # The controller observes the Pod it created (its ADDED event, its own status write's MODIFIED event,
    # as the API server returned it): no write at all.
    starting = with_status(new, first.status)
    assert first.pod_to_create is not None
    for moment in (NOW, NOW + timedelta(seconds=2)):
        observed = plan_asset_run(starting, observe(pod=created_pod(first.pod_to_create), pod_seen=True), moment)
        assert api_writes(observed, starting) == {"create": 0, "status": 0, "events": 0, "delete": 0}

    # The scheduler's verdict is news: one status write, no Event.
    unschedulable = plan_asset_run(starting, observe(pod=pod_of(starting, states.UNSCHEDULABLE)), NOW)
    assert api_writes(unschedulable, starting) == {"create": 0, "status": 1, "events": 0, "delete": 0}


def test_a_final_phase_never_changes_even_when_the_pod_disappears() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    events = [item for key in KEYS for item in (started("sales-1", key, 0), materialized("sales-1", key, 1))]
    driver.step(observe(pod=pod_of(driver.run, exited(0, "Completed")), events=events))
    final = driver.run.status
    assert final is not None and final.phase == RunPhase.SUCCEEDED

    for later in (observe(pod=None), observe(pod=None, pod_seen=True), observe(job=None, location=None)):
        plan = plan_asset_run(driver.run, later, NOW + timedelta(hours=1))
        assert plan.status == final
        assert plan.events == () and plan.pod_to_create is None and plan.catalog == ()


def test_a_final_run_records_a_new_generation_without_changing_anything_else() -> None:
    driver = Driver.of(run())
    driver.step(observe(job=job(), pod=None))
    driver.step(observe(pod=pod_of(driver.run, exited(0, "Completed"))))
    edited = run(status=driver.status().to_json(), generation=2, tags={"team": "sales"})
    plan = plan_asset_run(edited, observe(), NOW)
    assert plan.status.observed_generation == 2
    assert plan.status.phase == RunPhase.SUCCEEDED and plan.events == ()
    condition = find_condition(plan.status.conditions, SUCCEEDED)
    assert condition is not None and condition.observed_generation == 2
    before = find_condition(driver.status().conditions, SUCCEEDED)
    assert before is not None and condition.last_transition_time == before.last_transition_time


def test_a_pod_seen_for_the_first_time_running_gets_the_events_of_the_phases_it_went_through() -> None:
    driver = Driver.of(run())
    driver.steady(observe(pod=pod_of(run(), states.RUNNING)))
    assert driver.phase() == RunPhase.RUNNING
    assert driver.reasons == ["PodCreated", "RunStarted"]


def test_the_keys_of_an_existing_pod_win_over_a_job_changed_meanwhile() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    changed = job(keys=["raw/orders"])
    driver.step(observe(job=changed, pod=pod_of(driver.run, states.RUNNING)))
    assert list(states_of(driver)) == KEYS


def test_the_condition_keeps_its_transition_time_while_the_run_is_not_final() -> None:
    driver = Driver.of(run())
    driver.step(observe(), NOW)
    first = find_condition(driver.status().conditions, SUCCEEDED)
    driver.step(observe(pod=pod_of(driver.run, states.RUNNING)), NOW + timedelta(seconds=30))
    second = find_condition(driver.status().conditions, SUCCEEDED)
    assert first is not None and second is not None
    assert second.last_transition_time == first.last_transition_time
    assert second.reason == "Running"


# --- failures -----------------------------------------------------------------------------------------


def test_a_failing_asset_fails_the_run_with_asset_failed_and_run_failed_warnings() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    running = observe(pod=pod_of(driver.run, states.RUNNING), events=failing_events("sales-1")[:6])
    driver.steady(running)
    assert driver.reasons[-1] == "AssetFailed"  # as soon as the asset fails, while the run still runs
    assert driver.phase() == RunPhase.RUNNING

    final = observe(pod=pod_of(driver.run, exited(1)), events=failing_events("sales-1"))
    plan = driver.steady(final)
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver) == (ConditionStatus.FALSE, "AssetsFailed")
    assert states_of(driver) == {
        "raw/customers": AssetRunState.MATERIALIZED,
        "raw/orders": AssetRunState.MATERIALIZED,
        "orders": AssetRunState.FAILED,
        "customers": AssetRunState.SKIPPED,
        "revenue": AssetRunState.SKIPPED,
    }
    assert "orders: ValueError: no rows" in driver.message()
    assert driver.reasons.count("AssetFailed") == 1 and driver.reasons.count("RunFailed") == 1
    run_failed = next(item for item in driver.events if item.reason == "RunFailed")
    assert run_failed.type == EventType.WARNING and "orders" in run_failed.message
    assert {update.key for update in plan.catalog if update.failure is not None} == {"orders"}


@pytest.mark.parametrize(
    ("pod_status", "reason"),
    [
        (states.OOM_KILLED, "OOMKilled"),
        (states.terminated(137, "Error", phase="Failed") | {"reason": "Evicted", "message": "low memory"}, "Evicted"),
        (states.RUNNER_CRASHED, "Error"),
    ],
)
def test_a_pod_that_dies_fails_the_run_with_its_reason_and_leaves_no_asset_running(
    pod_status: dict[str, object], reason: str
) -> None:
    driver = Driver.of(run())
    driver.step(observe())
    events = [started("sales-1", "raw/customers", 0)]
    driver.step(observe(pod=pod_of(driver.run, states.RUNNING), events=events))
    driver.steady(observe(pod=pod_of(driver.run, pod_status), events=events))
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver) == (ConditionStatus.FALSE, reason)
    assert states_of(driver)["raw/customers"] == AssetRunState.FAILED
    assert set(list(states_of(driver).values())[1:]) == {AssetRunState.CANCELED}


def test_a_pod_deleted_by_someone_fails_the_run_as_deleted() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    driver.step(observe(pod=pod_of(driver.run, states.RUNNING), events=[started("sales-1", "raw/customers", 0)]))
    driver.steady(observe(pod=None, events=[started("sales-1", "raw/customers", 0)]))
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver)[1] == "Deleted"
    assert AssetRunState.RUNNING not in states_of(driver).values()


def test_a_pod_that_does_not_start_in_time_fails_the_run_and_is_deleted() -> None:
    driver = Driver.of(run())
    driver.step(observe(job=job(startTimeoutSeconds=600)))
    pending = observe(job=job(startTimeoutSeconds=600), pod=pod_of(driver.run, states.IMAGE_PULL_BACKOFF))
    plan = driver.step(pending, NOW)
    assert driver.phase() == RunPhase.STARTING
    assert plan.requeue_after == pytest.approx(600 - (NOW - CREATED).total_seconds())

    plan = driver.steady(pending, CREATED + timedelta(seconds=600))
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver)[1] == "StartTimeout"
    assert "ImagePullBackOff" in driver.message()
    assert plan.pod_to_delete is not None and plan.pod_to_delete.name == "sales-1"
    assert plan.pod_to_delete.uid == "pod-uid-sales-1"


def test_an_invalid_image_name_fails_at_once_and_its_pod_is_deleted() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    plan = driver.steady(observe(pod=pod_of(driver.run, states.INVALID_IMAGE_NAME)))
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver)[1] == "InvalidImageName"
    assert plan.pod_to_delete is not None


def test_a_pod_the_kubelet_does_not_stop_at_its_deadline_is_stopped_by_the_controller() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    pod = pod_of(driver.run, states.RUNNING, deadline=60)
    pod_start = states.node_status("Running", [])["startTime"]
    plan = driver.step(observe(pod=pod), NOW)
    deadline = (
        CREATED + timedelta(seconds=1 + 60 + RUN_TIMEOUT_GRACE_SECONDS)  # Pod startTime 05:00:01
    )
    assert pod_start == "2025-03-02T05:00:01Z"
    assert plan.requeue_after == pytest.approx((deadline - NOW).total_seconds())
    assert driver.phase() == RunPhase.RUNNING

    plan = driver.steady(observe(pod=pod), deadline)
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver)[1] == "DeadlineExceeded"
    assert "run timeout of 1m00s" in driver.message()
    assert plan.pod_to_delete is not None


def test_a_pod_that_cannot_be_built_fails_the_run_with_the_message() -> None:
    driver = Driver.of(run(job="sales", config={"blob": "x" * 200_000}))
    plan = driver.steady(observe())
    assert plan.pod_to_create is None
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver)[1] == "InvalidPod"
    assert "KUBEASSET_RUN_CONFIG" in driver.message()
    assert set(states_of(driver).values()) == {AssetRunState.CANCELED}
    assert driver.reasons == ["RunFailed"]


def test_a_summary_fills_in_results_whose_event_lines_were_lost() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    summary = parse_run_summary(
        '{"v":1,"run":"sales-1","result":"Failed","exitCode":1,"counts":{"total":5,"materialized":2,'
        '"failed":1,"skipped":2,"canceled":0},"durationSeconds":4.2,"truncated":false,"states":"MMFSS",'
        '"failed":[{"key":"orders","error":"ValueError: no rows"}]}'
    )
    driver.steady(observe(pod=pod_of(driver.run, exited(1)), summary=summary, unreadable_lines=2))
    assert driver.phase() == RunPhase.FAILED
    assert states_of(driver)["orders"] == AssetRunState.FAILED
    assert "2 unreadable event lines" in driver.message()


# --- cancel -------------------------------------------------------------------------------------------


def test_cancel_before_the_pod_exists_cancels_at_once() -> None:
    driver = Driver.of(run(job="sales", cancel=True))
    plan = driver.steady(observe())
    assert plan.pod_to_create is None and plan.pod_to_delete is None
    assert driver.phase() == RunPhase.CANCELED
    assert succeeded_condition(driver) == (ConditionStatus.FALSE, "Canceled")
    assert set(states_of(driver).values()) == {AssetRunState.CANCELED}
    assert driver.status().completion_time == NOW
    assert driver.reasons == ["RunCanceled"]


def test_cancel_with_a_running_pod_deletes_it_and_waits_until_it_is_gone() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    events = [started("sales-1", "raw/customers", 0), materialized("sales-1", "raw/customers", 1)]
    driver.step(observe(pod=pod_of(driver.run, states.RUNNING), events=events))
    canceled = run(status=driver.status().to_json(), job="sales", cancel=True)
    driver = Driver(canceled, driver.events)

    plan = driver.steady(observe(pod=pod_of(canceled, states.RUNNING), events=events))
    assert plan.pod_to_delete is not None and plan.pod_to_delete.name == "sales-1"
    assert driver.phase() == RunPhase.RUNNING
    assert driver.message().startswith("canceling")
    assert succeeded_condition(driver) == (ConditionStatus.UNKNOWN, "Canceling")

    plan = driver.steady(observe(pod=pod_of(canceled, states.RUNNING, deleting=True), events=events))
    assert plan.pod_to_delete is None  # already being deleted
    assert driver.phase() == RunPhase.RUNNING

    plan = driver.steady(observe(pod=None, events=events))
    assert driver.phase() == RunPhase.CANCELED
    assert states_of(driver)["raw/customers"] == AssetRunState.MATERIALIZED
    assert set(list(states_of(driver).values())[1:]) == {AssetRunState.CANCELED}
    assert driver.reasons.count("RunCanceled") == 1
    assert plan.retry_run is None


def test_a_pod_that_appears_after_a_cancel_won_the_race_is_deleted() -> None:
    driver = Driver.of(run(job="sales", cancel=True))
    driver.step(observe())
    plan = plan_asset_run(driver.run, observe(pod=pod_of(driver.run, states.RUNNING)), NOW)
    assert plan.pod_to_delete is not None and plan.status == driver.run.status


# --- waiting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "reason", "words"),
    [
        (observe(job=None), "JobNotFound", "does not exist"),
        (observe(job=job(ready=False)), "JobNotReady", "is not ready"),
        (observe(job=job(graph_hash="sha256:old")), "JobNotReady", "new graph"),
        (observe(location=None), "CodeLocationNotFound", "'shop' does not exist"),
        (observe(location=location(ready=False)), "CodeLocationNotReady", "No module named 'pandas'"),
    ],
)
def test_a_run_waits_in_pending_with_a_reason_a_person_can_act_on(observed: object, reason: str, words: str) -> None:
    driver = Driver.of(run())
    plan = driver.steady(observed)  # type: ignore[arg-type]
    assert plan.pod_to_create is None
    assert driver.phase() == RunPhase.PENDING
    assert succeeded_condition(driver) == (ConditionStatus.UNKNOWN, reason)
    assert words in driver.message()
    assert plan.requeue_after == WAIT_REQUEUE_SECONDS
    assert driver.reasons == ["RunQueued", reason]
    warning = driver.events[-1]
    assert warning.type == EventType.WARNING

    # Once the cause is gone the run goes on without another warning.
    driver.steady(observe())
    assert driver.reasons == ["RunQueued", reason, "PodCreated"]
    assert driver.phase() == RunPhase.STARTING


def test_a_pod_of_an_earlier_run_of_the_same_name_is_never_adopted() -> None:
    earlier = run(job="sales")
    later = run(job="sales").model_copy(update={"metadata": run().metadata.model_copy(update={"uid": "uid-new"})})
    driver = Driver.of(later)
    plan = driver.steady(observe(pod=pod_of(earlier, states.RUNNING)))
    assert plan.pod_to_create is None and plan.pod_to_delete is None
    assert driver.phase() == RunPhase.PENDING
    assert succeeded_condition(driver)[1] == "OldPodExists"


# --- selections -----------------------------------------------------------------------------------------


def test_an_ad_hoc_run_runs_its_resolved_selection() -> None:
    adhoc = run("adhoc-1", labelled=False, codeLocation="shop", selection="orders+")
    driver = Driver.of(adhoc)
    assert driver.steady(observe(job=None)).pod_to_create is None  # not resolved yet
    assert succeeded_condition(driver)[1] == "ResolvingSelection"
    plan = driver.steady(observe(job=None, selected_keys=["orders", "customers", "revenue"]))
    assert plan.pod_to_create is not None
    env = {item["name"]: item.get("value") for item in plan.pod_to_create["spec"]["containers"][0]["env"]}
    assert env["KUBEASSET_ASSETS"] == "orders,customers,revenue"


def test_a_job_run_with_a_selection_runs_only_the_job_assets_it_selects_in_job_order() -> None:
    narrowed = run(job="sales", selection="key:revenue or key:raw/orders or key:unknown_elsewhere")
    plan = plan_asset_run(narrowed, observe(selected_keys=["revenue", "raw/orders", "other/asset"]), NOW)
    assert plan.pod_to_create is not None
    assert [asset.key for asset in plan.status.assets or ()] == ["raw/orders", "revenue"]


@pytest.mark.parametrize(
    ("spec", "observed_fields", "reason"),
    [
        ({"codeLocation": "shop", "selection": "key:("}, {"selection_error": "unexpected '('"}, "InvalidSelection"),
        ({"codeLocation": "shop", "selection": "tag:none"}, {"selected_keys": []}, "EmptySelection"),
        ({"job": "sales", "selection": "key:x"}, {"selected_keys": ["x"]}, "EmptySelection"),
    ],
)
def test_a_selection_that_cannot_work_fails_the_run_at_once(
    spec: dict[str, Any], observed_fields: dict[str, Any], reason: str
) -> None:
    driver = Driver.of(run(labelled=False, **spec))
    plan = driver.steady(observe(**observed_fields))
    assert plan.pod_to_create is None
    assert driver.phase() == RunPhase.FAILED
    assert succeeded_condition(driver)[1] == reason
    assert driver.reasons == ["RunFailed"]


def test_events_of_a_fast_run_seen_only_when_done_come_in_order() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    events = [item for key in KEYS for item in (started("sales-1", key, 0), materialized("sales-1", key, 1))]
    driver.steady(observe(pod=pod_of(driver.run, exited(0, "Completed")), events=events))
    assert driver.reasons == ["PodCreated", "RunStarted", "RunSucceeded"]
    assert driver.status().start_time == at(0) - timedelta(seconds=0)


# --- restarts -------------------------------------------------------------------------------------------


def test_a_restarted_controller_replaying_the_log_from_the_start_changes_nothing() -> None:
    driver = Driver.of(run())
    driver.step(observe())
    events = [started("sales-1", "raw/customers", 0), materialized("sales-1", "raw/customers", 1)]
    driver.step(observe(pod=pod_of(driver.run, states.RUNNING), events=events))
    stored = driver.run
    # A new process: nothing in memory, the Pod read again, the log read again from its first line.
    plan = plan_asset_run(
        stored, observe(pod=pod_of(stored, states.RUNNING), events=events), NOW + timedelta(minutes=3)
    )
    assert plan.status == stored.status
    assert plan.events == () and plan.pod_to_create is None and plan.pod_to_delete is None


def test_a_pod_created_just_before_a_crash_is_adopted_not_created_again() -> None:
    driver = Driver.of(run())
    first = driver.step(observe())
    assert first.pod_to_create is not None
    # The crash came after the Pod was created; the status still says CreatingPod.
    plan = driver.step(observe(job=job(maxConcurrentRuns=1), pod=pod_of(driver.run, states.CONTAINER_CREATING)))
    assert plan.pod_to_create is None
    assert driver.phase() == RunPhase.STARTING


def test_runs_carry_kstatus_conditions_so_flux_sees_in_progress_failed_and_current() -> None:
    def types(driver: Driver) -> dict[str, str]:
        return {condition.type: condition.status for condition in driver.status().conditions}

    driver = Driver.of(run())
    driver.step(observe())
    assert types(driver) == {"Succeeded": "Unknown", "Reconciling": "True"}
    events = [item for key in KEYS for item in (started("sales-1", key, 0), materialized("sales-1", key, 1))]
    driver.step(observe(pod=pod_of(driver.run, exited(0, "Completed")), events=events))
    assert types(driver) == {"Succeeded": "True"}

    failing = Driver.of(run("sales-2"))
    failing.step(observe())
    failing.step(observe(pod=pod_of(failing.run, exited(1))))
    assert types(failing) == {"Succeeded": "False", "Stalled": "True"}
    stalled = find_condition(failing.status().conditions, "Stalled")
    assert stalled is not None and stalled.message == failing.message()
