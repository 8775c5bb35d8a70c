"""The discovery Pod of a CodeLocation: a short Pod running ``python -m kubeasset.runner describe`` in the
location's image, with the location's Pod settings (and the restricted defaults of ``pod_settings``),
that prints the asset graph (docs/runner-events.md).

Its name comes from :func:`kubeasset.reconcile.naming.discovery_pod_name`: one Pod per distinct
discovery input, so a re-delivered event finds the Pod it created and a new image makes a new Pod.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from kubeasset.api.codelocation import CodeLocation
from kubeasset.reconcile.naming import (
    COMPONENT_DISCOVERY,
    DISCOVERY_HASH_ANNOTATION,
    child_labels,
    discovery_hash,
    discovery_pod_name,
    owner_reference,
)
from kubeasset.reconcile.pod_settings import (
    RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    RESTRICTED_POD_SECURITY_CONTEXT,
    merge_pod_settings,
)

#: The container of the discovery Pod (the one its outcome is read from).
DISCOVERY_CONTAINER: Final = "discovery"


@dataclass(frozen=True)
class DiscoveryDefaults:
    """The controller's settings for discovery (Helm values), not the CodeLocation's.

    ``active_deadline_seconds`` bounds a discovery Pod (image pull included): importing a module takes
    seconds, so a Pod past this is stuck. ``resources`` applies when the location's ``pod.resources``
    is unset. A discovery that failed for a reason that may pass (OOMKilled, evicted, deadline, image
    pull) is tried again ``retry_seconds`` after it ended; one that failed in the code (import error,
    invalid graph) is not, until the input changes. While a discovery runs the location is looked at
    again every ``poll_seconds``.
    """

    active_deadline_seconds: int = 600
    resources: Mapping[str, Any] | None = field(
        default_factory=lambda: MappingProxyType(
            {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
        )
    )
    retry_seconds: float = 300.0
    poll_seconds: float = 10.0


def build_discovery_pod(location: CodeLocation, *, now: datetime, defaults: DiscoveryDefaults) -> dict[str, Any]:
    """The discovery Pod manifest for ``location`` at ``now`` (``now`` picks the periodic-refresh epoch).

    Example::

        pod = build_discovery_pod(location, now=now, defaults=DiscoveryDefaults())
        core_v1.create_namespaced_pod(namespace, body=pod)  # 409: already there, which is fine
    """
    spec = location.spec
    settings = merge_pod_settings(spec.pod)  # the location's settings alone (no job for discovery)
    name = location.metadata.name or ""
    args = ["--module", spec.module]
    if spec.working_directory:
        args += ["--working-directory", spec.working_directory]
    container: dict[str, Any] = {
        "name": DISCOVERY_CONTAINER,
        "image": spec.image,
        "command": ["python", "-m", "kubeasset.runner", "describe"],
        "args": args,
        # The runner writes its one-line summary to /dev/termination-log; should it die first, the log's
        # tail becomes the message, so the status still says why.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": settings.get("securityContext", copy.deepcopy(dict(RESTRICTED_CONTAINER_SECURITY_CONTEXT))),
    }
    resources = settings.get("resources", dict(defaults.resources) if defaults.resources else None)
    if resources:
        container["resources"] = resources
    for key in ("env", "envFrom", "volumeMounts", "imagePullPolicy"):
        if key in settings:
            container[key] = settings[key]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        # Service links add an env var per Service of the namespace: noise, and slow with many Services.
        "enableServiceLinks": False,
        "activeDeadlineSeconds": defaults.active_deadline_seconds,
        "securityContext": settings.get("podSecurityContext", copy.deepcopy(dict(RESTRICTED_POD_SECURITY_CONTEXT))),
        "containers": [container],
    }
    for key in (
        "serviceAccountName",
        "imagePullSecrets",
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
        "volumes",
    ):
        if key in settings:
            pod_spec[key] = settings[key]
    # Users' labels and annotations first: kubeasset's own keys win, selectors depend on them.
    labels = {**settings.get("labels", {}), **child_labels(COMPONENT_DISCOVERY, code_location=name)}
    annotations = {**settings.get("annotations", {}), DISCOVERY_HASH_ANNOTATION: discovery_hash(location, now)}
    metadata: dict[str, Any] = {
        "name": discovery_pod_name(location, now),
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [owner_reference(location)],
    }
    if location.metadata.namespace:
        metadata["namespace"] = location.metadata.namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
