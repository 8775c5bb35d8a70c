"""AssetSensors on the real API server: a sensor starts one run per new materialization of a watched asset,
none for unwatched assets or for what it already consumed, ``trigger: all`` waits for every watched asset,
and the cursor in its status carries across controller restarts (a materialization while the controller
is down starts exactly one run when it is back; a further restart starts nothing).

What stands in for a run here: the test writes the Asset's ``status.lastMaterialization`` itself, as the
run controller does when a run materializes an asset. The sensor reads nothing else, so this proves the
sensor's side (what it consumes, when it fires, what survives a restart), not that real runs write
materializations (that is the AssetRun tests' business).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.integration.conftest import eventually
from tests.integration.controller.conftest import GROUP, VERSION, condition, create, get, wait_for_condition
from tests.integration.triggers.conftest import (
    controller_thread,
    pending_job,
    runs_of,
    sensor,
    shop_location,
)

SENSOR = "kubeasset.dev/sensor"


def _materialize(custom: client.CustomObjectsApi, namespace: str, asset: str, run_name: str) -> datetime:
    """Record a materialization of the Asset object ``asset`` as the run controller would."""
    moment = datetime.now(UTC).replace(microsecond=0)
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "assets",
        asset,
        {
            "status": {
                "state": "Materialized",
                "lastMaterialization": {"runName": run_name, "time": moment.isoformat().replace("+00:00", "Z")},
            }
        },
    )
    return moment


def _run_names(custom: client.CustomObjectsApi, namespace: str, name: str) -> list[str]:
    return [str(run["metadata"]["name"]) for run in runs_of(custom, namespace, SENSOR, name)]


def _cursor(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, str]:
    status = (get(custom, namespace, "assetsensors", name) or {}).get("status") or {}
    return {entry["key"]: entry.get("runName", "") for entry in status.get("cursor") or ()}


def test_a_sensor_triggers_once_per_materialization_and_its_cursor_survives_restarts(
    api_client: client.ApiClient, kubeconfig: Path, crds: list[dict[str, Any]], kubelet: Any, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api_client)
    with controller_thread(namespace, kubeconfig) as first:
        create(custom, namespace, shop_location())
        create(custom, namespace, pending_job("marketing", "group:marketing"))
        wait_for_condition(custom, namespace, "assetjobs", "marketing", "True", timeout=90)
        create(custom, namespace, sensor("on-top", "marketing", "key:top_customers", minimumIntervalSeconds=0))
        create(
            custom,
            namespace,
            sensor(
                "on-both",
                "marketing",
                "key:top_customers or key:raw/campaigns",
                trigger="all",
                minimumIntervalSeconds=0,
            ),
        )
        watching = wait_for_condition(custom, namespace, "assetsensors", "on-top", "True", reason="Watching")
        assert "watching 1 asset(s)" in (condition(watching) or {})["message"]
        wait_for_condition(custom, namespace, "assetsensors", "on-both", "True", reason="Watching")
        time.sleep(1)
        assert _run_names(custom, namespace, "on-top") == []  # nothing new since the sensor was created

        # One materialization of the watched asset: one run.
        _materialize(custom, namespace, "shop.top-customers", "upstream-1")
        eventually(lambda: len(_run_names(custom, namespace, "on-top")) == 1, "the sensor's run", timeout=20)
        (first_run,) = runs_of(custom, namespace, SENSOR, "on-top")
        assert first_run["spec"]["trigger"] == {"type": "Sensor", "sensor": "on-top"}
        assert first_run["spec"]["job"] == "marketing"
        eventually(
            lambda: _cursor(custom, namespace, "on-top") == {"top_customers": "upstream-1"}, "the cursor", timeout=10
        )
        status = (get(custom, namespace, "assetsensors", "on-top") or {})["status"]
        assert status["lastTrigger"]["runName"] == first_run["metadata"]["name"]
        assert status["lastTrigger"]["assets"] == ["top_customers"]

        # An unwatched asset, and "all" with only one of its two assets new: no run.
        _materialize(custom, namespace, "shop.daily-revenue", "upstream-2")
        time.sleep(3)
        assert len(_run_names(custom, namespace, "on-top")) == 1
        assert _run_names(custom, namespace, "on-both") == []
        # The second watched asset of "all": now both are new, one run.
        _materialize(custom, namespace, "shop.raw.campaigns", "upstream-3")
        eventually(lambda: len(_run_names(custom, namespace, "on-both")) == 1, "the 'all' sensor's run", timeout=20)
        eventually(first.idle, "the controller to settle", timeout=15)
    assert not first.running

    # Materialized while no controller runs: exactly one run once one is back.
    _materialize(custom, namespace, "shop.top-customers", "upstream-4")
    with controller_thread(namespace, kubeconfig) as second:
        eventually(lambda: len(_run_names(custom, namespace, "on-top")) == 2, "the run after the restart", timeout=20)
        eventually(
            lambda: _cursor(custom, namespace, "on-top") == {"top_customers": "upstream-4"}, "the cursor", timeout=10
        )
        eventually(second.idle, "the controller to settle", timeout=15)
        time.sleep(2)
        assert len(_run_names(custom, namespace, "on-top")) == 2
        # "all" consumed top_customers' earlier materialization; the new one alone does not satisfy it.
        assert len(_run_names(custom, namespace, "on-both")) == 1
    runs_before = {name: _run_names(custom, namespace, name) for name in ("on-top", "on-both")}

    # A further restart with nothing new: nothing starts.
    with controller_thread(namespace, kubeconfig) as third:
        eventually(third.idle, "the controller to settle", timeout=15)
        time.sleep(2)
        assert {name: _run_names(custom, namespace, name) for name in ("on-top", "on-both")} == runs_before
