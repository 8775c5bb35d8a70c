"""kubeasset objects the benchmarks create (code locations whose code is written on the fly, jobs,
schedules, runs) and the reads they wait on."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from benchkit.cluster import NODE, wait_for

GROUP, VERSION = "kubeasset.dev", "v1alpha1"

#: A code location of one trivial asset: what end-to-end and launch benchmarks run.
TRIVIAL_CODE = """
from kubeasset import Definitions, asset

@asset
def trivial() -> int:
    return 1

defs = Definitions(assets=[trivial])
"""


def wide_code(count: int) -> str:
    """A code location of ``count`` assets in chains of 100, ten groups (as tests/integration's large graph)."""
    return textwrap.dedent(
        f"""
        from kubeasset import Definitions, asset

        def _make(i):
            deps = [f"n{{i - 1}}"] if i % 100 else []
            return asset(lambda: i, name=f"n{{i}}", deps=deps, group_name=f"g{{i // 1000}}")

        defs = Definitions(assets=[_make(i) for i in range({count})])
        """
    )


def write_code(folder: Path, module: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(code, encoding="utf-8")
    return folder


def code_location(name: str, module: str, working_directory: Path, node: str = NODE) -> dict[str, Any]:
    """A CodeLocation running the local Python on ``node`` (the local kubelet ignores the image)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CodeLocation",
        "metadata": {"name": name},
        "spec": {
            "image": "kubeasset-bench:local",
            "module": module,
            "workingDirectory": str(working_directory),
            "pod": {"nodeSelector": {"kubernetes.io/hostname": node}},
        },
    }


def asset_job(name: str, location: str, selection: str, node: str | None = None) -> dict[str, Any]:
    """An AssetJob; ``node`` pins its run Pods elsewhere than the location's (e.g. to a node nobody plays)."""
    spec: dict[str, Any] = {"codeLocation": location, "selection": selection}
    if node is not None:
        spec["pod"] = {"nodeSelector": {"kubernetes.io/hostname": node}}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetJob", "metadata": {"name": name}, "spec": spec}


def asset_schedule(name: str, job: str, cron: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetSchedule",
        "metadata": {"name": name},
        "spec": {"job": job, "cron": cron},
    }


def asset_run(name: str, job: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetRun", "metadata": {"name": name}, "spec": {"job": job}}


def create(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    """Create without reading the answer back into models (cheaper for load generators)."""
    plural = body["kind"].lower() + "s"
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, body, _preload_content=False
    )


def get(api: client.ApiClient, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def ready(obj: dict[str, Any] | None) -> bool:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == "Ready":
            return bool(entry.get("status") == "True")
    return False


def wait_ready(api: client.ApiClient, namespace: str, plural: str, name: str, timeout: float = 300) -> float:
    """Seconds until the object's Ready condition is True."""
    return wait_for(lambda: ready(get(api, namespace, plural, name)), f"{plural}/{name} Ready", timeout, poll=0.2)


def count(api: client.ApiClient, namespace: str, plural: str) -> int:
    """How many objects of ``plural`` exist (one item read; the API counts the rest)."""
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, plural, limit=1)
    return len(listed["items"]) + (listed["metadata"].get("remainingItemCount") or 0)


def trivial_setup(api: client.ApiClient, namespace: str, folder: Path, *, run_node: str | None = None) -> None:
    """A Ready code location ``trivial`` (discovered on the kubelet) and a Ready job ``trivial`` whose run
    Pods go to ``run_node`` (default: the kubelet's node)."""
    create(api, namespace, code_location("trivial", "bench_trivial", write_code(folder, "bench_trivial", TRIVIAL_CODE)))
    create(api, namespace, asset_job("trivial", "trivial", "*", node=run_node))
    wait_ready(api, namespace, "codelocations", "trivial")
    wait_ready(api, namespace, "assetjobs", "trivial")
