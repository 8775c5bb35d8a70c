"""AssetSchedules on the real API server: ticks of ``* * * * *`` start exactly one run each, on time, with a
name derived from the scheduled instant, while TWO controllers reconcile the namespace; Forbid skips a tick
while a run is active and says why; Replace cancels the active run; a controller that comes back after
several missed ticks starts only what the catch-up rules allow, and a restart after that starts nothing;
an invalid cron expression or time zone is Ready=False with the error's position.

The every-minute, Forbid and Replace schedules share one namespace and one pair of ticks (a module
fixture), so the module waits for two minute boundaries once (60-120 s), not once per test.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.conftest import eventually
from tests.integration.controller.conftest import create, get, wait_for_condition
from tests.integration.triggers.conftest import (
    controller_thread,
    events_of,
    pending_job,
    runs_of,
    schedule,
    shifted_clock,
    shop_location,
)

SCHEDULE = "kubeasset.dev/schedule"
SCHEDULED_TIME = "kubeasset.dev/scheduled-time"
EVERY_MINUTE = ["* * * * *"]
#: A run is "on time" when its object was created at most this long after its scheduled instant (the
#: creationTimestamp has whole seconds; two controllers and a loaded machine get some slack).
ON_TIME_SECONDS = 5


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _minute_after(moment: datetime) -> datetime:
    """The first whole minute strictly after ``moment``: the first tick of ``* * * * *``."""
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _run_name(schedule_name: str, tick: datetime) -> str:
    return f"{schedule_name}-{int(tick.timestamp()) // 60}"


def _scheduled(run: dict[str, Any]) -> datetime:
    return _time(run["spec"]["trigger"]["scheduledTime"])


@contextlib.contextmanager
def _module_namespace(core: client.CoreV1Api, what: str) -> Iterator[str]:
    name = f"t-{what}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


@dataclass(frozen=True)
class Ticking:
    namespace: str
    first: datetime
    """The first tick after the schedules were created."""
    second: datetime


@pytest.fixture(scope="module")
def ticking(
    api_client: client.ApiClient, kubeconfig: Path, crds: list[dict[str, Any]], kubelet: Any
) -> Iterator[Ticking]:
    """Two controllers on one namespace; a Ready job whose runs stay Pending; schedules every minute with
    Allow, Forbid and Replace, plus two invalid ones; returns once two ticks have passed."""
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    with _module_namespace(core, "schedule-ticks") as namespace:
        first_controller = controller_thread(namespace, kubeconfig).start()
        second_controller = controller_thread(namespace, kubeconfig).start()
        try:
            create(custom, namespace, shop_location())
            create(custom, namespace, pending_job("pending", "group:sales"))
            wait_for_condition(custom, namespace, "assetjobs", "pending", "True", timeout=90)
            while datetime.now(UTC).second >= 57:  # create all three within one minute
                time.sleep(0.2)
            created: list[datetime] = []
            for name, spec in (
                ("every-minute", {}),
                ("forbid", {"concurrencyPolicy": "Forbid"}),
                ("replace", {"concurrencyPolicy": "Replace"}),
            ):
                # every-minute writes its one expression as a bare string, as a CronJob's schedule is written.
                cron: str | list[str] = EVERY_MINUTE[0] if name == "every-minute" else EVERY_MINUTE
                body = create(custom, namespace, schedule(name, "pending", cron, **spec))
                created.append(_time(body["metadata"]["creationTimestamp"]))
            create(custom, namespace, schedule("bad-cron", "pending", ["@daily", "0 25 * * *"]))
            create(custom, namespace, schedule("bad-cron-shape", "pending", {"hour": 6}))
            create(custom, namespace, schedule("bad-zone", "pending", EVERY_MINUTE, timezone="Mars/Olympus"))
            first = _minute_after(max(created))
            assert _minute_after(min(created)) == first, "the schedules straddle a minute boundary: rerun"
            second = first + timedelta(minutes=1)
            time.sleep(max((second - datetime.now(UTC)).total_seconds(), 0.0))
            eventually(
                lambda: any(_scheduled(run) == second for run in runs_of(custom, namespace, SCHEDULE, "every-minute")),
                "the second tick's run",
                timeout=30,
            )
            time.sleep(3)  # late duplicates, if any, would show up now
            yield Ticking(namespace, first, second)
        finally:
            first_controller.stop()
            second_controller.stop()


def test_every_minute_starts_exactly_one_run_per_tick_on_time_despite_two_controllers(
    ticking: Ticking, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    runs = [
        run for run in runs_of(custom, ticking.namespace, SCHEDULE, "every-minute") if _scheduled(run) <= ticking.second
    ]
    assert [run["metadata"]["name"] for run in runs] == [
        _run_name("every-minute", ticking.first),
        _run_name("every-minute", ticking.second),
    ]
    for run, tick in zip(runs, (ticking.first, ticking.second), strict=True):
        assert _scheduled(run) == tick
        assert _time(run["metadata"]["annotations"][SCHEDULED_TIME]) == tick
        assert run["spec"]["trigger"] == {"type": "Schedule", "schedule": "every-minute", "scheduledTime": _z(tick)}
        assert run["spec"]["job"] == "pending"
        lateness = (_time(run["metadata"]["creationTimestamp"]) - tick).total_seconds()
        assert 0 <= lateness <= ON_TIME_SECONDS, f"{run['metadata']['name']} started {lateness}s after its tick"
        owner = run["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("AssetSchedule", "every-minute", True)

    status = (get(custom, ticking.namespace, "assetschedules", "every-minute") or {})["status"]
    assert _time(status["lastScheduleTime"]) >= ticking.second
    assert _time(status["nextScheduleTime"]) > datetime.now(UTC) - timedelta(seconds=1)
    assert {_run_name("every-minute", ticking.first), _run_name("every-minute", ticking.second)} <= set(
        status["activeRuns"]
    )


def test_forbid_skips_the_tick_while_a_run_is_active_and_says_why(
    ticking: Ticking, api_client: client.ApiClient
) -> None:
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    runs = [run for run in runs_of(custom, ticking.namespace, SCHEDULE, "forbid") if _scheduled(run) <= ticking.second]
    assert [run["metadata"]["name"] for run in runs] == [_run_name("forbid", ticking.first)]

    status = (get(custom, ticking.namespace, "assetschedules", "forbid") or {})["status"]
    assert status["activeRuns"] == [_run_name("forbid", ticking.first)]
    skipped = [event for event in events_of(core, ticking.namespace, "forbid") if event.reason == "TickSkipped"]
    assert skipped, "no TickSkipped Event"
    assert any(
        _z(ticking.second) in event.message
        and _run_name("forbid", ticking.first) in event.message
        and "Forbid" in event.message
        for event in skipped
    ), [event.message for event in skipped]


def test_replace_cancels_the_active_run_and_starts_the_new_tick(ticking: Ticking, api_client: client.ApiClient) -> None:
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    runs = {run["metadata"]["name"]: run for run in runs_of(custom, ticking.namespace, SCHEDULE, "replace")}
    old, new = _run_name("replace", ticking.first), _run_name("replace", ticking.second)
    assert old in runs and new in runs
    assert runs[old]["spec"].get("cancel") is True
    assert not runs[new]["spec"].get("cancel")
    replaced = [event for event in events_of(core, ticking.namespace, "replace") if event.reason == "RunsReplaced"]
    assert any(old in event.message for event in replaced), [event.message for event in replaced]


def test_invalid_cron_and_time_zone_are_not_ready_with_the_errors_position(
    ticking: Ticking, api_client: client.ApiClient
) -> None:
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    bad_cron = wait_for_condition(
        custom, ticking.namespace, "assetschedules", "bad-cron", "False", reason="InvalidCron"
    )
    message = _ready(bad_cron)["message"]
    assert message.startswith("spec.cron[1]: ")
    assert "hour field, column 3" in message and "25 is out of range 0-23" in message
    assert "nextScheduleTime" not in bad_cron["status"]
    # The API server keeps any value in the untyped cron field; the controller says what is wrong with it.
    bad_shape = wait_for_condition(
        custom, ticking.namespace, "assetschedules", "bad-cron-shape", "False", reason="InvalidCron"
    )
    expected = 'spec.cron must be a cron expression or a list of 1-16 of them, got {"hour": 6}'
    assert expected in _ready(bad_shape)["message"]
    bad_zone = wait_for_condition(
        custom, ticking.namespace, "assetschedules", "bad-zone", "False", reason="InvalidTimezone"
    )
    assert "'Mars/Olympus'" in _ready(bad_zone)["message"]
    for name in ("bad-cron", "bad-cron-shape", "bad-zone"):
        assert runs_of(custom, ticking.namespace, SCHEDULE, name) == []
        assert any(event.type == "Warning" for event in events_of(core, ticking.namespace, name))


# --- downtime ---------------------------------------------------------------------------------------

#: How long the controller was "down": whole minutes, so its shifted clock's minute boundaries are the real ones.
DOWNTIME = timedelta(minutes=6)


def test_after_downtime_only_what_the_catch_up_rules_allow_starts_and_a_restart_starts_nothing(
    api_client: client.ApiClient, kubeconfig: Path, crds: list[dict[str, Any]], kubelet: Any, namespace: str
) -> None:
    """Downtime is played by the controller's clock: the controller that comes back runs DOWNTIME ahead of
    the real clock, so it finds the ticks of six minutes missed (the API server's own timestamps stay real)."""
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    schedules = {
        "latest-only": ({}, 1),  # the default: as CronJob, only the most recent missed tick
        "three": ({"catchUpLimit": 3}, 3),
        "deadline": ({"catchUpLimit": 5, "startingDeadlineSeconds": 170}, None),  # ticks of the last 170 s
    }
    with controller_thread(namespace, kubeconfig) as before:
        create(custom, namespace, shop_location())
        create(custom, namespace, pending_job("pending", "group:sales"))
        wait_for_condition(custom, namespace, "assetjobs", "pending", "True", timeout=90)
        for name, (spec, _) in schedules.items():
            create(custom, namespace, schedule(name, "pending", EVERY_MINUTE, **spec))
        for name in schedules:
            wait_for_condition(custom, namespace, "assetschedules", name, "True", reason="Scheduled", timeout=30)
    assert not before.running

    # Come back in the quiet part of a minute, so no tick falls while the returning controller decides.
    while not 5 <= datetime.now(UTC).second <= 30:
        time.sleep(0.5)
    since = {}
    for name in schedules:
        obj = get(custom, namespace, "assetschedules", name) or {}
        started = [_scheduled(run) for run in runs_of(custom, namespace, SCHEDULE, name)]
        since[name] = max([_time(obj["metadata"]["creationTimestamp"]), *started])
    fake_now = datetime.now(UTC) + DOWNTIME
    missed = {name: _ticks_between(since[name], fake_now) for name in schedules}
    assert all(len(ticks) >= 5 for ticks in missed.values()), missed
    expected = {
        "latest-only": missed["latest-only"][-1:],
        "three": missed["three"][-3:],
        "deadline": [tick for tick in missed["deadline"] if tick >= fake_now - timedelta(seconds=170)],
    }

    def new_runs(name: str) -> list[datetime]:
        # A tick after fake_now may fire on time while the test looks: not part of the catch-up.
        scheduled = (_scheduled(run) for run in runs_of(custom, namespace, SCHEDULE, name))
        return sorted(tick for tick in scheduled if since[name] < tick <= fake_now)

    with controller_thread(namespace, kubeconfig, clock=shifted_clock(DOWNTIME)):
        eventually(lambda: all(new_runs(name) == expected[name] for name in schedules), "the catch-up runs", timeout=15)
        time.sleep(2)  # nothing more comes
        assert {name: new_runs(name) for name in schedules} == expected
        status = (get(custom, namespace, "assetschedules", "latest-only") or {})["status"]
        assert _time(status["lastScheduleTime"]) == expected["latest-only"][-1]
        missed_events = [e for e in events_of(core, namespace, "latest-only") if e.reason == "MissedTicks"]
        assert any(f"{len(missed['latest-only']) - 1} missed tick(s)" in e.message for e in missed_events), [
            e.message for e in missed_events
        ]

    # A restart (the same clock) finds the runs and the status: it starts nothing.
    with controller_thread(namespace, kubeconfig, clock=shifted_clock(DOWNTIME)) as again:
        eventually(again.idle, "the restarted controller to settle", timeout=15)
        time.sleep(2)
        assert {name: new_runs(name) for name in schedules} == expected


def _ticks_between(start: datetime, end: datetime) -> list[datetime]:
    """The ticks of ``* * * * *`` in (start, end]."""
    ticks, tick = [], _minute_after(start)
    while tick <= end:
        ticks.append(tick)
        tick += timedelta(minutes=1)
    return ticks


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
