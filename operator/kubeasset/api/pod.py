"""Pod settings a CodeLocation (and an AssetJob, as overrides) gives the Pods kubeasset starts.

Kubernetes-typed pieces (env vars, volumes, tolerations, ...) are *minimal typed models that keep unknown
fields*: the fields that identify an item (``name``, ``mountPath``) or that kubeasset reads are typed
and validated, and every other field is preserved as written (``x-kubernetes-preserve-unknown-fields``).
Why not the full core/v1 schemas: they would make each CRD tens of thousands of lines (``Volume`` alone
is most of a PodSpec), pin the CRDs to one Kubernetes minor version, and the API server validates the
complete Pod anyway when the controller creates it (a rejected Pod becomes a Failed run with the API
server's message). Why not untyped objects: the identifying fields give early errors for the common
mistakes and let these lists be ``x-kubernetes-list-type: map``, so GitOps tools and server-side apply
merge them item by item, as they do a Pod's own lists.

How settings combine (the controller's merge, documented here because users write both sides): an
AssetJob's ``pod`` is laid over its CodeLocation's ``pod``: lists keyed by name (env, volumes,
volumeMounts, imagePullSecrets) are merged by key with the job's item winning, other lists (envFrom,
tolerations) are concatenated, maps (nodeSelector, labels, annotations) are merged key by key, and
single values (serviceAccountName, resources, affinity, ...) are replaced.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from kubeasset.api.base import KubeModel, PassThroughModel
from kubeasset.api.markers import list_map
from kubeasset.api.types import (
    DNS_LABEL_PATTERN,
    ENV_VAR_NAME_PATTERN,
    MAX_PATH_LENGTH,
    FreeFormObject,
    ObjectName,
    Quantity,
    ShortString,
)

_MAX_ENV = 256
_MAX_VOLUMES = 64
_MAX_LIST = 64
_MAX_MAP = 64

EnvVarName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ENV_VAR_NAME_PATTERN)]
VolumeName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
LabelMapValue = Annotated[str, StringConstraints(max_length=4096)]


class EnvVar(PassThroughModel):
    """An environment variable of the container, as in a Pod: ``{name, value}`` or ``{name, valueFrom}``."""

    name: EnvVarName
    """The variable's name."""
    value: Annotated[str, StringConstraints(max_length=32768)] | None = None
    """The value; ``$(OTHER_VAR)`` references are expanded by the kubelet."""
    value_from: FreeFormObject | None = None
    """A source such as ``secretKeyRef`` or ``configMapKeyRef`` (the Pod's ``EnvVarSource``)."""


class LocalObjectReference(PassThroughModel):
    """A reference to an object in the same namespace by name (a Secret, a ConfigMap)."""

    name: ObjectName
    """The object's name."""


class OptionalObjectReference(LocalObjectReference):
    """A ConfigMap or Secret reference that may be marked optional."""

    optional: bool | None = None
    """Start the Pod even if the object does not exist."""


class EnvFromSource(PassThroughModel):
    """All keys of a ConfigMap or Secret as environment variables, optionally with a name prefix."""

    prefix: ShortString | None = None
    """Put before every variable name."""
    config_map_ref: OptionalObjectReference | None = None
    """The ConfigMap to read."""
    secret_ref: OptionalObjectReference | None = None
    """The Secret to read."""


class ResourceRequirements(PassThroughModel):
    """CPU, memory and other resources: ``{requests: {cpu: 500m}, limits: {memory: 1Gi}}``."""

    limits: Annotated[dict[str, Quantity], Field(max_length=_MAX_MAP)] | None = None
    """The most the container may use."""
    requests: Annotated[dict[str, Quantity], Field(max_length=_MAX_MAP)] | None = None
    """What the scheduler reserves for the container."""


class Toleration(PassThroughModel):
    """Lets the Pod run on nodes with a matching taint (the Pod's ``Toleration``)."""

    key: ShortString | None = None
    """The taint key; empty with operator Exists matches every taint."""
    operator: ShortString | None = None
    """Equal (default) or Exists."""
    value: ShortString | None = None
    """The taint value, for operator Equal."""
    effect: ShortString | None = None
    """NoSchedule, PreferNoSchedule or NoExecute; empty matches all."""
    toleration_seconds: int | None = None
    """For NoExecute: how long the Pod stays after the taint appears."""


class Volume(PassThroughModel):
    """A volume of the Pod: a name plus one source (``configMap``, ``secret``, ``persistentVolumeClaim``)."""

    name: VolumeName
    """The name volumeMounts refer to."""


class VolumeMount(PassThroughModel):
    """Where a volume appears in the container."""

    name: VolumeName
    """The volume's name."""
    mount_path: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH)]
    """The path in the container."""
    read_only: bool | None = None
    """Mount read-only."""
    sub_path: Annotated[str, StringConstraints(max_length=MAX_PATH_LENGTH)] | None = None
    """Mount only this path of the volume."""


class ImagePullPolicy(StrEnum):
    """When the kubelet pulls the image."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class PodSettings(KubeModel):
    """Settings of the Pods started for a code location (discovery and runs), all optional.

    Environment variables for runs go in ``env``; an AssetJob's ``pod`` overrides these (see the module
    documentation of kubeasset.api.pod for how the two combine).
    """

    env: Annotated[list[EnvVar], Field(max_length=_MAX_ENV, json_schema_extra=list_map("name"))] | None = None
    """Environment variables of the container."""
    env_from: Annotated[list[EnvFromSource], Field(max_length=_MAX_LIST)] | None = None
    """ConfigMaps and Secrets whose keys all become environment variables."""
    resources: ResourceRequirements | None = None
    """CPU and memory requests and limits of the container."""
    service_account_name: ObjectName | None = None
    """The Pod's service account (its token is not mounted unless the service account says so)."""
    image_pull_policy: ImagePullPolicy | None = None
    """Always, IfNotPresent or Never; Kubernetes' default when unset (Always for ``:latest``)."""
    image_pull_secrets: (
        Annotated[list[LocalObjectReference], Field(max_length=_MAX_LIST, json_schema_extra=list_map("name"))]
        | None
    ) = None
    """Secrets holding registry credentials for the image."""
    node_selector: Annotated[dict[str, LabelMapValue], Field(max_length=_MAX_MAP)] | None = None
    """Node labels the Pod's node must have."""
    tolerations: Annotated[list[Toleration], Field(max_length=_MAX_LIST)] | None = None
    """Taints the Pod tolerates."""
    affinity: FreeFormObject | None = None
    """The Pod's affinity (nodeAffinity, podAffinity, podAntiAffinity), as in a Pod."""
    priority_class_name: ObjectName | None = None
    """The Pod's PriorityClass."""
    volumes: (
        Annotated[list[Volume], Field(max_length=_MAX_VOLUMES, json_schema_extra=list_map("name"))] | None
    ) = None
    """Volumes of the Pod (a PVC for the storage URL's path, Secrets with credentials, ...)."""
    volume_mounts: (
        Annotated[list[VolumeMount], Field(max_length=_MAX_VOLUMES, json_schema_extra=list_map("mountPath"))]
        | None
    ) = None
    """Where the volumes are mounted in the container."""
    labels: Annotated[dict[str, LabelMapValue], Field(max_length=_MAX_MAP)] | None = None
    """Extra labels of the Pod (kubeasset's own kubeasset.dev/* labels win on conflict)."""
    annotations: Annotated[dict[str, LabelMapValue], Field(max_length=_MAX_MAP)] | None = None
    """Extra annotations of the Pod, e.g. for a service mesh or a log shipper."""
    security_context: FreeFormObject | None = None
    """The container's securityContext; replaces kubeasset's restricted default when set."""
    pod_security_context: FreeFormObject | None = None
    """The Pod's securityContext (runAsUser, fsGroup, ...); replaces kubeasset's default when set."""
