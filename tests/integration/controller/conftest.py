"""Fixtures of the controller's integration tests: a local kubelet of their own (a node name no other test
module uses: one kubelet per node name per cluster), the controller running in-process against the session
control plane, and helpers to read kubeasset's objects.

Every Pod the tests' CodeLocations create is pinned to this kubelet's node (``nodeSelector``), so another
module's kubelet, started and stopped on its own schedule, never runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.operator import ControllerOptions, ControllerThread
from kubeasset.reconcile.discovery import DiscoveryDefaults
from tests.integration.conftest import REPOSITORY, eventually

NODE = "kubeasset-controller-tests"
GROUP, VERSION = "kubeasset.dev", "v1alpha1"
EXAMPLES = REPOSITORY / "examples"


@pytest.fixture(scope="package")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("controller-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


@pytest.fixture(scope="package")
def controller(kubeconfig: Path, crds: list[dict[str, Any]], kubelet: LocalKubelet) -> Iterator[ControllerThread]:
    """The kubeasset controller, cluster-wide, in a background thread of the test process, for this package
    only (a cluster-wide controller left running would reconcile other tests' objects). Discovery polls
    every second (the Pod watch wakes it anyway) so the tests stay quick."""
    options = ControllerOptions(kubeconfig=kubeconfig, discovery=DiscoveryDefaults(poll_seconds=1.0, retry_seconds=5.0))
    with ControllerThread(options) as running:
        yield running


@pytest.fixture
def custom(api_client: client.ApiClient, controller: ControllerThread) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


#: The example code location's asset keys (examples/shop), in the order its runs materialize them.
SHOP_ASSETS = (
    "raw/orders",
    "raw/customers",
    "raw/campaigns",
    "cleaned_orders",
    "daily_revenue",
    "customer_lifetime_value",
    "top_customers",
    "campaign_performance",
    "marketing_report",
)


def code_location(
    name: str, module: str, working_directory: Path = EXAMPLES, *, node: str = NODE, **spec: Any
) -> dict[str, Any]:
    """A CodeLocation whose Pods run on ``node``'s kubelet (by default this package's) with the local Python."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CodeLocation",
        "metadata": {"name": name},
        "spec": {
            "image": "kubeasset-example:test",
            "module": module,
            "workingDirectory": str(working_directory),
            "pod": {"nodeSelector": {"kubernetes.io/hostname": node}},
            **spec,
        },
    }


def asset_job(name: str, location: str, selection: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetJob",
        "metadata": {"name": name},
        "spec": {"codeLocation": location, "selection": selection},
    }


def create(custom: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    plural = body["kind"].lower() + "s"
    created: dict[str, Any] = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    return created


def get(custom: client.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def items(custom: client.CustomObjectsApi, namespace: str, plural: str) -> list[dict[str, Any]]:
    listed: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    return list(listed["items"])


def condition(obj: dict[str, Any] | None, kind: str = "Ready") -> dict[str, Any] | None:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    return None


def wait_for_condition(
    custom: client.CustomObjectsApi,
    namespace: str,
    plural: str,
    name: str,
    status: str,
    *,
    reason: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Wait until the object's Ready condition has ``status`` (and ``reason``); returns the object."""
    found: dict[str, Any] = {}

    def reached() -> bool:
        obj = get(custom, namespace, plural, name)
        ready = condition(obj)
        found["obj"] = obj
        return ready is not None and ready["status"] == status and (reason is None or ready["reason"] == reason)

    try:
        eventually(reached, f"{plural}/{name} Ready={status}{f' ({reason})' if reason else ''}", timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen status: {(found.get('obj') or {}).get('status')}") from None
    return found["obj"]
