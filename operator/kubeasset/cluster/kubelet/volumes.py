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
- ``configMap`` / ``secret``: ``pod-volumes/<pod uid>/<volume>``, files written from the object's keys
  (or ``items``) when the container starts, mounted read-only; later changes of the object are not
  propagated.

Other kinds (projected, downwardAPI, csi, ...) are not provided; their mounts are skipped with a warning.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from kubeasset.errors import ContainerConfigError

log = logging.getLogger("kubeasset.kubelet")

#: (kind "configmaps" | "secrets" | "persistentvolumeclaims", namespace, name) -> the object or None.
Lookup = Callable[[str, str, str], Mapping[str, Any] | None]

EMPTY_DIR: Final = "emptyDir"
PERSISTENT_VOLUME_CLAIM: Final = "persistentVolumeClaim"
HOST_PATH: Final = "hostPath"
CONFIG_MAP: Final = "configMap"
SECRET: Final = "secret"
SUPPORTED_KINDS: Final = (EMPTY_DIR, PERSISTENT_VOLUME_CLAIM, HOST_PATH, CONFIG_MAP, SECRET)
#: Kinds whose content comes from an API object: Kubernetes always mounts them read-only.
_READ_ONLY_KINDS: Final = (CONFIG_MAP, SECRET)
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
        read_only = bool(mount.get("readOnly")) or source.kind in _READ_ONLY_KINDS
        read_only = read_only or bool(source.definition.get("readOnly"))
        mounts.append(Mount(path, target, read_only))
    return sorted(mounts, key=lambda mount: len(PurePosixPath(mount.target).parts))


def prepare_volumes(folder: Path, pod: Mapping[str, Any], container: Mapping[str, Any], lookup: Lookup) -> list[Mount]:
    """Create what the container's mounts need on this host and return them (see :func:`plan_mounts`).

    Missing claims, ConfigMaps, Secrets or keys raise ContainerConfigError with the kubelet's wording
    (unless ``optional``); the Pod worker reports it as the container's waiting reason and retries.
    """
    metadata = pod["metadata"]
    namespace, uid = str(metadata["namespace"]), str(metadata["uid"])
    used = {str(mount["name"]) for mount in container.get("volumeMounts") or []}
    for volume in pod.get("spec", {}).get("volumes") or []:
        if str(volume["name"]) not in used:
            continue
        source = volume_source(folder, namespace, uid, volume)
        if source is not None:
            _provide(source, namespace, lookup)
    mounts = plan_mounts(folder, pod, container)
    for mount in mounts:
        if not mount.source.exists():
            # a subPath that does not exist yet is created as a folder, as the kubelet does
            mount.source.mkdir(parents=True, exist_ok=True)
    return mounts


def remove_pod_volumes(folder: Path, uid: str) -> None:
    """Delete the per-Pod volumes of a deleted Pod (emptyDir content goes with its Pod; claims stay)."""
    shutil.rmtree(pod_volume_dir(folder, uid), ignore_errors=True)


def _provide(source: VolumeSource, namespace: str, lookup: Lookup) -> None:
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
        kind = "configmaps" if source.kind == CONFIG_MAP else "secrets"
        name = str(definition.get("name" if source.kind == CONFIG_MAP else "secretName", ""))
        found = lookup(kind, namespace, name)
        optional = bool(definition.get("optional"))
        if found is None and not optional:
            raise ContainerConfigError(f'{kind[:-1]} "{name}" not found', reason="ContainerCreating")
        files = object_files(found or {}, source.kind, definition)
        _write_files(source.host_path, files, int(definition.get("defaultMode", _DEFAULT_MODE)))


def object_files(
    obj: Mapping[str, Any], kind: str, definition: Mapping[str, Any]
) -> dict[str, tuple[bytes, int | None]]:
    """The files a configMap or secret volume holds: relative path -> (content, mode or None for default).

    >>> object_files({"data": {"a": "1", "b": "2"}}, "configMap", {"items": [{"key": "a", "path": "x/a.txt"}]})
    {'x/a.txt': (b'1', None)}
    """
    contents: dict[str, bytes] = {}
    if kind == SECRET:
        for key, value in (obj.get("data") or {}).items():
            contents[key] = base64.b64decode(value)
        for key, value in (obj.get("stringData") or {}).items():
            contents[key] = str(value).encode()
    else:
        for key, value in (obj.get("data") or {}).items():
            contents[key] = str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            contents[key] = base64.b64decode(value)
    items: Sequence[Mapping[str, Any]] = definition.get("items") or []
    if not items:
        return {key: (value, None) for key, value in contents.items()}
    files: dict[str, tuple[bytes, int | None]] = {}
    for item in items:
        key = str(item["key"])
        if key not in contents:
            if definition.get("optional"):
                continue
            raise ContainerConfigError(f"configuration key {key!r} not found in the {kind} volume's object")
        mode = item.get("mode")
        files[str(_relative(str(item["path"]), key))] = (contents[key], int(mode) if mode is not None else None)
    return files


def _write_files(folder: Path, files: Mapping[str, tuple[bytes, int | None]], default_mode: int) -> None:
    # Written afresh at each container start: the content is the object's at that moment.
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for relative, (content, mode) in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode if mode is not None else default_mode)


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
