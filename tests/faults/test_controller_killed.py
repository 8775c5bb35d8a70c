"""The controller killed (SIGKILL) at random points of 50 runs and started again, several times, while a
schedule ticks every minute: every run ends with the right final status and per-asset results, no run ever
has two Pods, no status goes back (a final one never changes), and every tick gets exactly one run.

The points are random but reproducible: the seed is printed (and shown in every failure); set
KUBEASSET_FAULT_SEED to replay a run of the test. One kill is always placed across the first minute
boundary, so a tick falls while the controller is dead and must be caught up (catchUpLimit) after it.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.faults.support import FaultRecorder, FaultSite, asset_states, fault_job, phase, wait_until
from tests.integration.controller.conftest import GROUP, VERSION, create
from tests.integration.controller.run_failure_helpers import regressions

NODE = "kubeasset-faults-controller-kills"
RUNS = 50
SCHEDULE = "every-minute"
#: What each job's run must end as.
EXPECTED = {
    "pair": ("Succeeded", {"first": "Materialized", "second": "Materialized"}),
    "boom": ("Failed", {"ok": "Materialized", "fails": "Failed"}),
    "ticks": ("Succeeded", {"tick": "Materialized"}),
}


@pytest.mark.timeout(420)
def test_a_controller_killed_at_random_points_loses_nothing(fault_site: FaultSite) -> None:
    seed = int(os.environ.get("KUBEASSET_FAULT_SEED", str(time.time_ns() % 1_000_000)))
    print(f"fault seed: KUBEASSET_FAULT_SEED={seed}")
    try:
        _test(fault_site, random.Random(seed))
    except AssertionError as error:
        raise AssertionError(f"[KUBEASSET_FAULT_SEED={seed}] {error}") from None


def _test(site: FaultSite, rng: random.Random) -> None:
    custom, namespace, controller = site.custom, site.namespace, site.controller
    site.deploy(
        "kills",
        # `second` sleeps a moment so that kills also land while an asset runs.
        fault_job("pair", "kills", "pair", max_concurrent_runs=8, env={"FAULT_SLEEP_SECONDS": "1"}),
        fault_job("boom", "kills", "boom", max_concurrent_runs=4),
        fault_job("ticks", "kills", "tick"),
    )

    with FaultRecorder(site.api_client, namespace) as recorder:
        created = datetime.now(UTC)
        create(custom, namespace, _schedule(SCHEDULE, "ticks"))
        first_tick = created.replace(second=0, microsecond=0) + timedelta(minutes=1)
        second_tick = first_tick + timedelta(minutes=1)

        jobs = {f"run-{number:02d}": ("boom" if rng.random() < 0.2 else "pair") for number in range(RUNS)}
        plan = _plan(rng, list(jobs), first_tick, second_tick)
        kills = 0
        for at, action, name in plan:
            delay = (at - datetime.now(UTC)).total_seconds()
            if delay > 0:
                time.sleep(delay)
            if action == "create":
                site.create_run(name, jobs[name])
            elif action == "kill":
                controller.kill()
                kills += 1
            else:
                controller.restart()
        if not controller.alive:
            controller.restart()
        print(f"{kills} kills, {RUNS} runs, ticks from {first_tick:%H:%M} on")

        def settled() -> bool:
            runs = site.runs()
            ticks = [run for name, run in runs.items() if name.startswith(f"{SCHEDULE}-")]
            return (
                all(phase(runs.get(name)) in ("Succeeded", "Failed") for name in jobs)
                and len(ticks) >= 2
                and all(phase(run) in ("Succeeded", "Failed") for run in ticks)
            )

        wait_until(
            settled, lambda: f"every run final and two ticks run: {site.phase_counts(by_job=True)}", 150, poll=1.0
        )
        # One more kill after everything ended: a restarted controller must leave final runs as they are, and
        # catch up a tick that fell meanwhile. Then every tick due (bar one in the last seconds) has a final run.
        controller.kill()
        controller.restart()
        time.sleep(3.0)

        def ticks_caught_up() -> bool:
            runs = site.runs()
            ticks = {_scheduled(run): run for run in runs.values() if run["spec"]["job"] == "ticks"}
            due = _boundaries(created, datetime.now(UTC) - timedelta(seconds=3))
            return all(phase(ticks.get(moment)) in ("Succeeded", "Failed") for moment in due)

        wait_until(ticks_caught_up, lambda: f"the ticks caught up: {site.phase_counts(by_job=True)}", 60, poll=1.0)
        time.sleep(1.0)  # let the recorder see anything a confused controller might still write
        runs = site.runs()
        listed = datetime.now(UTC)

    # A tick that fell in the last seconds may be on its way: it is only held to "at most one run".
    recent = {
        name
        for name, run in runs.items()
        if run["spec"]["job"] == "ticks" and _scheduled(run) > listed - timedelta(seconds=5)
    }
    wrong = {}
    for name, run in runs.items():
        want_phase, want_assets = EXPECTED[run["spec"]["job"]]
        if name not in recent and (phase(run), asset_states(run)) != (want_phase, want_assets):
            wrong[name] = (phase(run), asset_states(run), (run.get("status") or {}).get("message"))
    assert wrong == {}, f"runs with a wrong final status: {wrong}"
    assert set(jobs) <= set(runs)

    pods = recorder.pods_by_name()
    assert {name: uids for name, uids in pods.items() if len(uids) > 1} == {}, "a run had two Pods"
    assert set(runs) - recent <= set(pods) <= set(runs), "a run without a Pod, or a Pod without a run"
    changed = {name: found for name in runs if (found := regressions(recorder.statuses(name)))}
    assert changed == {}, f"statuses that went back: {changed}"

    # Every minute boundary since the schedule was created has exactly one run; none outside them.
    ticks = sorted(_scheduled(run) for run in runs.values() if run["spec"]["job"] == "ticks")
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {ticks}"
    due = _boundaries(created, listed)
    assert set(_boundaries(created, listed - timedelta(seconds=5))) <= set(ticks) <= set(due), (due, ticks)


def _plan(
    rng: random.Random, names: list[str], first_tick: datetime, second_tick: datetime
) -> list[tuple[datetime, str, str]]:
    """(when, "create"|"kill"|"restart", run name) in time order: runs created over about a minute, kills at
    random moments until past the second tick, each dead for 0.3-6 s; one kill spans the first tick."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    plan: list[tuple[datetime, str, str]] = []
    moment = start
    for name in names:
        moment += timedelta(seconds=rng.uniform(0.2, 2.0))
        plan.append((moment, "create", name))
    ticked = (first_tick - timedelta(seconds=2), first_tick + timedelta(seconds=4))
    moment = start + timedelta(seconds=rng.uniform(0.5, 3.0))
    while moment < second_tick + timedelta(seconds=5):
        down = timedelta(seconds=rng.uniform(0.3, 6.0))
        if not (moment + down < ticked[0] or moment > ticked[1]):
            moment = ticked[1] + timedelta(seconds=rng.uniform(2, 6))  # the kill across the tick is below
            continue
        plan += [(moment, "kill", ""), (moment + down, "restart", "")]
        moment += down + timedelta(seconds=rng.uniform(2.0, 15.0))
    plan += [(ticked[0], "kill", ""), (ticked[1], "restart", "")]
    return sorted(plan, key=lambda item: (item[0], item[1] != "kill"))


def _schedule(name: str, job: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetSchedule",
        "metadata": {"name": name},
        # catchUpLimit 5: a controller down across a tick starts it when it is back (the default, 1, would too;
        # 5 also covers two ticks missed in a row); the history limits keep every run for the checks.
        "spec": {
            "job": job,
            "cron": "* * * * *",
            "catchUpLimit": 5,
            "successfulRunsHistoryLimit": 1000,
            "failedRunsHistoryLimit": 1000,
        },
    }


def _scheduled(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["spec"]["trigger"]["scheduledTime"].replace("Z", "+00:00"))


def _boundaries(start: datetime, end: datetime) -> list[datetime]:
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    found = []
    while moment <= end:
        found.append(moment)
        moment += timedelta(minutes=1)
    return found
