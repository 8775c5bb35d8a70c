"""Which host folder backs which volume of a Pod on the local kubelet, and what it writes there."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from kubeasset.cluster.kubelet.volumes import Mount, object_files, plan_mounts, prepare_volumes
from kubeasset.errors import ContainerConfigError

FOLDER = Path("/kubelet")


def _pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], uid: str = "uid-1") -> dict[str, Any]:
    container = {"name": "main", "volumeMounts": mounts}
    return {
        "metadata": {"name": "p", "namespace": "shop", "uid": uid},
        "spec": {"volumes": volumes, "containers": [container]},
    }


def _plan(pod: dict[str, Any], folder: Path = FOLDER) -> list[Mount]:
    return plan_mounts(folder, pod, pod["spec"]["containers"][0])


def test_a_claim_is_one_folder_per_namespace_and_claim_shared_by_pods() -> None:
    volumes = [{"name": "assets", "persistentVolumeClaim": {"claimName": "shop-assets"}}]
    first = _plan(_pod(volumes, [{"name": "assets", "mountPath": "/data"}], uid="a"))
    second = _plan(_pod(volumes, [{"name": "assets", "mountPath": "/elsewhere"}], uid="b"))
    assert first == [Mount(FOLDER / "volumes/shop/shop-assets", "/data", False)]
    assert second[0].source == first[0].source


def test_empty_dirs_belong_to_their_pod() -> None:
    volumes = [{"name": "scratch", "emptyDir": {}}]
    first = _plan(_pod(volumes, [{"name": "scratch", "mountPath": "/scratch"}], uid="a"))
    second = _plan(_pod(volumes, [{"name": "scratch", "mountPath": "/scratch"}], uid="b"))
    assert first[0].source == FOLDER / "pod-volumes/a/scratch"
    assert first[0].source != second[0].source


def test_host_paths_config_maps_sub_paths_read_only_and_order() -> None:
    volumes = [
        {"name": "host", "hostPath": {"path": "/var/log"}},
        {"name": "settings", "configMap": {"name": "shop-settings"}},
        {"name": "data", "emptyDir": {}},
    ]
    mounts = [
        {"name": "settings", "mountPath": "/etc/shop/conf"},
        {"name": "host", "mountPath": "/logs", "readOnly": True},
        {"name": "data", "mountPath": "/work/out", "subPath": "run/1"},
    ]
    planned = _plan(_pod(volumes, mounts))
    assert planned == [
        Mount(Path("/var/log"), "/logs", True),
        Mount(FOLDER / "pod-volumes/uid-1/data/run/1", "/work/out", False),
        Mount(FOLDER / "pod-volumes/uid-1/settings", "/etc/shop/conf", True),  # configMaps are read-only
    ]


def test_kinds_the_node_does_not_provide_are_skipped() -> None:
    volumes = [{"name": "token", "csi": {"driver": "secrets-store.csi.k8s.io"}}]
    assert _plan(_pod(volumes, [{"name": "token", "mountPath": "/var/run/secrets"}])) == []


@pytest.mark.parametrize(
    ("volumes", "mounts"),
    [
        ([], [{"name": "nope", "mountPath": "/x"}]),
        ([{"name": "d", "emptyDir": {}}], [{"name": "d", "mountPath": "/x", "subPath": "../escape"}]),
        ([{"name": "h", "hostPath": {"path": "relative"}}], [{"name": "h", "mountPath": "/x"}]),
        ([{"name": "c", "persistentVolumeClaim": {"claimName": "../up"}}], [{"name": "c", "mountPath": "/x"}]),
    ],
)
def test_unusable_mounts_are_refused(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> None:
    with pytest.raises(ContainerConfigError):
        _plan(_pod(volumes, mounts))


def test_config_map_and_secret_files() -> None:
    config = {"data": {"a": "1", "b": "2"}, "binaryData": {"c": base64.b64encode(b"\x00").decode()}}
    assert object_files(config, "configMap", {}) == {"a": (b"1", None), "b": (b"2", None), "c": (b"\x00", None)}
    secret = {"data": {"token": base64.b64encode(b"s3cret").decode()}}
    items = {"items": [{"key": "token", "path": "auth/token", "mode": 0o400}]}
    assert object_files(secret, "secret", items) == {"auth/token": (b"s3cret", 0o400)}
    with pytest.raises(ContainerConfigError, match="missing"):
        object_files(config, "configMap", {"items": [{"key": "missing", "path": "m"}]})


def test_prepare_writes_files_and_needs_the_claim(tmp_path: Path) -> None:
    volumes = [
        {"name": "settings", "configMap": {"name": "shop-settings"}},
        {"name": "assets", "persistentVolumeClaim": {"claimName": "shop-assets"}},
    ]
    pod = _pod(volumes, [{"name": "settings", "mountPath": "/conf"}, {"name": "assets", "mountPath": "/data"}])
    objects = {("configmaps", "shop-settings"): {"data": {"region": "eu"}}}

    def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return objects.get((kind, name))

    with pytest.raises(ContainerConfigError, match='persistentvolumeclaim "shop-assets" not found'):
        prepare_volumes(tmp_path, pod, pod["spec"]["containers"][0], lookup)
    objects[("persistentvolumeclaims", "shop-assets")] = {}
    mounts = prepare_volumes(tmp_path, pod, pod["spec"]["containers"][0], lookup)
    assert [mount.target for mount in mounts] == ["/conf", "/data"]
    assert (tmp_path / "pod-volumes/uid-1/settings/region").read_text() == "eu"
    assert (tmp_path / "volumes/shop/shop-assets").is_dir()
