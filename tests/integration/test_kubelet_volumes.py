"""The local kubelet provides Pod volumes as bind mounts: what one Pod writes to a PersistentVolumeClaim
another Pod reads later, a ConfigMap appears as read-only files, and the host never sees the mountPaths."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from tests.integration.conftest import eventually

NODE = "kubeasset-volume-tests"


@pytest.fixture(scope="module")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("volume-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        if not running.uses_mount_namespaces:
            pytest.skip("volumes need private mount namespaces (root)")
        yield running


def _pod(name: str, script: str, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": NODE},
            "volumes": volumes,
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-c", textwrap.dedent(script)],
                    "volumeMounts": mounts,
                }
            ],
        },
    }


def _run(core: client.CoreV1Api, namespace: str, body: dict[str, Any]) -> tuple[str, str]:
    name = body["metadata"]["name"]
    core.create_namespaced_pod(namespace, body)
    found: dict[str, Any] = {}

    def finished() -> bool:
        found["pod"] = core.read_namespaced_pod(name, namespace)
        return found["pod"].status.phase in ("Succeeded", "Failed")

    eventually(finished, f"pod {name} finishing", 60)
    return found["pod"].status.phase, core.read_namespaced_pod_log(name, namespace)


def test_a_claim_outlives_its_pods_and_config_maps_are_files(
    api_client: client.ApiClient, namespace: str, kubelet: LocalKubelet
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "shared"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"region": "eu"}})
    claim = [{"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}]
    writer = """
        import os
        os.makedirs("/data/shop")
        open("/data/shop/value.txt", "w").write("42")
    """
    phase, log = _run(core, namespace, _pod("writer", writer, claim, [{"name": "data", "mountPath": "/data"}]))
    assert phase == "Succeeded", log
    assert not Path("/data").exists()  # only the container saw /data
    reader = """
        import os
        print("value", open("/mnt/claim/shop/value.txt").read())
        print("region", open("/etc/shop/region").read())
        try:
            open("/etc/shop/other", "w")
        except OSError as error:
            print("config read-only", error.errno)
    """
    volumes = [*claim, {"name": "config", "configMap": {"name": "settings"}}]
    mounts = [{"name": "data", "mountPath": "/mnt/claim"}, {"name": "config", "mountPath": "/etc/shop"}]
    phase, log = _run(core, namespace, _pod("reader", reader, volumes, mounts))
    assert phase == "Succeeded", log
    assert "value 42" in log and "region eu" in log and "config read-only 30" in log
    assert (kubelet.folder / "volumes" / namespace / "shared" / "shop" / "value.txt").read_text() == "42"


def test_an_empty_dir_over_the_folder_of_the_interpreter_and_code_keeps_them_visible(
    api_client: client.ApiClient, namespace: str, kubelet: LocalKubelet
) -> None:
    """The chart mounts an emptyDir at /tmp; a checkout (and its virtual environment) under /tmp must stay
    importable in the container, as an image would have them, while the rest of the folder is the volume."""
    import kubeasset

    core = client.CoreV1Api(api_client)
    code_parent = str(Path(kubeasset.__file__).resolve().parents[2])  # the folder holding the checkout
    script = f"""
        import os, kubeasset
        print("imported", kubeasset.__file__)
        print("listing", sorted(os.listdir({code_parent!r})))
        open(os.path.join({code_parent!r}, "scratch.txt"), "w").write("x")
    """
    volumes = [{"name": "scratch", "emptyDir": {}}]
    mounts = [{"name": "scratch", "mountPath": code_parent}]
    phase, log = _run(core, namespace, _pod("hidden-code", script, volumes, mounts))
    assert phase == "Succeeded", log
    assert f"imported {Path(kubeasset.__file__).resolve()}" in log
    checkout = Path(kubeasset.__file__).resolve().parents[1].name
    # The volume shows only what the container needs from below it, not the host folder's other entries.
    listing = next(line for line in log.splitlines() if line.startswith("listing"))
    assert checkout in listing and not (Path(code_parent) / "scratch.txt").exists()
