"""How the Pod settings of a CodeLocation and of an AssetJob combine, and the restricted security
defaults they may replace: the rule documented in kubeasset.api.pod, implemented once for every Pod
kubeasset builds (run Pods; discovery Pods use the location's settings alone).

The merge works on the settings' JSON form (camelCase), because that is what goes into the Pod and it
keeps the fields a user wrote that the typed models do not know (``x-kubernetes-preserve-unknown-fields``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kubeasset.api.pod import PodSettings

#: Lists merged item by item, and the field that identifies an item. ``volumeMounts`` are keyed by
#: ``mountPath`` as in the CRD schema (and Kubernetes' own merge key): one volume may be mounted twice.
KEYED_LISTS: Final = {"env": "name", "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name"}
#: Lists the job's items are appended to.
CONCATENATED_LISTS: Final = ("envFrom", "tolerations")
#: Maps merged key by key (the job's value wins).
MERGED_MAPS: Final = ("nodeSelector", "labels", "annotations")

#: The container securityContext of the Pod Security Standards' "restricted" profile; a settings
#: ``securityContext`` replaces it whole. The root filesystem stays writable: the runner's default
#: storage and most Python libraries write under /tmp.
RESTRICTED_CONTAINER_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": False,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: The Pod securityContext default; a settings ``podSecurityContext`` replaces it whole.
RESTRICTED_POD_SECURITY_CONTEXT: Final[Mapping[str, Any]] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def merge_pod_settings(*layers: PodSettings | None) -> dict[str, Any]:
    """The JSON form of ``layers`` laid over each other, later layers winning (location, then job).

    Keyed lists replace an item with the same key in place and append new ones; ``envFrom`` and
    ``tolerations`` are concatenated; ``nodeSelector``, ``labels`` and ``annotations`` are merged key by
    key; every other field is replaced whole (``resources``, ``serviceAccountName``, ``affinity``...).

    Example::

        merge_pod_settings(location.spec.pod, job.spec.pod)["env"]
        # [{"name": "REGION", "value": "eu"}, {"name": "CURRENCY", "value": "EUR"}]
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        for field, value in layer.to_json().items():
            if field in KEYED_LISTS:
                merged[field] = _merge_keyed(merged.get(field, []), value, KEYED_LISTS[field])
            elif field in CONCATENATED_LISTS:
                merged[field] = [*merged.get(field, []), *value]
            elif field in MERGED_MAPS:
                merged[field] = {**merged.get(field, {}), **value}
            else:
                merged[field] = value
    return merged


def _merge_keyed(base: Sequence[Mapping[str, Any]], over: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    replacements = {item[key]: item for item in over}
    result = [replacements.pop(item[key], item) for item in base]
    # What is left are new items, appended in the order the job gives them.
    result.extend(item for item in over if item[key] in replacements)
    return result


def without_empty(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without None values and empty lists or maps: a manifest shows only what is set."""
    return {name: value for name, value in fields.items() if value is not None and value != [] and value != {}}
