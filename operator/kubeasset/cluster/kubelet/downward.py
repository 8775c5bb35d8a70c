"""The downward API: the values of a Pod's own fields (``fieldRef``) and of its containers' resources
(``resourceFieldRef``), as the kubelet gives them to environment variables and downwardAPI volume files.

    >>> field_value({"metadata": {"name": "p", "labels": {"b": "2", "a": "1"}}}, "metadata.labels")
    'a="1"\\nb="2"'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from kubeasset.cluster.kubelet.node import node_resources
from kubeasset.errors import ContainerConfigError

_LABEL_OR_ANNOTATION = re.compile(r"metadata\.(labels|annotations)\['(.+)'\]")
_RESOURCES = ("limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory")


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The value of ``fieldRef.fieldPath`` for ``pod``; a whole label or annotation map is one
    ``key="value"`` line per entry, sorted by key (the kubelet's format)."""
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
        # json.dumps quotes like Go's %q for every ordinary string
        return "\n".join(f"{key}={json.dumps(str(value))}" for key, value in sorted(values.items()))
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(pod: Mapping[str, Any], container_name: str, reference: Mapping[str, Any]) -> str:
    """The value of a ``resourceFieldRef`` (``limits.cpu`` ...) in units of its ``divisor``, rounded up as
    the kubelet does; a limit the container does not set is the node's allocatable amount.

    >>> resource_value({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1500m"}}}]}},
    ...                "c", {"resource": "limits.cpu"})
    '2'
    """
    resource = str(reference.get("resource", ""))
    if resource not in _RESOURCES:
        raise ContainerConfigError(f"unsupported resourceFieldRef resource {resource!r}; use one of {_RESOURCES}")
    containers = [c for c in pod.get("spec", {}).get("containers") or [] if c.get("name") == container_name]
    if not containers:
        raise ContainerConfigError(f"resourceFieldRef: the Pod has no container {container_name!r}")
    kind, name = resource.split(".", 1)
    amounts = (containers[0].get("resources") or {}).get(kind) or {}
    amount = amounts.get(name)
    if amount is None:
        # API defaulting already copied limits to missing requests; what is still unset requests nothing
        amount = node_resources()[name] if kind == "limits" else "0"
    divisor: Decimal = parse_quantity(str(reference.get("divisor") or "1"))  # type: ignore[no-untyped-call]
    if divisor <= 0:
        raise ContainerConfigError(f"resourceFieldRef {resource}: the divisor must be positive")
    value: Decimal = parse_quantity(str(amount)) / divisor  # type: ignore[no-untyped-call]
    return str(math.ceil(value))
