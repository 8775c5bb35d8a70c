"""A container's environment and command line as the kubelet computes them: envFrom, then env (plain
values, fieldRef, configMapKeyRef, secretKeyRef), with $(VAR) references expanded in values, command and
args. What cannot be resolved raises ContainerConfigError with the kubelet's wording."""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubeasset.cluster.kubelet.downward import field_value, resource_value
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
            value = _value_from(pod, str(container["name"]), variable["valueFrom"], lookup)
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


def _value_from(pod: Mapping[str, Any], container_name: str, source: Mapping[str, Any], lookup: Lookup) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in source:
        reference = source["resourceFieldRef"]
        return resource_value(pod, str(reference.get("containerName") or container_name), reference)
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
        f"unsupported valueFrom {sorted(source)}: the local kubelet resolves fieldRef, resourceFieldRef, "
        "configMapKeyRef and secretKeyRef"
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


def api_server_environment(server: str) -> dict[str, str]:
    """The variables a kubelet sets in every container for the ``kubernetes`` Service (what
    ``load_incluster_config()`` reads), pointing at the API server this node talks to: on the local node
    the Pod shares the host's loopback, so the Service's address is the API server's own.

    >>> api_server_environment("https://127.0.0.1:6443")["KUBERNETES_PORT_6443_TCP"]
    'tcp://127.0.0.1:6443'
    """
    parsed = urllib.parse.urlsplit(server)
    if parsed.hostname is None:
        raise ContainerConfigError(f"the API server address {server!r} names no host")
    host = parsed.hostname if ":" not in parsed.hostname else f"[{parsed.hostname}]"
    port = str(parsed.port or 443)
    address = f"tcp://{host}:{port}"
    prefix = f"KUBERNETES_PORT_{port}_TCP"
    return {
        "KUBERNETES_SERVICE_HOST": parsed.hostname,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": address,
        prefix: address,
        f"{prefix}_PROTO": "tcp",
        f"{prefix}_PORT": port,
        f"{prefix}_ADDR": parsed.hostname,
    }
