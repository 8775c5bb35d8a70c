"""An AssetJob resolves its selection against its code location's catalog through the real controller."""

from __future__ import annotations

import sys

from kubernetes import client

from kubeasset.selection import resolve_selection
from tests.integration.controller.conftest import (
    EXAMPLES,
    asset_job,
    code_location,
    condition,
    create,
    get,
    wait_for_condition,
)


def _example_selection(selection: str) -> list[str]:
    """What the SDK resolves for the example code location in this process: the cluster must agree."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from shop import defs  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    return [key.to_user_string() for key in resolve_selection(selection, defs.asset_graph)]


def test_a_job_resolves_its_selection_once_its_location_is_discovered(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    # The job first, so it waits for its location, then resolves when the graph arrives.
    create(custom, namespace, asset_job("sales-job", "shop", "group:sales"))
    waiting = wait_for_condition(
        custom, namespace, "assetjobs", "sales-job", "False", reason="CodeLocationNotFound", timeout=30
    )
    assert "shop" in condition(waiting)["message"]  # type: ignore[index]

    create(custom, namespace, code_location("shop", "shop"))
    job = wait_for_condition(custom, namespace, "assetjobs", "sales-job", "True", reason="Resolved", timeout=90)
    expected = _example_selection("group:sales")
    assert job["status"]["assets"] == expected
    assert job["status"]["assetCount"] == 6
    location = get(custom, namespace, "codelocations", "shop")
    assert job["status"]["graphHash"] == location["status"]["assets"]["graphHash"]  # type: ignore[index]
    assert job["status"]["observedGeneration"] == job["metadata"]["generation"]
    assert not job["metadata"].get("finalizers")
    assert not [key for key in job["metadata"].get("annotations") or {} if "kopf" in key]


def test_a_bad_selection_is_not_ready_with_the_parsers_column(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    create(custom, namespace, code_location("shop", "shop"))
    create(custom, namespace, asset_job("broken", "shop", "group:sales and ("))
    job = wait_for_condition(custom, namespace, "assetjobs", "broken", "False", reason="InvalidSelection", timeout=90)
    message = condition(job)["message"]  # type: ignore[index]
    assert "column 18" in message
    assert "assets" not in job["status"]

    # Fixing the selection makes it Ready: the job is re-planned on its own change.
    custom.patch_namespaced_custom_object(
        "kubeasset.dev", "v1alpha1", namespace, "assetjobs", "broken", {"spec": {"selection": "group:marketing"}}
    )
    fixed = wait_for_condition(custom, namespace, "assetjobs", "broken", "True", timeout=30)
    assert fixed["status"]["assets"] == _example_selection("group:marketing")

    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=broken").items
    assert any(e.type == "Warning" and e.reason == "InvalidSelection" and "column 18" in e.message for e in events)


def test_a_job_defined_in_code_is_usable_by_name(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    create(custom, namespace, code_location("shop", "shop"))
    mirror = asset_job("sales", "shop", "unused")
    mirror["spec"] = {"codeLocation": "shop", "codeJob": "sales_job"}
    create(custom, namespace, mirror)
    job = wait_for_condition(custom, namespace, "assetjobs", "sales", "True", reason="Resolved", timeout=90)
    assert job["status"]["assets"] == _example_selection("group:sales")  # sales_job's selection in examples/shop

    unknown = asset_job("nightly", "shop", "unused")
    unknown["spec"] = {"codeLocation": "shop", "codeJob": "nightly_job"}
    create(custom, namespace, unknown)
    job = wait_for_condition(custom, namespace, "assetjobs", "nightly", "False", reason="UnknownCodeJob", timeout=30)
    message = condition(job)["message"]  # type: ignore[index]
    assert "nightly_job" in message and "marketing_job, sales_job" in message
