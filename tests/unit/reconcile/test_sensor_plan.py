"""plan_sensor with a fake clock and a fake catalog: when a sensor fires, that each materialization
fires at most once (cursor), batching, the minimum interval, suspension, and replay after a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubeasset.api import AssetJob, AssetRun, AssetSensor, Materialization, parse_resource
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.reconcile.sensor import SensorObservation, SensorPlan, plan_sensor, sensor_run_name

UID = "sensor-uid"
GRAPH = AssetGraph(
    [
        AssetSpec(AssetKey(["raw", "orders"]), group_name="raw"),
        AssetSpec(AssetKey(["raw", "customers"]), group_name="raw"),
        AssetSpec(AssetKey("report"), deps=(AssetKey(["raw", "orders"]),), group_name="marketing"),
    ]
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sensor(status: dict[str, Any] | None = None, **spec: Any) -> AssetSensor:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetSensor",
        "metadata": {
            "name": "on-raw",
            "namespace": "shop",
            "uid": UID,
            "generation": 2,
            "creationTimestamp": "2027-05-01T00:00:00Z",
        },
        "spec": {"job": "report-job", "selection": "group:raw", "minimumIntervalSeconds": 0, **spec},
    }
    if status is not None:
        body["status"] = status
    resource = parse_resource(body)
    assert isinstance(resource, AssetSensor)
    return resource


def job(ready: bool = True) -> AssetJob:
    body = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetJob",
        "metadata": {"name": "report-job", "namespace": "shop", "uid": "job-uid"},
        "spec": {"codeLocation": "shop", "selection": "report"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "Resolved" if ready else "NoAssets",
                    "message": "",
                    "lastTransitionTime": "2027-01-01T00:00:00Z",
                }
            ]
        },
    }
    resource = parse_resource(body)
    assert isinstance(resource, AssetJob)
    return resource


def mat(time: str, run_name: str = "ingest-1") -> Materialization:
    return Materialization(run_name=run_name, time=at(time))


def observe(
    materializations: dict[str, Materialization], runs: list[AssetRun] | None = None, **kwargs: Any
) -> SensorObservation:
    return SensorObservation(
        job=kwargs.get("job", job()),
        graph=kwargs.get("graph", GRAPH),
        materializations=materializations,
        runs=runs or [],
    )


def applied(resource: AssetSensor, plan: SensorPlan) -> AssetSensor:
    """The sensor as the API server holds it after the controller applied ``plan``'s status."""
    return sensor(plan.status.to_json(), **resource.spec.to_json())


def test_any_fires_on_one_new_materialization_and_records_the_cursor() -> None:
    resource = sensor(tags={"trigger": "raw"})
    plan = plan_sensor(resource, observe({"raw/orders": mat("2027-05-01T10:00:00")}), at("2027-05-01T10:00:05"))

    (manifest,) = plan.create
    name = manifest["metadata"]["name"]
    assert name.startswith("on-raw-") and len(name) == len("on-raw-") + 10
    assert manifest["spec"]["trigger"] == {"type": "Sensor", "sensor": "on-raw"}
    assert manifest["spec"]["job"] == "report-job" and manifest["spec"]["tags"] == {"trigger": "raw"}
    assert manifest["metadata"]["labels"]["kubeasset.dev/sensor"] == "on-raw"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == UID
    parse_resource(manifest)

    status = plan.status
    assert [(entry.key, entry.time, entry.run_name) for entry in status.cursor or []] == [
        ("raw/orders", at("2027-05-01T10:00:00"), "ingest-1")
    ]
    assert status.last_trigger is not None and status.last_trigger.run_name == name
    assert status.last_trigger.assets == ["raw/orders"]
    assert status.conditions[0].reason == "Watching" and status.conditions[0].status == "True"


def test_each_materialization_fires_at_most_once_across_restarts() -> None:
    seen = {"raw/orders": mat("2027-05-01T10:00:00")}
    first = plan_sensor(sensor(), observe(seen), at("2027-05-01T10:00:05"))
    later = plan_sensor(applied(sensor(), first), observe(seen), at("2027-05-01T11:00:00"))
    assert later.create == () and later.status == first.status  # nothing new: no run, no status change

    newer = {"raw/orders": mat("2027-05-01T12:00:00", "ingest-2")}
    third = plan_sensor(applied(sensor(), first), observe(newer), at("2027-05-01T12:00:05"))
    assert len(third.create) == 1 and third.create[0]["metadata"]["name"] != first.create[0]["metadata"]["name"]


def test_a_replayed_plan_after_a_lost_status_write_names_the_same_run_and_does_not_recreate_it() -> None:
    seen = {"raw/orders": mat("2027-05-01T10:00:00")}
    first = plan_sensor(sensor(), observe(seen), at("2027-05-01T10:00:05"))
    created = parse_resource(
        {**first.create[0], "metadata": {**first.create[0]["metadata"], "creationTimestamp": "2027-05-01T10:00:06Z"}}
    )
    assert isinstance(created, AssetRun)
    replay = plan_sensor(sensor(), observe(seen, [created]), at("2027-05-01T10:03:00"))
    assert replay.create == ()
    assert replay.status.cursor == first.status.cursor
    assert replay.status.last_trigger is not None and replay.status.last_trigger.time == at("2027-05-01T10:00:06")
    assert sensor_run_name("on-raw", seen) == first.create[0]["metadata"]["name"]


def test_all_waits_for_every_watched_asset_then_fires_once() -> None:
    resource = sensor(trigger="all")
    partial = plan_sensor(resource, observe({"raw/orders": mat("2027-05-01T10:00:00")}), at("2027-05-01T10:00:05"))
    assert partial.create == () and not partial.status.cursor

    both = {"raw/orders": mat("2027-05-01T10:00:00"), "raw/customers": mat("2027-05-01T10:30:00", "ingest-c")}
    fired = plan_sensor(applied(resource, partial), observe(both), at("2027-05-01T10:30:05"))
    assert len(fired.create) == 1
    assert fired.status.last_trigger is not None and fired.status.last_trigger.assets == ["raw/customers", "raw/orders"]

    again = {**both, "raw/orders": mat("2027-05-01T11:00:00", "ingest-3")}
    one_new = plan_sensor(applied(resource, fired), observe(again), at("2027-05-01T11:00:05"))
    assert one_new.create == ()  # customers has nothing new since the trigger


def test_materializations_before_the_sensor_existed_do_not_fire() -> None:
    plan = plan_sensor(sensor(), observe({"raw/orders": mat("2027-04-30T23:00:00")}), at("2027-05-01T10:00:00"))
    assert plan.create == ()


def test_unwatched_assets_do_not_fire() -> None:
    plan = plan_sensor(sensor(), observe({"report": mat("2027-05-01T10:00:00")}), at("2027-05-01T10:00:05"))
    assert plan.create == ()


def test_the_minimum_interval_batches_materializations_into_one_later_run() -> None:
    resource = sensor(minimumIntervalSeconds=600)
    first = plan_sensor(resource, observe({"raw/orders": mat("2027-05-01T10:00:00")}), at("2027-05-01T10:00:05"))
    burst = {
        "raw/orders": mat("2027-05-01T10:02:00", "ingest-2"),
        "raw/customers": mat("2027-05-01T10:03:00", "ingest-c"),
    }
    waiting = plan_sensor(applied(resource, first), observe(burst), at("2027-05-01T10:03:05"))
    assert waiting.create == () and waiting.requeue_at == at("2027-05-01T10:10:05")
    assert waiting.requeue_after == pytest.approx(420)

    fired = plan_sensor(applied(resource, first), observe(burst), at("2027-05-01T10:10:05"))
    assert len(fired.create) == 1
    assert fired.status.last_trigger is not None and fired.status.last_trigger.assets == ["raw/customers", "raw/orders"]


def test_a_suspended_sensor_keeps_its_cursor_and_fires_on_resume() -> None:
    seen = {"raw/orders": mat("2027-05-01T10:00:00")}
    suspended = plan_sensor(sensor(suspend=True), observe(seen), at("2027-05-01T10:00:05"))
    assert suspended.create == () and suspended.status.conditions[0].reason == "Suspended"
    resumed = plan_sensor(applied(sensor(), suspended), observe(seen), at("2027-05-02T09:00:00"))
    assert len(resumed.create) == 1


@pytest.mark.parametrize(
    ("kwargs", "spec", "reason"),
    [
        ({"job": None}, {}, "JobNotFound"),
        ({"job": job(ready=False)}, {}, "JobNotReady"),
        ({"graph": None}, {}, "CodeLocationNotReady"),
        ({}, {"selection": "group:raw and ("}, "InvalidSelection"),
        ({}, {"selection": "group:nothing"}, "NoWatchedAssets"),
    ],
)
def test_a_sensor_that_cannot_watch_says_why_and_fires_nothing(
    kwargs: dict[str, Any], spec: dict[str, Any], reason: str
) -> None:
    resource = sensor(**spec)
    plan = plan_sensor(
        resource, observe({"raw/orders": mat("2027-05-01T10:00:00")}, **kwargs), at("2027-05-01T10:00:05")
    )
    (ready,) = plan.status.conditions
    assert (ready.status, ready.reason) == ("False", reason) and ready.message
    assert plan.create == () and [e.reason for e in plan.events] == [reason]
    again = plan_sensor(
        applied(resource, plan),
        observe({"raw/orders": mat("2027-05-01T10:00:00")}, **kwargs),
        at("2027-05-01T10:01:00"),
    )
    assert again.events == ()  # warned once, not on every evaluation


def test_history_limits_delete_the_sensors_oldest_finished_runs() -> None:
    def finished(index: int, phase: str) -> AssetRun:
        body = {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetRun",
            "metadata": {
                "name": f"on-raw-{index:010d}",
                "uid": f"u{index}",
                "creationTimestamp": f"2027-05-01T0{index}:00:00Z",
                "ownerReferences": [
                    {"apiVersion": "kubeasset.dev/v1alpha1", "kind": "AssetSensor", "name": "on-raw", "uid": UID}
                ],
            },
            "spec": {"job": "report-job", "trigger": {"type": "Sensor", "sensor": "on-raw"}},
            "status": {"phase": phase, "completionTime": f"2027-05-01T0{index}:10:00Z"},
        }
        resource = parse_resource(body)
        assert isinstance(resource, AssetRun)
        return resource

    runs = [finished(i, "Succeeded") for i in range(5)] + [finished(5, "Failed"), finished(6, "Failed")]
    plan = plan_sensor(
        sensor(successfulRunsHistoryLimit=3, failedRunsHistoryLimit=1), observe({}, runs), at("2027-05-01T09:00:00")
    )
    assert [d.name for d in plan.delete] == ["on-raw-0000000000", "on-raw-0000000001", "on-raw-0000000005"]
    assert plan.status.last_run is not None and plan.status.last_run.name == "on-raw-0000000006"
