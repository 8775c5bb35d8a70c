"""A Pod's volumes on the local node: which host folder (or file) backs each volumeMount of the container,
and writing what must exist before the container starts (folders, ConfigMap and Secret files).

The sandbox then bind-mounts each folder at its mountPath in the container's private mount namespace.
Where each kind of volume lives, under the kubelet's folder:

- ``emptyDir``: ``pod-volumes/<pod uid>/<volume>``, a fresh folder per Pod, removed when the Pod is deleted.
- ``persistentVolumeClaim``: ``volumes/<namespace>/<claim>``, one folder per claim, shared by every Pod
  that uses the claim and kept across Pods and kubelet restarts: the local stand-in for a dynamically
  provisioned volume. The claim must exist (else the container waits, as a real kubelet's mount does);
  its object is left as it is (Pending: no volume controller runs here).
- ``hostPath``: the host path itself (``type`` checked or created as Kubernetes does).
- ``configMap`` / ``secret`` / ``downwardAPI`` / ``projected``: ``pod-volumes/<pod uid>/<volume>``, files
  written (projection.py says what they hold) when the container starts, mounted read-only, and rewritten
  atomically (atomic_writer.py) while it runs, as the kubelet's periodic volume sync does: a projected
  service-account token before it expires, labels and annotations after they change, objects' new content.

Other kinds (csi, ephemeral, ...) are not provided; their mounts are skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from kubeasset.cluster.kubelet.atomic_writer import write_atomically
from kubeasset.cluster.kubelet.projection import (
    FileMap,
    TokenSource,
    downward_files,
    object_files,
    projected_files,
    referenced_object_files,
)
from kubeasset.errors import ContainerConfigError

__all__ = ["Mount", "VolumeSource", "object_files", "plan_mounts", "prepare_volumes", "refresh_volumes"]

log = logging.getLogger("kubeasset.kubelet")

#: (kind "configmaps" | "secrets" | "persistentvolumeclaims", namespace, name) -> the object or None.
Lookup = Callable[[str, str, str], Mapping[str, Any] | None]

EMPTY_DIR: Final = "emptyDir"
PERSISTENT_VOLUME_CLAIM: Final = "persistentVolumeClaim"
HOST_PATH: Final = "hostPath"
CONFIG_MAP: Final = "configMap"
SECRET: Final = "secret"
DOWNWARD_API: Final = "downwardAPI"
PROJECTED: Final = "projected"
#: Kinds whose files the kubelet writes (from API objects, the Pod, tokens): always mounted read-only and
#: kept up to date while the container runs.
WRITTEN_KINDS: Final = (CONFIG_MAP, SECRET, DOWNWARD_API, PROJECTED)
SUPPORTED_KINDS: Final = (EMPTY_DIR, PERSISTENT_VOLUME_CLAIM, HOST_PATH, *WRITTEN_KINDS)
_DEFAULT_MODE: Final = 0o644


@dataclass(frozen=True)
class VolumeSource:
    """Where one volume of a Pod lives on this host."""

    name: str
    kind: str
    host_path: Path
    #: the volume definition as the Pod gives it (keys, items, claimName, type, ...)
    definition: Mapping[str, Any]


@dataclass(frozen=True)
class Mount:
    """Bind ``source`` (a host folder or file) at ``target`` inside the container."""

    source: Path
    target: str
    read_only: bool

    def argument(self) -> str:
        """How the sandbox receives it (``--mount``): JSON, since paths may hold any character but NUL."""
        return json.dumps([str(self.source), self.target, self.read_only])


def pod_volume_dir(folder: Path, uid: str) -> Path:
    """The folder holding the per-Pod volumes (emptyDir, configMap, secret) of the Pod ``uid``."""
    return folder / "pod-volumes" / uid


def claim_dir(folder: Path, namespace: str, claim: str) -> Path:
    """The folder standing in for the PersistentVolumeClaim ``namespace/claim``: shared, persistent."""
    return folder / "volumes" / namespace / claim


def volume_source(folder: Path, namespace: str, uid: str, volume: Mapping[str, Any]) -> VolumeSource | None:
    """Where ``volume`` of the Pod (``namespace``, ``uid``) lives on this host; None for kinds not provided.

    >>> volume_source(Path("/k"), "shop", "u1", {"name": "a", "persistentVolumeClaim": {"claimName": "c"}}).host_path
    PosixPath('/k/volumes/shop/c')
    """
    name = str(volume["name"])
    for kind in SUPPORTED_KINDS:
        definition = volume.get(kind)
        if definition is None:
            continue
        definition = dict(definition)
        if kind == PERSISTENT_VOLUME_CLAIM:
            path = claim_dir(folder, namespace, _single_name(str(definition.get("claimName", "")), "claimName"))
        elif kind == HOST_PATH:
            path = Path(str(definition.get("path", "")))
            if not path.is_absolute():
                raise ContainerConfigError(f"volume {name!r}: hostPath.path {str(path)!r} is not an absolute path")
        else:
            path = pod_volume_dir(folder, uid) / _single_name(name, "volume name")
        return VolumeSource(name, kind, path, definition)
    return None


def plan_mounts(folder: Path, pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[Mount]:
    """The container's volumeMounts as bind mounts, parents before children (so nested mountPaths work).

    A mount of a volume kind this node does not provide is skipped (logged); a mount naming no volume of
    the Pod raises ContainerConfigError, as the API server would have refused such a Pod.
    """
    metadata = pod["metadata"]
    namespace, uid = str(metadata["namespace"]), str(metadata["uid"])
    volumes = {str(volume["name"]): volume for volume in pod.get("spec", {}).get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        name = str(mount["name"])
        if name not in volumes:
            raise ContainerConfigError(f"volumeMount {name!r} names no volume of the Pod")
        source = volume_source(folder, namespace, uid, volumes[name])
        if source is None:
            log.warning(
                "pod %s/%s: volume %r is of a kind the local kubelet does not provide; %s is not mounted",
                namespace,
                metadata.get("name"),
                name,
                mount.get("mountPath"),
            )
            continue
        target = str(mount["mountPath"])
        if not target.startswith("/"):
            raise ContainerConfigError(f"volumeMount {name!r}: mountPath {target!r} is not absolute")
        path = source.host_path
        sub_path = mount.get("subPath")
        if sub_path:
            path = path / _relative(str(sub_path), name)
        read_only = bool(mount.get("readOnly")) or source.kind in WRITTEN_KINDS
        read_only = read_only or bool(source.definition.get("readOnly"))
        mounts.append(Mount(path, target, read_only))
    return sorted(mounts, key=lambda mount: len(PurePosixPath(mount.target).parts))


def prepare_volumes(
    folder: Path,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    lookup: Lookup,
    tokens: TokenSource | None = None,
) -> list[Mount]:
    """Create what the container's mounts need on this host and return them (see :func:`plan_mounts`).

    Missing claims, ConfigMaps, Secrets or keys raise ContainerConfigError with the kubelet's wording
    (unless ``optional``); the Pod worker reports it as the container's waiting reason and retries.
    ``tokens`` issues the service-account tokens of projected volumes.
    """
    namespace = str(pod["metadata"]["namespace"])
    for source in _used_sources(folder, pod, container):
        _provide(source, pod, namespace, lookup, tokens)
    mounts = plan_mounts(folder, pod, container)
    for mount in mounts:
        if not mount.source.exists():
            # a subPath that does not exist yet is created as a folder, as the kubelet does
            mount.source.mkdir(parents=True, exist_ok=True)
    return mounts


def refresh_volumes(
    folder: Path,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    lookup: Lookup,
    tokens: TokenSource | None = None,
) -> list[str]:
    """Rewrite the written volumes (configMap, secret, downwardAPI, projected) of a running container
    where their content changed: renewed tokens, new labels or annotations, edited objects. Returns the
    names of the volumes rewritten. A volume that cannot be computed now (its ConfigMap was deleted)
    keeps its files, as with the kubelet; the error is logged.
    """
    metadata = pod["metadata"]
    namespace = str(metadata["namespace"])
    rewritten = []
    for source in _used_sources(folder, pod, container):
        if source.kind not in WRITTEN_KINDS or not (source.host_path / "..data").is_symlink():
            continue
        try:
            files = source_files(source, pod, namespace, lookup, tokens)
        except ContainerConfigError as error:
            log.warning("pod %s/%s: volume %r not refreshed: %s", namespace, metadata.get("name"), source.name, error)
            continue
        if write_atomically(source.host_path, files, _default_mode(source.definition)):
            rewritten.append(source.name)
    return rewritten


def source_files(
    source: VolumeSource, pod: Mapping[str, Any], namespace: str, lookup: Lookup, tokens: TokenSource | None
) -> FileMap:
    """What a written volume (configMap, secret, downwardAPI, projected) holds now."""
    if source.kind == PROJECTED:
        return projected_files(pod, source.definition, lookup, tokens)
    if source.kind == DOWNWARD_API:
        return downward_files(pod, source.definition)
    if source.kind in (CONFIG_MAP, SECRET):
        return referenced_object_files(namespace, source.kind, source.definition, lookup)
    raise ContainerConfigError(f"volume {source.name!r}: {source.kind} volumes hold no written files")


def remove_pod_volumes(folder: Path, uid: str) -> None:
    """Delete the per-Pod volumes of a deleted Pod (emptyDir content goes with its Pod; claims stay)."""
    shutil.rmtree(pod_volume_dir(folder, uid), ignore_errors=True)


def _used_sources(folder: Path, pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[VolumeSource]:
    """The provided volumes the container mounts."""
    metadata = pod["metadata"]
    namespace, uid = str(metadata["namespace"]), str(metadata["uid"])
    used = {str(mount["name"]) for mount in container.get("volumeMounts") or []}
    sources = []
    for volume in pod.get("spec", {}).get("volumes") or []:
        if str(volume["name"]) in used and (source := volume_source(folder, namespace, uid, volume)) is not None:
            sources.append(source)
    return sources


def _provide(
    source: VolumeSource, pod: Mapping[str, Any], namespace: str, lookup: Lookup, tokens: TokenSource | None
) -> None:
    definition = source.definition
    if source.kind == EMPTY_DIR:
        source.host_path.mkdir(parents=True, exist_ok=True)
    elif source.kind == PERSISTENT_VOLUME_CLAIM:
        claim = str(definition["claimName"])
        if lookup("persistentvolumeclaims", namespace, claim) is None:
            raise ContainerConfigError(f'persistentvolumeclaim "{claim}" not found', reason="ContainerCreating")
        source.host_path.mkdir(parents=True, exist_ok=True)
    elif source.kind == HOST_PATH:
        _provide_host_path(source)
    else:
        files = source_files(source, pod, namespace, lookup, tokens)
        write_atomically(source.host_path, files, _default_mode(definition))


def _default_mode(definition: Mapping[str, Any]) -> int:
    return int(definition.get("defaultMode", _DEFAULT_MODE))


def _provide_host_path(source: VolumeSource) -> None:
    path = source.host_path
    wanted = str(source.definition.get("type") or "")
    if wanted in ("", "DirectoryOrCreate") and not path.exists():
        path.mkdir(parents=True, exist_ok=True)
    elif wanted == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif wanted == "Directory" and not path.is_dir():
        raise ContainerConfigError(f"hostPath type check failed: {path} is not a directory", reason="ContainerCreating")
    elif wanted == "File" and not path.is_file():
        raise ContainerConfigError(f"hostPath type check failed: {path} is not a file", reason="ContainerCreating")


def _single_name(name: str, what: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ContainerConfigError(f"{what} {name!r} cannot name a folder")
    return name


def _relative(path: str, what: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ContainerConfigError(f"{what}: path {path!r} must be relative and must not contain '..'")
    return relative
