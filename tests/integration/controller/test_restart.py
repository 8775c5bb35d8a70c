"""A controller that starts against converged objects (a restart, or a second replica) adopts them and writes
nothing: no new Pod, no status write, no Asset change, no repeated Event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from kubeasset.controller.operator import ControllerOptions, ControllerThread
from tests.integration.conftest import eventually
from tests.integration.controller.conftest import asset_job, code_location, create, items, wait_for_condition


def _versions(custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str) -> dict[str, Any]:
    found = {
        f"{plural}/{obj['metadata']['name']}": obj["metadata"]["resourceVersion"]
        for plural in ("codelocations", "assets", "assetjobs")
        for obj in items(custom, namespace, plural)
    }
    found |= {
        f"pods/{pod.metadata.name}": pod.metadata.resource_version for pod in core.list_namespaced_pod(namespace).items
    }
    found["events"] = len(core.list_namespaced_event(namespace).items)
    return found


def test_a_fresh_controller_adopts_converged_objects_without_writing(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, kubeconfig: Path
) -> None:
    create(custom, namespace, code_location("shop", "shop"))
    create(custom, namespace, asset_job("sales-job", "shop", "group:sales"))
    wait_for_condition(custom, namespace, "assetjobs", "sales-job", "True", timeout=90)
    eventually(lambda: len(items(custom, namespace, "assets")) == 9, "the catalog")
    before = _versions(custom, core, namespace)

    with ControllerThread(ControllerOptions(namespaces=[namespace], kubeconfig=kubeconfig)) as second:
        # It lists the location and the job, reconciles both (reading the discovery log anew), and stops.
        def settled() -> bool:
            queue = second.controller.queue if second.controller else None
            return second.idle() and queue is not None and queue.reconciles >= 2

        eventually(settled, "the fresh controller reconciling what it listed", 30)

    assert _versions(custom, core, namespace) == before
