"""A code location of 10,000 assets is discovered: the status holds a summary (the object stays small), the
catalog holds one Asset per asset, and a job resolves against it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from kubernetes import client

from tests.integration.conftest import eventually
from tests.integration.controller.conftest import (
    asset_job,
    code_location,
    create,
    get,
    wait_for_condition,
)

COUNT = 10_000


def test_a_graph_of_ten_thousand_assets_is_discovered_and_catalogued(
    custom: client.CustomObjectsApi, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "big.py").write_text(
        textwrap.dedent(
            f"""
            from kubeasset import Definitions, asset

            def _make(i):
                deps = [f"n{{i - 1}}"] if i % 100 else []
                return asset(lambda: i, name=f"n{{i}}", deps=deps, group_name=f"g{{i // 1000}}")

            defs = Definitions(assets=[_make(i) for i in range({COUNT})])
            """
        ),
        encoding="utf-8",
    )
    create(custom, namespace, code_location("big", "big", tmp_path))
    create(custom, namespace, asset_job("tail", "big", "key:n9999+"))  # n9999 has no dependents
    location = wait_for_condition(custom, namespace, "codelocations", "big", "True", timeout=240)
    assert location["status"]["assets"]["count"] == COUNT
    assert location["status"]["assets"]["groups"] == [f"g{n}" for n in range(10)]
    assert len(json.dumps(location)) < 10_000  # a summary, not the graph

    def catalogued() -> bool:
        # One item and the count of the others (the API sets remainingItemCount without a selector only).
        listed = custom.list_namespaced_custom_object("kubeasset.dev", "v1alpha1", namespace, "assets", limit=1)
        remaining = listed["metadata"].get("remainingItemCount") or 0
        return bool(listed["items"]) and remaining + 1 == COUNT

    eventually(catalogued, "10,000 Asset objects", 30)
    job = wait_for_condition(custom, namespace, "assetjobs", "tail", "True", timeout=60)
    assert job["status"]["assets"] == ["n9999"]
    assert get(custom, namespace, "assets", "big.n0")["status"]["state"] == "Missing"  # type: ignore[index]
