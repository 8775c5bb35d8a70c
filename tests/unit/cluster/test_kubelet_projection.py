"""What the local kubelet writes into downwardAPI and projected volumes, how it swaps a volume's files while a
container may be reading them, when it renews a service-account token, and the `kubernetes` Service's
variables every container gets."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeasset.cluster.kubelet.atomic_writer import write_atomically
from kubeasset.cluster.kubelet.environment import api_server_environment
from kubeasset.cluster.kubelet.projection import downward_files, projected_files
from kubeasset.cluster.kubelet.tokens import PodTokens, refresh_time
from kubeasset.cluster.kubelet.volumes import prepare_volumes, refresh_volumes
from kubeasset.errors import ContainerConfigError, KubeletError

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)

#: The volume the ServiceAccount admission plugin adds to every Pod (as the API server writes it).
KUBE_API_ACCESS = {
    "name": "kube-api-access-x1",
    "projected": {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {
                "downwardAPI": {
                    "items": [
                        {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                    ]
                }
            },
        ],
    },
}


def _pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    container = {"name": "main", "volumeMounts": mounts, "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}}}
    return {
        "metadata": {"name": "p", "namespace": "shop", "uid": "uid-1", **metadata},
        "spec": {"serviceAccountName": "runner", "volumes": volumes, "containers": [container]},
    }


def _lookup(objects: dict[tuple[str, str], dict[str, Any]]) -> Any:
    return lambda kind, namespace, name: objects.get((kind, name))


def test_the_kube_api_access_volume_holds_token_ca_and_namespace() -> None:
    asked: list[tuple[str, str | None, int | None]] = []

    def tokens(account: str, audience: str | None, seconds: int | None) -> str:
        asked.append((account, audience, seconds))
        return "token-1"

    objects = {("configmaps", "kube-root-ca.crt"): {"data": {"ca.crt": "-----BEGIN CERTIFICATE-----"}}}
    files = projected_files(_pod([], []), KUBE_API_ACCESS["projected"], _lookup(objects), tokens)
    assert files == {
        "token": (b"token-1", None),
        "ca.crt": (b"-----BEGIN CERTIFICATE-----", None),
        "namespace": (b"shop", None),
    }
    assert asked == [("runner", None, 3607)]


def test_a_projection_of_a_missing_config_map_waits_and_an_unknown_source_is_named() -> None:
    with pytest.raises(ContainerConfigError, match='configmap "kube-root-ca.crt" not found') as missing:
        projected_files(_pod([], []), KUBE_API_ACCESS["projected"], _lookup({}), lambda *_: "t")
    assert missing.value.reason == "ContainerCreating"
    with pytest.raises(ContainerConfigError, match="clusterTrustBundle"):
        projected_files(_pod([], []), {"sources": [{"clusterTrustBundle": {"path": "b"}}]}, _lookup({}), None)


def test_downward_files_format_maps_and_resources_like_the_kubelet() -> None:
    pod = _pod([], [], labels={"tier": "db", "app": 'say "hi"'}, annotations={"a": "1"})
    items = [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "main", "resource": "limits.cpu"}, "mode": 0o400},
        {"path": "mem", "resourceFieldRef": {"containerName": "main", "resource": "limits.memory", "divisor": "1Mi"}},
        {"path": "req", "resourceFieldRef": {"containerName": "main", "resource": "requests.cpu"}},
    ]
    assert downward_files(pod, {"items": items}) == {
        "labels": (b'app="say \\"hi\\""\ntier="db"', None),
        "tier": (b"db", None),
        "cpu": (b"2", 0o400),  # 1.5 cores rounded up
        "mem": (b"1024", None),
        "req": (b"0", None),
    }
    with pytest.raises(ContainerConfigError, match="unsupported fieldRef"):
        downward_files(pod, {"items": [{"path": "x", "fieldRef": {"fieldPath": "spec.hostname"}}]})


def test_atomic_writes_swap_the_data_folder_and_keep_the_volume_folder(tmp_path: Path) -> None:
    folder = tmp_path / "volume"
    assert write_atomically(folder, {"token": (b"one", None), "conf/a": (b"a", 0o600)}, 0o644)
    inode = folder.stat().st_ino
    first_data = os.readlink(folder / "..data")
    assert (folder / "token").is_symlink() and (folder / "token").read_text() == "one"
    assert (folder / "conf" / "a").stat().st_mode & 0o777 == 0o600

    assert not write_atomically(folder, {"token": (b"one", None), "conf/a": (b"a", 0o600)}, 0o644)
    assert write_atomically(folder, {"token": (b"two", None)}, 0o644)

    assert folder.stat().st_ino == inode  # the bind-mounted folder itself is never replaced
    assert (folder / "token").read_text() == "two"
    assert not (folder / "conf").exists()
    assert not (folder / first_data).exists()
    assert sorted(entry.name for entry in folder.iterdir()) == sorted(
        ["..data", os.readlink(folder / "..data"), "token"]
    )
    with pytest.raises(ContainerConfigError):
        write_atomically(folder, {"..data/evil": (b"x", None)}, 0o644)


def test_prepare_and_refresh_rewrite_only_what_changed(tmp_path: Path) -> None:
    objects = {("configmaps", "kube-root-ca.crt"): {"data": {"ca.crt": "CA"}}}
    issued = iter(["t1", "t2"])
    pod = _pod(
        [KUBE_API_ACCESS],
        [{"name": "kube-api-access-x1", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
    )
    container = pod["spec"]["containers"][0]

    def tokens(*_: Any) -> str:
        return current

    current = next(issued)
    (mount,) = prepare_volumes(tmp_path, pod, container, _lookup(objects), tokens)
    assert mount.read_only and (mount.source / "token").read_text() == "t1"
    assert refresh_volumes(tmp_path, pod, container, _lookup(objects), tokens) == []
    current = next(issued)
    assert refresh_volumes(tmp_path, pod, container, _lookup(objects), tokens) == ["kube-api-access-x1"]
    assert (mount.source / "token").read_text() == "t2"
    # the ConfigMap went away: the files stay as they were (the kubelet keeps the last good content)
    assert refresh_volumes(tmp_path, pod, container, _lookup({}), tokens) == []
    assert (mount.source / "ca.crt").read_text() == "CA"


def test_tokens_are_renewed_at_80_percent_of_their_lifetime_or_a_maximum_age() -> None:
    assert refresh_time(START, START + timedelta(seconds=600)) == START + timedelta(seconds=480)
    # the API server extends kube-api-access tokens to a year; the kubelet still renews them daily
    assert refresh_time(START, START + timedelta(days=365)) == START + timedelta(hours=24)
    assert refresh_time(START, START + timedelta(hours=1), max_age=timedelta(seconds=3)) == START + timedelta(seconds=3)


class _FakeApi:
    """Answers TokenRequests with numbered tokens valid for the requested time; can be made to fail."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failing = False
        self.now = START

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.failing:
            raise KubeletError("POST: the API server is unreachable", status=None)
        self.requests.append((path, body))
        expires = self.now + timedelta(seconds=body["spec"]["expirationSeconds"])
        return {"status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": expires.isoformat()}}


def test_pod_tokens_are_bound_to_the_pod_cached_renewed_and_kept_while_the_server_is_away() -> None:
    api = _FakeApi()
    tokens = PodTokens(api, "shop", "p", "uid-1", clock=lambda: api.now)  # type: ignore[arg-type]
    assert tokens.token("runner", "vault", 600) == "token-1"
    path, body = api.requests[0]
    assert path == "/api/v1/namespaces/shop/serviceaccounts/runner/token"
    assert body["spec"]["boundObjectRef"] == {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "uid-1"}
    assert body["spec"]["audiences"] == ["vault"]
    assert tokens.next_refresh() == START + timedelta(seconds=480)

    api.now = START + timedelta(seconds=479)
    assert tokens.token("runner", "vault", 600) == "token-1"
    api.now = START + timedelta(seconds=481)
    api.failing = True
    assert tokens.token("runner", "vault", 600) == "token-1"  # still valid: kept, renewal retried later
    api.failing = False
    assert tokens.token("runner", "vault", 600) == "token-2"
    api.failing = True
    api.now = START + timedelta(hours=2)  # token-2 expired and no new one can be had
    with pytest.raises(ContainerConfigError, match="cannot get a token for service account") as failed:
        tokens.token("runner", "vault", 600)
    assert failed.value.reason == "ContainerCreating"


def test_containers_learn_the_api_server_as_the_kubernetes_service() -> None:
    assert api_server_environment("https://127.0.0.1:41234") == {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": "41234",
        "KUBERNETES_SERVICE_PORT_HTTPS": "41234",
        "KUBERNETES_PORT": "tcp://127.0.0.1:41234",
        "KUBERNETES_PORT_41234_TCP": "tcp://127.0.0.1:41234",
        "KUBERNETES_PORT_41234_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_41234_TCP_PORT": "41234",
        "KUBERNETES_PORT_41234_TCP_ADDR": "127.0.0.1",
    }


def test_secret_projection_decodes_data() -> None:
    secret = {("secrets", "pw"): {"data": {"v": base64.b64encode(b"s3cret").decode()}}}
    files = projected_files(_pod([], []), {"sources": [{"secret": {"name": "pw"}}]}, _lookup(secret), None)
    assert files == {"v": (b"s3cret", None)}
