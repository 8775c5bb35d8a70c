"""maxConcurrentRuns: runs of a job queue in FIFO order, and no plan ever starts more than the limit."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kubeasset.api import AssetRun
from kubeasset.api.conditions import SUCCEEDED, find_condition
from kubeasset.api.runs import RunPhase
from kubeasset.reconcile.asset_run import plan_asset_run
from kubeasset.reconcile.run_pod import RunPodDefaults
from kubeasset.reconcile.run_queue import concurrency_wait
from tests.unit.reconcile import run_pod_states as states
from tests.unit.reconcile.asset_run_builders import (
    CREATED,
    KEYS,
    NOW,
    Driver,
    created_pod,
    exited,
    job,
    materialized,
    observe,
    pod_of,
    run,
    started,
    with_status,
)


def phase_status(phase: str) -> dict[str, object]:
    return {"phase": phase}


def queued(name: str, minute: int, **fields: object) -> AssetRun:
    return run(name, created=CREATED + timedelta(minutes=minute), **fields)  # type: ignore[arg-type]


def test_a_run_waits_while_the_limit_is_reached_and_says_why() -> None:
    active = queued("sales-1", 0, status=phase_status("Running"))
    waiting = queued("sales-2", 1)
    plan = plan_asset_run(waiting, observe(job=job(maxConcurrentRuns=1), job_runs=[active, waiting]), NOW)
    assert plan.pod_to_create is None
    assert plan.status.phase == RunPhase.PENDING
    condition = find_condition(plan.status.conditions, SUCCEEDED)
    assert condition is not None and condition.reason == "WaitingForConcurrency"
    assert plan.status.message is not None
    assert plan.status.message == (
        "waiting for a free slot: job 'sales' allows 1 concurrent run (maxConcurrentRuns); "
        "see kubectl get assetruns -l kubeasset.dev/job=sales"
    )
    assert [item.reason for item in plan.events] == ["RunQueued"]
    assert plan.status.progress == f"0/{len(KEYS)}"  # the assets it will run are already listed


def test_the_first_queued_run_starts_when_a_slot_frees_up_and_the_later_one_keeps_waiting() -> None:
    done = queued("sales-1", 0, status=phase_status("Succeeded"))
    first, second = queued("sales-2", 1), queued("sales-3", 2)
    observed = observe(job=job(maxConcurrentRuns=1), job_runs=[done, second, first])
    assert plan_asset_run(first, observed, NOW).pod_to_create is not None
    later = plan_asset_run(second, observed, NOW)
    assert later.pod_to_create is None
    # The message of a waiting run does not change as the queue moves: no status write per move.
    moved = observe(
        job=job(maxConcurrentRuns=1), job_runs=[second, with_status(first, plan_asset_run(first, observed, NOW).status)]
    )
    assert plan_asset_run(second, moved, NOW).status.message == later.status.message
    assert later.requeue_after == 300.0  # woken when a slot frees up; this is only the safety net


def test_runs_created_at_the_same_second_queue_by_name() -> None:
    b, a = queued("sales-b", 0), queued("sales-a", 0)
    observed = observe(job=job(maxConcurrentRuns=1), job_runs=[b, a])
    assert plan_asset_run(a, observed, NOW).pod_to_create is not None
    assert plan_asset_run(b, observed, NOW).pod_to_create is None


def test_a_run_whose_pod_was_asked_for_keeps_its_slot_against_a_same_second_newcomer() -> None:
    b = queued("sales-b", 0)
    the_job = job(maxConcurrentRuns=1)
    first = plan_asset_run(b, observe(job=the_job, job_runs=[b]), NOW)
    assert first.pod_to_create is not None
    b = with_status(b, first.status)
    a = queued("sales-a", 0)  # created later in the same second: its name sorts first
    observed = observe(job=the_job, job_runs=[a, b])
    assert plan_asset_run(a, observed, NOW).pod_to_create is None
    # b is Starting from the write that went with its Pod's creation; its Pod observed changes nothing.
    assert b.status is not None and b.status.phase == RunPhase.STARTING
    again = plan_asset_run(b, dataclasses.replace(observed, pod=created_pod(first.pod_to_create)), NOW)
    assert again.pod_to_create is None and again.status == b.status


def test_a_run_left_creating_its_pod_by_an_earlier_controller_keeps_its_slot_and_asks_again() -> None:
    creating = {"type": "Succeeded", "status": "Unknown", "reason": "CreatingPod", "message": "creating Pod sales-b"}
    asked = {"phase": "Pending", "conditions": [{**creating, "lastTransitionTime": "2025-03-02T05:00:00Z"}]}
    b = queued("sales-b", 0, status=asked)
    a = queued("sales-a", 0)
    observed = observe(job=job(maxConcurrentRuns=1), job_runs=[a, b])
    assert plan_asset_run(a, observed, NOW).pod_to_create is None
    plan = plan_asset_run(b, observed, NOW)  # its Pod is not in the cache (yet): created again, 409 is success
    assert plan.pod_to_create is not None and plan.status.phase == RunPhase.STARTING


def test_a_canceled_or_deleted_pending_run_ahead_does_not_hold_the_queue() -> None:
    canceled = queued("sales-1", 0, job="sales", cancel=True)
    deleting = queued("sales-2", 1).model_copy(
        update={"metadata": queued("sales-2", 1).metadata.model_copy(update={"deletion_timestamp": NOW})}
    )
    mine = queued("sales-3", 2)
    assert concurrency_wait(mine, limit=1, job_name="sales", job_runs=[canceled, deleting, mine]) is None


def test_a_run_being_canceled_still_holds_its_slot() -> None:
    canceling = queued("sales-1", 0, status=phase_status("Running"), job="sales", cancel=True)
    wait = concurrency_wait(queued("sales-2", 1), limit=1, job_name="sales", job_runs=[canceling])
    assert wait is not None and wait.active == ("sales-1",)


def test_a_run_with_a_pod_is_never_held_back_by_the_queue() -> None:
    # Adopting a Pod created before a restart must not depend on the queue: the Pod exists already.
    others = [queued("sales-0", -1, status=phase_status("Running"))]
    mine = queued("sales-1", 0)
    plan = plan_asset_run(
        mine, observe(job=job(maxConcurrentRuns=1), job_runs=others, pod=pod_of(mine, states.RUNNING)), NOW
    )
    assert plan.status.phase == RunPhase.RUNNING


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_many_runs_start_in_creation_order_and_never_beyond_the_limit(limit: int) -> None:
    # Created out of name order, so FIFO by creation time is what is tested, not by name.
    minutes = [5, 0, 3, 1, 4, 2, 6]
    runs = {f"sales-{index}": queued(f"sales-{index}", minute) for index, minute in enumerate(minutes)}
    pods: dict[str, dict[str, object]] = {}
    started_order: list[str] = []
    the_job = job(maxConcurrentRuns=limit)
    events = [item for key in KEYS for item in (started("x", key, 0), materialized("x", key, 1))]
    now = NOW
    for _ in range(40):
        # Every controller pass plans every run from the same snapshot, as a relist does.
        snapshot = list(runs.values())
        plans = {}
        for name, the_run in runs.items():
            pod = pods.get(name)
            observed = observe(job=the_job, job_runs=snapshot, pod=pod, events=events if pod else ())
            plans[name] = plan_asset_run(the_run, observed, now)
        for name, plan in plans.items():
            if plan.pod_to_create is not None:
                started_order.append(name)
                pods[name] = pod_of(runs[name], states.RUNNING, the_job=the_job)
            runs[name] = with_status(runs[name], plan.status)
        active = [
            name
            for name, item in runs.items()
            if item.status and item.status.phase in (RunPhase.STARTING, RunPhase.RUNNING)
        ]
        assert len(set(active) | {name for name, plan in plans.items() if plan.pod_to_create}) <= limit
        # The oldest running Pod finishes each pass.
        running = sorted(active, key=lambda name: runs[name].metadata.creation_timestamp)  # type: ignore[arg-type, return-value]
        if running:
            pods[running[0]] = pod_of(runs[running[0]], exited(0, "Completed"), the_job=the_job)
        now += timedelta(seconds=10)
        if all(item.status and item.status.phase == RunPhase.SUCCEEDED for item in runs.values()):
            break
    by_creation = sorted(runs, key=lambda name: runs[name].metadata.creation_timestamp)  # type: ignore[arg-type, return-value]
    assert started_order == by_creation
    assert all(item.status and item.status.phase == RunPhase.SUCCEEDED for item in runs.values())


# --- the controller-wide limit (Helm controller.maxConcurrentRuns) ---------------------------------------


def test_the_controller_wide_limit_counts_runs_of_every_job_and_namespace() -> None:
    other_job = run("marketing-1", created=CREATED, status=phase_status("Running"), job="marketing")
    ad_hoc = run("adhoc-1", created=CREATED, status=phase_status("Running"), codeLocation="shop", selection="*")
    waiting = queued("sales-2", 1)
    observed = observe(
        job=job(), job_runs=[waiting], max_concurrent_runs=2, unfinished_runs=[other_job, ad_hoc, waiting]
    )
    plan = plan_asset_run(waiting, observed, NOW)
    assert plan.pod_to_create is None
    condition = find_condition(plan.status.conditions, SUCCEEDED)
    assert condition is not None and condition.reason == "WaitingForConcurrency"
    message = plan.status.message or ""
    assert "the controller allows 2 concurrent runs in all" in message
    assert "controller.maxConcurrentRuns" in message

    # One slot frees up: the run starts; without the limit nothing held it back.
    finished = run("marketing-1", created=CREATED, status=phase_status("Succeeded"), job="marketing")
    observed = observe(job=job(), job_runs=[waiting], max_concurrent_runs=2, unfinished_runs=[ad_hoc, waiting])
    assert plan_asset_run(waiting, observed, NOW).pod_to_create is not None
    assert finished.status is not None  # a finished run is not in the unfinished list the controller passes


def test_under_both_limits_a_run_needs_a_slot_of_its_job_and_of_the_controller() -> None:
    active = queued("sales-1", 0, status=phase_status("Running"))
    waiting = queued("sales-2", 1)
    # The controller has room, the job has not.
    observed = observe(
        job=job(maxConcurrentRuns=1),
        job_runs=[active, waiting],
        max_concurrent_runs=10,
        unfinished_runs=[active, waiting],
    )
    plan = plan_asset_run(waiting, observed, NOW)
    assert plan.pod_to_create is None and "job 'sales' allows 1" in (plan.status.message or "")


def test_a_controller_wide_burst_starts_exactly_the_limit_in_creation_order() -> None:
    burst = [queued(f"sales-{index:03}", index) for index in range(50)]
    observed = observe(job=job(), job_runs=burst, max_concurrent_runs=5, unfinished_runs=burst)
    started_runs = [item.metadata.name for item in burst if plan_asset_run(item, observed, NOW).pod_to_create]
    assert started_runs == [f"sales-{index:03}" for index in range(5)]


# --- Pod clean-up (Helm controller.podCleanup) -----------------------------------------------------------


def _finished_run(exit_code: int) -> tuple[Driver, dict[str, object]]:
    driver = Driver.of(run())
    driver.step(observe())
    events = [item for key in KEYS for item in (started("sales-1", key, 0), materialized("sales-1", key, 1))]
    pod = pod_of(driver.run, exited(exit_code, "Completed" if exit_code == 0 else "Error"))
    driver.step(observe(pod=pod, events=events if exit_code == 0 else events[:1]))
    return driver, pod


def test_a_succeeded_runs_pod_is_deleted_after_the_clean_up_delay_counted_from_completion() -> None:
    driver, pod = _finished_run(0)
    assert driver.phase() == RunPhase.SUCCEEDED
    completed = driver.status().completion_time
    assert completed is not None
    defaults = RunPodDefaults(delete_succeeded_pod_after_seconds=3600, delete_failed_pod_after_seconds=86400)
    early = plan_asset_run(driver.run, observe(pod=pod, defaults=defaults), completed + timedelta(minutes=10))
    assert early.pod_to_delete is None
    assert early.requeue_after == pytest.approx(50 * 60)  # it wakes up when the delay is over
    due = plan_asset_run(driver.run, observe(pod=pod, defaults=defaults), completed + timedelta(hours=1))
    assert due.pod_to_delete is not None and due.pod_to_delete.name == pod["metadata"]["name"]  # type: ignore[index]
    assert due.status == driver.status()  # the results stay; nothing else changes
    gone = plan_asset_run(driver.run, observe(pod=None, defaults=defaults), completed + timedelta(hours=2))
    assert gone.status == driver.status() and gone.pod_to_delete is None


def test_a_failed_runs_pod_follows_the_failed_delay_and_none_keeps_pods() -> None:
    driver, pod = _finished_run(1)
    assert driver.phase() == RunPhase.FAILED
    completed = driver.status().completion_time
    assert completed is not None
    defaults = RunPodDefaults(delete_succeeded_pod_after_seconds=60, delete_failed_pod_after_seconds=86400)
    assert (
        plan_asset_run(driver.run, observe(pod=pod, defaults=defaults), completed + timedelta(hours=1)).pod_to_delete
        is None
    )
    assert plan_asset_run(driver.run, observe(pod=pod, defaults=defaults), completed + timedelta(days=1)).pod_to_delete
    kept = plan_asset_run(driver.run, observe(pod=pod), completed + timedelta(days=365))
    assert kept.pod_to_delete is None and kept.requeue_after is None
