"""A container's environment and command line as the kubelet computes them: envFrom, then env (plain
values, fieldRef, configMapKeyRef, secretKeyRef), with $(VAR) references expanded in values, command and
args. What cannot be resolved raises ContainerConfigError with the kubelet's wording."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubeasset.errors import ContainerConfigError

#: (kind "configmaps" | "secrets", namespace, name) -> the object, or None when it does not exist.
Lookup = Callable[[str, str, str], Mapping[str, Any] | None]

_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, environment: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names are replaced, unknown ones kept, ``$$`` escapes ``$``.

    >>> expand("$(A)-$(B)-$$(A)", {"A": "1"})
    '1-$(B)-$(A)'
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return environment.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def container_environment(pod: Mapping[str, Any], container: Mapping[str, Any], lookup: Lookup) -> dict[str, str]:
    """The variables the Pod defines for ``container``, in the kubelet's order of precedence."""
    namespace = pod["metadata"]["namespace"]
    result: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if key in source:
                reference = source[key]
                data = _data(kind, namespace, reference["name"], lookup, bool(reference.get("optional")))
                result.update({prefix + name: value for name, value in data.items()})
    for variable in container.get("env") or []:
        name = variable["name"]
        if "valueFrom" in variable:
            value = _value_from(pod, variable["valueFrom"], lookup)
            if value is None:
                continue  # an optional reference to something missing: the variable is not set
            result[name] = value
        else:
            result[name] = expand(variable.get("value", ""), result)
    return result


def container_command(container: Mapping[str, Any], environment: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with $(VAR) expanded; the image's entrypoint is unknown locally."""
    command: Sequence[str] = container.get("command") or []
    if not command:
        raise ContainerConfigError(
            f"container {container['name']!r} has no command: the local kubelet runs no image, so it cannot "
            "use the image's entrypoint; set the container's command",
            reason="CreateContainerError",
        )
    return [expand(part, environment) for part in [*command, *(container.get("args") or [])]]


def _value_from(pod: Mapping[str, Any], source: Mapping[str, Any], lookup: Lookup) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        return _field(pod, source["fieldRef"]["fieldPath"])
    for kind, key in (("configmaps", "configMapKeyRef"), ("secrets", "secretKeyRef")):
        if key in source:
            reference = source[key]
            optional = bool(reference.get("optional"))
            data = _data(kind, namespace, reference["name"], lookup, optional)
            if reference["key"] not in data:
                if optional:
                    return None
                singular = "configmap" if kind == "configmaps" else "secret"
                raise ContainerConfigError(
                    f"couldn't find key {reference['key']} in {singular.capitalize()} {namespace}/{reference['name']}"
                )
            return data[reference["key"]]
    raise ContainerConfigError(
        f"unsupported valueFrom {sorted(source)}: the local kubelet resolves fieldRef, configMapKeyRef and secretKeyRef"
    )


def _data(kind: str, namespace: str, name: str, lookup: Lookup, optional: bool) -> dict[str, str]:
    found = lookup(kind, namespace, name)
    if found is None:
        if optional:
            return {}
        singular = "configmap" if kind == "configmaps" else "secret"
        raise ContainerConfigError(f'{singular} "{name}" not found')
    if kind == "secrets":
        return {key: base64.b64decode(value).decode() for key, value in (found.get("data") or {}).items()} | dict(
            found.get("stringData") or {}
        )
    return dict(found.get("data") or {})


_LABEL_OR_ANNOTATION = re.compile(r"metadata\.(labels|annotations)\['(.+)'\]")


def _field(pod: Mapping[str, Any], path: str) -> str:
    metadata, spec = pod["metadata"], pod.get("spec", {})
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        # the local node and Pod both live on loopback
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if path in simple:
        return str(simple[path] or "")
    match = _LABEL_OR_ANNOTATION.fullmatch(path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")
