"""A CodeLocation becomes a discovered graph and an Asset catalog through the real controller, a real API
server and the local kubelet running the discovery Pod with the local Python."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from kubeasset.api.codelocation import CodeLocation
from kubeasset.controller.operator import FINALIZER
from kubeasset.reconcile.naming import REFRESH_ANNOTATION, discovery_pod_name
from tests.integration.conftest import Kubectl, eventually
from tests.integration.controller.conftest import (
    SHOP_ASSETS,
    asset_job,
    code_location,
    condition,
    create,
    get,
    items,
    wait_for_condition,
)


def _assert_untouched_by_kopf(obj: dict[str, Any]) -> None:
    """kopf keeps no state on users' objects: no finalizer, no annotation of its own, no status.kopf."""
    metadata = obj["metadata"]
    assert not metadata.get("finalizers"), metadata.get("finalizers")
    assert FINALIZER not in (metadata.get("finalizers") or [])
    kopf_keys = [
        key for key in metadata.get("annotations") or {} if "kopf" in key or key.startswith("kubeasset.dev/last")
    ]
    assert kopf_keys == []
    assert "kopf" not in (obj.get("status") or {})


def _events(core: client.CoreV1Api, namespace: str, name: str) -> list[Any]:
    listed = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return list(listed.items)


def test_the_example_location_is_discovered_into_nine_owned_assets(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, kubectl: Kubectl, namespace: str
) -> None:
    create(custom, namespace, code_location("shop", "shop"))

    # What the README tells people to run works against the controller's status.
    waited = kubectl(
        "wait", "--for=condition=Ready", "codelocation/shop", "-n", namespace, "--timeout=90s", timeout=100
    )
    assert "condition met" in waited.stdout

    location = get(custom, namespace, "codelocations", "shop")
    assert location is not None
    status = location["status"]
    assert status["assets"]["count"] == 9
    assert status["assets"]["groups"] == ["marketing", "sales"]
    assert status["observedGeneration"] == location["metadata"]["generation"]
    assert {job["name"] for job in status["jobs"]} == {"sales_job", "marketing_job"}
    assert condition(location)["reason"] == "Discovered"  # type: ignore[index]

    assets = items(custom, namespace, "assets")
    assert {asset["spec"]["key"] for asset in assets} == set(SHOP_ASSETS)
    uid = location["metadata"]["uid"]
    for asset in assets:
        owners = asset["metadata"]["ownerReferences"]
        assert [(o["kind"], o["name"], o["uid"], o["controller"]) for o in owners] == [
            ("CodeLocation", "shop", uid, True)
        ]
        assert asset["status"]["state"] == "Missing"
        assert asset["status"]["observedGeneration"] == asset["metadata"]["generation"]
    orders = get(custom, namespace, "assets", "shop.raw.orders")
    assert orders is not None and orders["spec"]["group"] == "sales"
    cleaned = get(custom, namespace, "assets", "shop.cleaned-orders")
    assert cleaned is not None and cleaned["spec"]["deps"] == ["raw/orders"] and cleaned["spec"]["codeVersion"] == "2"

    # The discovery Pod ran on the node, as the design describes it.
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=discovery").items
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    assert pods[0].spec.automount_service_account_token is False

    def discovered_events() -> int:
        return [e.reason for e in _events(core, namespace, "shop")].count("Discovered")

    eventually(lambda: discovered_events() > 0, "a Discovered Event on the location", 10)
    assert discovered_events() == 1

    _assert_untouched_by_kopf(location)
    for asset in assets:
        _assert_untouched_by_kopf(asset)

    # Deleting the location deletes its catalog (garbage collection through the ownerReferences).
    custom.delete_namespaced_custom_object("kubeasset.dev", "v1alpha1", namespace, "codelocations", "shop")
    eventually(lambda: items(custom, namespace, "assets") == [], "the garbage collector deleting the Assets", 60)


def test_a_module_that_does_not_import_is_not_ready_with_the_runners_message(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    create(custom, namespace, code_location("broken", "no_such_module_for_kubeasset"))

    location = wait_for_condition(custom, namespace, "codelocations", "broken", "False", reason="ImportError")
    message = condition(location)["message"]  # type: ignore[index]
    assert "no_such_module_for_kubeasset" in message
    assert REFRESH_ANNOTATION in message  # says how to try again
    assert items(custom, namespace, "assets") == []

    def warned() -> bool:
        return any(e.type == "Warning" and e.reason == "ImportError" for e in _events(core, namespace, "broken"))

    eventually(warned, "a Warning Event ImportError on the location", 30)
    _assert_untouched_by_kopf(location)


def _write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def test_a_graph_change_updates_creates_and_deletes_assets(
    custom: client.CustomObjectsApi, namespace: str, tmp_path: Path
) -> None:
    _write_module(
        tmp_path,
        "inventory_v1",
        """
        from kubeasset import Definitions, asset

        @asset(group_name="stock", code_version="1")
        def items(): return [1, 2]

        @asset(group_name="stock")
        def counts(items): return len(items)

        defs = Definitions(assets=[items, counts])
        """,
    )
    _write_module(
        tmp_path,
        "inventory_v2",
        """
        from kubeasset import Definitions, asset

        @asset(group_name="stock", code_version="2")
        def items(): return [1, 2, 3]

        @asset(group_name="reports")
        def summary(items): return sum(items)

        defs = Definitions(assets=[items, summary])
        """,
    )
    create(custom, namespace, code_location("inventory", "inventory_v1", tmp_path))
    create(custom, namespace, asset_job("stock", "inventory", "group:stock"))
    first = wait_for_condition(custom, namespace, "codelocations", "inventory", "True")
    job = wait_for_condition(custom, namespace, "assetjobs", "stock", "True")
    assert job["status"]["assets"] == ["items", "counts"]
    assert {a["metadata"]["name"] for a in items(custom, namespace, "assets")} == {
        "inventory.items",
        "inventory.counts",
    }
    items_uid = get(custom, namespace, "assets", "inventory.items")["metadata"]["uid"]  # type: ignore[index]

    custom.patch_namespaced_custom_object(
        "kubeasset.dev", "v1alpha1", namespace, "codelocations", "inventory", {"spec": {"module": "inventory_v2"}}
    )

    def rediscovered() -> bool:
        location = get(custom, namespace, "codelocations", "inventory")
        summary = (location or {}).get("status", {}).get("assets") or {}
        return summary.get("graphHash") not in (None, first["status"]["assets"]["graphHash"])

    eventually(rediscovered, "the second discovery recording a new graph", 60)
    location = get(custom, namespace, "codelocations", "inventory")
    assert location is not None
    assert location["status"]["assets"]["groups"] == ["reports", "stock"]
    assert location["status"]["observedGeneration"] == location["metadata"]["generation"] == 2
    assets = {a["metadata"]["name"]: a for a in items(custom, namespace, "assets")}
    assert set(assets) == {"inventory.items", "inventory.summary"}  # counts deleted, summary created
    assert assets["inventory.items"]["metadata"]["uid"] == items_uid  # updated in place, not re-created
    assert assets["inventory.items"]["spec"]["codeVersion"] == "2"
    assert assets["inventory.summary"]["spec"]["deps"] == ["items"]
    assert (
        assets["inventory.items"]["status"]["observedGeneration"] == assets["inventory.items"]["metadata"]["generation"]
    )


def test_the_refresh_annotation_runs_discovery_again(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    create(custom, namespace, code_location("shop", "shop"))
    wait_for_condition(custom, namespace, "codelocations", "shop", "True")
    first = {pod.metadata.name for pod in core.list_namespaced_pod(namespace).items}

    custom.patch_namespaced_custom_object(
        "kubeasset.dev",
        "v1alpha1",
        namespace,
        "codelocations",
        "shop",
        {"metadata": {"annotations": {REFRESH_ANNOTATION: "1"}}},
    )

    def new_pod_succeeded() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        fresh = [pod for pod in pods if pod.metadata.name not in first]
        return bool(fresh) and fresh[0].status.phase == "Succeeded" and len(pods) == 1

    # A new discovery Pod runs, and the old one is deleted as stale.
    eventually(new_pod_succeeded, "a new discovery Pod replacing the first", 60)
    location = get(custom, namespace, "codelocations", "shop")
    assert condition(location)["status"] == "True"  # type: ignore[index]
    _assert_untouched_by_kopf(location)  # type: ignore[arg-type]


def test_someone_elses_pod_in_the_way_is_reported_not_adopted(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    manifest = code_location("shop", "shop")
    manifest["metadata"]["namespace"] = namespace
    name = discovery_pod_name(CodeLocation.model_validate(manifest), datetime.now(UTC))
    stranger = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        # Pinned to a node that does not exist: it stays Pending and never runs.
        "spec": {"nodeSelector": {"kubernetes.io/hostname": "nowhere"}, "containers": [{"name": "x", "image": "x"}]},
    }
    core.create_namespaced_pod(namespace, stranger)
    create(custom, namespace, manifest)

    def reported() -> bool:
        return any(
            e.type == "Warning" and e.reason == "ReconcileFailed" and "is not kubeasset's" in e.message
            for e in _events(core, namespace, "shop")
        )

    eventually(reported, "a Warning Event naming the Pod in the way", 30)
    pod = core.read_namespaced_pod(name, namespace)
    assert not pod.metadata.owner_references  # left alone
