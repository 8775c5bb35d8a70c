"""What the files of an object-backed volume hold: configMap and secret volumes (the object's keys),
downwardAPI volumes (the Pod's own fields), and projected volumes, which combine those with service-account
tokens. The kube-api-access-* volume that the ServiceAccount admission plugin adds to every Pod is such a
projected volume: ``token``, ``ca.crt`` (from the kube-root-ca.crt ConfigMap) and ``namespace``.

Pure functions: objects come from ``lookup`` and tokens from ``tokens``; atomic_writer.py writes the result.

    >>> pod = {"metadata": {"name": "p", "namespace": "shop"}}
    >>> downward_files(pod, {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]})
    {'ns': (b'shop', None)}
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from kubeasset.cluster.kubelet.downward import field_value, resource_value
from kubeasset.errors import ContainerConfigError

#: (kind "configmaps" | "secrets" | "persistentvolumeclaims", namespace, name) -> the object or None.
Lookup = Callable[[str, str, str], Mapping[str, Any] | None]
#: (service account, audience or None, expirationSeconds or None) -> a token bound to the Pod.
TokenSource = Callable[[str, str | None, int | None], str]
#: relative path -> (content, mode or None for the volume's defaultMode)
FileMap = dict[str, tuple[bytes, int | None]]

CONFIG_MAP = "configMap"
SECRET = "secret"


def object_files(obj: Mapping[str, Any], kind: str, definition: Mapping[str, Any]) -> FileMap:
    """The files a configMap or secret volume (or projection) holds.

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
    files: FileMap = {}
    for item in items:
        key = str(item["key"])
        if key not in contents:
            if definition.get("optional"):
                continue
            raise ContainerConfigError(f"configuration key {key!r} not found in the {kind} volume's object")
        files[relative_path(str(item["path"]), key)] = (contents[key], _mode(item))
    return files


def referenced_object_files(namespace: str, kind: str, definition: Mapping[str, Any], lookup: Lookup) -> FileMap:
    """:func:`object_files` of the ConfigMap or Secret a volume (or projection) names, read with ``lookup``."""
    plural = "configmaps" if kind == CONFIG_MAP else "secrets"
    name = str(definition.get("name" if kind == CONFIG_MAP or "name" in definition else "secretName", ""))
    found = lookup(plural, namespace, name)
    if found is None and not definition.get("optional"):
        raise ContainerConfigError(f'{plural[:-1]} "{name}" not found', reason="ContainerCreating")
    return object_files(found or {}, kind, definition)


def downward_files(pod: Mapping[str, Any], definition: Mapping[str, Any]) -> FileMap:
    """The files of a downwardAPI volume (or projection): one per item, from a fieldRef or resourceFieldRef."""
    files: FileMap = {}
    for item in definition.get("items") or []:
        path = relative_path(str(item["path"]), "downwardAPI item")
        if "fieldRef" in item:
            value = field_value(pod, str(item["fieldRef"]["fieldPath"]))
        elif "resourceFieldRef" in item:
            reference = item["resourceFieldRef"]
            value = resource_value(pod, str(reference.get("containerName", "")), reference)
        else:
            raise ContainerConfigError(f"downwardAPI item {path!r} has neither fieldRef nor resourceFieldRef")
        files[path] = (value.encode(), _mode(item))
    return files


def projected_files(
    pod: Mapping[str, Any], definition: Mapping[str, Any], lookup: Lookup, tokens: TokenSource | None
) -> FileMap:
    """The files of a projected volume: every source's files, in the order of ``sources``."""
    namespace = str(pod["metadata"]["namespace"])
    files: FileMap = {}
    for source in definition.get("sources") or []:
        if "serviceAccountToken" in source:
            projection = source["serviceAccountToken"]
            if tokens is None:
                raise ContainerConfigError("this node cannot issue service-account tokens", reason="ContainerCreating")
            service_account = str(pod.get("spec", {}).get("serviceAccountName") or "default")
            token = tokens(service_account, projection.get("audience"), projection.get("expirationSeconds"))
            files[relative_path(str(projection["path"]), "serviceAccountToken")] = (token.encode(), None)
        elif CONFIG_MAP in source:
            files.update(referenced_object_files(namespace, CONFIG_MAP, source[CONFIG_MAP], lookup))
        elif SECRET in source:
            files.update(referenced_object_files(namespace, SECRET, source[SECRET], lookup))
        elif "downwardAPI" in source:
            files.update(downward_files(pod, source["downwardAPI"]))
        else:
            raise ContainerConfigError(
                f"projected volume source {sorted(source)} is not provided by the local kubelet "
                "(it provides serviceAccountToken, configMap, secret and downwardAPI)"
            )
    return files


def relative_path(path: str, what: str) -> str:
    """``path`` if it is relative and stays inside the volume; ContainerConfigError otherwise."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ContainerConfigError(f"{what}: path {path!r} must be relative and must not contain '..'")
    return str(relative)


def _mode(item: Mapping[str, Any]) -> int | None:
    mode = item.get("mode")
    return int(mode) if mode is not None else None
