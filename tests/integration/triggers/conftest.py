"""Fixtures of the schedule and sensor integration tests: a local kubelet of their own (node
``kubeasset-trigger-tests``) and controllers the tests start, stop and restart themselves.

Why not tests/integration/controller's package-scoped controller: it watches every namespace and stays up
for the whole package, so a test could neither take "the" controller down (catch-up after downtime, a
sensor's cursor across a restart) nor run one with a shifted clock. Here every controller is
namespace-restricted (``ControllerOptions(namespaces=[namespace])``) and pytest tears the controller
package's fixtures down before this package starts, so the tests' controllers are the only ones that see
their namespace.

Run Pods of the tests' jobs are pinned to a node that does not exist, so every run stays Pending (active)
whatever the run controller does: the tests look at which runs the triggers create, not at their outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.operator import ControllerOptions, ControllerThread
from kubeasset.reconcile.discovery import DiscoveryDefaults
from tests.integration.controller.conftest import GROUP, VERSION, asset_job, code_location

NODE = "kubeasset-trigger-tests"
#: Where the tests' run Pods are sent: no such node, so they stay Pending and their runs stay active.
NOWHERE = "kubeasset-no-such-node"


@pytest.fixture(scope="package")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("trigger-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


@pytest.fixture
def custom(api_client: client.ApiClient, crds: list[dict[str, Any]], kubelet: LocalKubelet) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def controller_options(
    namespace: str, kubeconfig: Path, clock: Callable[[], datetime] | None = None
) -> ControllerOptions:
    """A controller for ``namespace`` only; discovery polls every second so the tests stay quick."""
    return ControllerOptions(
        namespaces=[namespace],
        kubeconfig=kubeconfig,
        discovery=DiscoveryDefaults(poll_seconds=1.0, retry_seconds=5.0),
        clock=clock,
    )


def shifted_clock(offset: timedelta) -> Callable[[], datetime]:
    """The real clock ``offset`` ahead: a controller started with it behaves as one that comes back after
    having been down for ``offset``."""
    return lambda: datetime.now(UTC) + offset


def controller_thread(
    namespace: str, kubeconfig: Path, clock: Callable[[], datetime] | None = None
) -> ControllerThread:
    """A controller for ``namespace`` only, not started yet (``with controller_thread(...):`` runs it)."""
    return ControllerThread(controller_options(namespace, kubeconfig, clock))


def shop_location() -> dict[str, Any]:
    """The example shop's CodeLocation, discovered on this package's kubelet."""
    return code_location("shop", "shop", pod={"nodeSelector": {"kubernetes.io/hostname": NODE}})


def pending_job(name: str, selection: str) -> dict[str, Any]:
    """An AssetJob of the shop whose run Pods can never be scheduled (its runs stay active)."""
    body = asset_job(name, "shop", selection)
    body["spec"]["pod"] = {"nodeSelector": {"kubernetes.io/hostname": NOWHERE}}
    return body


def schedule(name: str, job: str, cron: object, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetSchedule",
        "metadata": {"name": name},
        "spec": {"job": job, "cron": cron, **spec},
    }


def sensor(name: str, job: str, selection: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetSensor",
        "metadata": {"name": name},
        "spec": {"job": job, "selection": selection, **spec},
    }


def runs_of(custom: client.CustomObjectsApi, namespace: str, label: str, owner: str) -> list[dict[str, Any]]:
    """The AssetRuns labelled ``label=owner`` (kubeasset.dev/schedule or kubeasset.dev/sensor), by name."""
    listed = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "assetruns", label_selector=f"{label}={owner}"
    )
    found: list[dict[str, Any]] = listed["items"]  # type: ignore[index]
    return sorted(found, key=lambda run: str(run["metadata"]["name"]))


@dataclass(frozen=True)
class SeenEvent:
    type: str
    reason: str
    message: str


def events_of(core: client.CoreV1Api, namespace: str, name: str) -> list[SeenEvent]:
    """The Events posted on the object ``name``."""
    listed = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return [SeenEvent(event.type or "", event.reason or "", event.message or "") for event in listed]
