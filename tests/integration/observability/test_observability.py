"""What a platform team sees of a running controller: /healthz and /readyz answer 200, /metrics shows a run
that really ran (counted under its job and phase Succeeded, its run and asset durations, its launch latency),
the log lines are JSON objects, and a standby replica waiting for the leader Lease passes both probes while
its leader gauge says 0.

Why a package of its own: the controller package's ``controller`` fixture is an in-process controller watching
every namespace for the whole package; it would create this test's run Pod before the controller under test
could, and the launch latency would never be observed here. This module runs its own controller, watching
only the test's namespace, with its endpoints on free loopback ports, and its own local kubelet on a node
name of its own.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.logs import JsonLogFormatter
from kubeasset.controller.operator import ControllerOptions, ControllerThread, run_async
from kubeasset.reconcile.discovery import DiscoveryDefaults
from tests.integration.conftest import eventually
from tests.integration.controller.conftest import (
    EXAMPLES,
    GROUP,
    SHOP_ASSETS,
    VERSION,
    asset_job,
    code_location,
    create,
    get,
    wait_for_condition,
)

NODE = "kubeasset-observability-tests"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("observability-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(port: int) -> Samples:
    status, text = fetch(port, "/metrics")
    assert status == 200, text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def held_job(name: str, location: str) -> dict[str, Any]:
    """A job of the whole shop whose run Pods can never be scheduled (no such node): its runs stay waiting."""
    body = asset_job(name, location, "*")
    body["spec"]["pod"] = {"nodeSelector": {"kubernetes.io/hostname": "kubeasset-observability-nowhere"}}
    return body


def sensor(name: str, job: str, selection: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetSensor",
        "metadata": {"name": name},
        "spec": {"job": job, "selection": selection},
    }


def options(kubeconfig: Path, namespace: str, **changes: Any) -> ControllerOptions:
    return ControllerOptions(
        namespaces=[namespace],
        kubeconfig=kubeconfig,
        discovery=DiscoveryDefaults(poll_seconds=1.0, retry_seconds=5.0),
        health_port=free_port(),
        metrics_port=free_port(),
        listen_address="127.0.0.1",
        **changes,
    )


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The controller's log lines as the JSON formatter writes them (kubeasset's loggers, INFO and up)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("kubeasset")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_run_shows_in_the_metrics_and_the_probes_answer(
    kubeconfig: Path,
    crds: list[dict[str, Any]],
    kubelet: LocalKubelet,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
    json_log: io.StringIO,
) -> None:
    settings = options(kubeconfig, namespace)
    assert settings.health_port is not None and settings.metrics_port is not None
    with ControllerThread(settings):
        assert fetch(settings.health_port, "/healthz") == (200, "ok\n")
        assert fetch(settings.health_port, "/readyz") == (200, "ok\n")

        location = code_location("loc", "shop", EXAMPLES, node=NODE, storage={"url": str(tmp_path / "storage")})
        create(custom, namespace, location)
        create(custom, namespace, asset_job("nightly", "loc", "*"))
        # A sensor on raw/orders starting a job whose Pods never run: its evaluations show, its run costs nothing.
        create(custom, namespace, held_job("held", "loc"))
        create(custom, namespace, sensor("on-orders", "held", "raw/orders"))
        wait_for_condition(custom, namespace, "codelocations", "loc", "True", timeout=90)
        wait_for_condition(custom, namespace, "assetjobs", "nightly", "True", timeout=30)
        wait_for_condition(custom, namespace, "assetsensors", "on-orders", "True", timeout=30)
        run = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetRun", "metadata": {"name": "n-1"}}
        create(custom, namespace, {**run, "spec": {"job": "nightly"}})

        def succeeded() -> bool:
            found = get(custom, namespace, "assetruns", "n-1") or {}
            return (found.get("status") or {}).get("phase") == "Succeeded"

        eventually(succeeded, "AssetRun n-1 Succeeded", timeout=90)
        job = {"namespace": namespace, "job": "nightly"}
        samples: Samples = {}

        def counted() -> bool:  # the gauge reads the controller's cache, a moment behind the API
            samples.update(scrape(settings.metrics_port or 0))
            return sample(samples, "kubeasset_runs", **job, phase="Succeeded") == 1

        eventually(counted, "the run counted as Succeeded in /metrics", timeout=15)
        assert sample(samples, "kubeasset_runs", **job, phase="Running") == 0
        assert sample(samples, "kubeasset_run_duration_seconds_count", **job, phase="Succeeded") == 1
        # The observed duration is the one the run's status shows (start to completion; may be 0 at one-second
        # resolution for a quick run).
        status = (get(custom, namespace, "assetruns", "n-1") or {})["status"]
        shown = (
            datetime.fromisoformat(status["completionTime"].replace("Z", "+00:00"))
            - datetime.fromisoformat(status["startTime"].replace("Z", "+00:00"))
        ).total_seconds()
        observed = sample(samples, "kubeasset_run_duration_seconds_sum", **job, phase="Succeeded")
        assert observed == pytest.approx(shown, abs=1e-3)
        materialized = sample(samples, "kubeasset_asset_duration_seconds_count", **job, result="Materialized")
        assert materialized == len(SHOP_ASSETS)
        assert sample(samples, "kubeasset_run_launch_latency_seconds_count", **job) == 1
        assert (sample(samples, "kubeasset_run_launch_latency_seconds_sum", **job) or 0) < 10
        assert (sample(samples, "kubeasset_reconcile_duration_seconds_count", kind="AssetRun") or 0) >= 1
        assert sample(samples, "kubeasset_leader") == 1
        assert sample(samples, "kubeasset_workqueue_workers") == settings.workers

        evaluations = {"namespace": namespace, "sensor": "on-orders"}

        def triggered() -> bool:
            samples.update(scrape(settings.metrics_port or 0))
            return sample(samples, "kubeasset_sensor_evaluations_total", **evaluations, result="triggered") == 1

        eventually(triggered, "the sensor's triggering evaluation in /metrics", timeout=30)
        assert (sample(samples, "kubeasset_sensor_evaluations_total", **evaluations, result="skipped") or 0) >= 1
    # Stopped: both endpoints are closed.
    with pytest.raises(urllib.error.URLError):
        fetch(settings.health_port, "/healthz")

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert any(
        line["level"] == "INFO" and line["message"] == f"serving health on 127.0.0.1:{settings.health_port}"
        for line in lines
    ), lines[:5]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_a_tick_caught_up_after_downtime_shows_its_lateness(
    kubeconfig: Path, crds: list[dict[str, Any]], kubelet: LocalKubelet, custom: client.CustomObjectsApi, namespace: str
) -> None:
    # A controller whose clock is 90 s ahead comes back from 90 s of downtime: the newest missed minute tick
    # starts at once, late by up to a minute and a half.
    ahead = timedelta(seconds=90)
    settings = options(kubeconfig, namespace, clock=lambda: datetime.now(UTC) + ahead)
    with ControllerThread(settings):
        create(custom, namespace, code_location("loc", "shop", EXAMPLES, node=NODE))
        create(custom, namespace, held_job("held", "loc"))
        schedule = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetSchedule", "metadata": {"name": "minutely"}}
        create(custom, namespace, {**schedule, "spec": {"job": "held", "cron": "* * * * *"}})
        labels = {"namespace": namespace, "schedule": "minutely"}
        samples: Samples = {}

        def observed() -> bool:
            samples.update(scrape(settings.metrics_port or 0))
            return sample(samples, "kubeasset_schedule_tick_lateness_seconds_count", **labels) == 1

        eventually(observed, "the caught-up tick's lateness in /metrics", timeout=90)
        lateness = sample(samples, "kubeasset_schedule_tick_lateness_seconds_sum", **labels) or 0.0
        assert 0.0 < lateness <= ahead.total_seconds() + 30
        assert sample(samples, "kubeasset_schedule_tick_lateness_seconds_bucket", **labels, le="0.01") == 0


def test_a_standby_replica_is_live_and_ready_and_not_leading(
    kubeconfig: Path, crds: list[dict[str, Any]], namespace: str
) -> None:
    lease = {"leader_election": True, "leader_election_namespace": namespace, "lease_name": "observability"}
    leader_options = options(kubeconfig, namespace, **lease)
    standby_options = options(kubeconfig, namespace, **lease)
    stop_standby = threading.Event()
    failures: list[BaseException] = []

    def standby() -> None:
        try:
            asyncio.run(run_async(standby_options, stop_flag=stop_standby))
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            failures.append(error)

    with ControllerThread(leader_options):  # returns once it leads and kopf is ready
        thread = threading.Thread(target=standby, daemon=True)
        thread.start()
        try:
            health, metrics = standby_options.health_port or 0, standby_options.metrics_port or 0

            def standing_by() -> bool:
                try:
                    return fetch(health, "/readyz")[0] == 200
                except urllib.error.URLError:
                    return False  # not listening yet

            eventually(standing_by, "the standby's /readyz answering 200", timeout=20)
            assert fetch(health, "/healthz") == (200, "ok\n")
            assert sample(scrape(metrics), "kubeasset_leader") == 0
            assert sample(scrape(leader_options.metrics_port or 0), "kubeasset_leader") == 1
        finally:
            stop_standby.set()
            thread.join(30)
    assert not thread.is_alive() and not failures
