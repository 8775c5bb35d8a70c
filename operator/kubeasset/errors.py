"""The one error tree of kubeasset: every error the product raises on purpose derives from KubeassetError.

The CLI prints these as one readable line, and the controller maps them in one place to kopf's
temporary or permanent errors; anything that is not a KubeassetError is a bug and keeps its traceback.
"""

from __future__ import annotations


class KubeassetError(Exception):
    """Root of every error kubeasset raises on purpose; its message is written for a person."""


class DefinitionError(KubeassetError):
    """User code defines assets or jobs in a way that cannot work (bad name, duplicate key, ...)."""


class InvalidAssetKeyError(DefinitionError):
    """An asset key, or a part of one, breaks the naming rule."""


class GraphError(DefinitionError):
    """The asset graph as a whole is invalid."""


class UnknownDependencyError(GraphError):
    """An asset depends on a key that no asset in the definitions has."""


class CycleError(GraphError):
    """The dependencies form a cycle; the message names it."""


class DuplicateKeyError(GraphError):
    """Two assets share one key."""


class SelectionError(KubeassetError):
    """An asset selection cannot be evaluated."""


class SelectionSyntaxError(SelectionError):
    """A selection string does not parse; `column` is 1-based and points at the offending character."""

    def __init__(self, message: str, *, text: str, column: int) -> None:
        super().__init__(message)
        self.text = text
        self.column = column


class EmptySelectionError(SelectionError):
    """A selection (for example a job's) matched no asset where at least one is required."""


class CodeLocationLoadError(KubeassetError):
    """A code location's module could not be imported or holds no single Definitions object.

    ``cause_type`` names the underlying exception (``"CycleError"``, ``"ModuleNotFoundError"``),
    ``candidates`` the module-level names holding Definitions objects (when there were several), and
    ``traceback_text`` the import's traceback, for ``--debug`` output.
    """

    def __init__(
        self,
        message: str,
        *,
        module: str,
        cause_type: str | None = None,
        candidates: tuple[str, ...] = (),
        traceback_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.module = module
        self.cause_type = cause_type
        self.candidates = candidates
        self.traceback_text = traceback_text


class RunnerError(KubeassetError):
    """The pod-side runner was asked to do something it cannot (unknown asset, bad arguments)."""


class ClusterError(KubeassetError):
    """The local control plane used by tests and `kubeasset cluster` cannot be provided or run."""


class BinariesError(ClusterError):
    """kube-apiserver, kube-controller-manager or etcd can neither be found nor built."""


class InvalidMetadataError(DefinitionError):
    """A metadata entry (definition or materialization metadata) has a key or value kubeasset cannot store."""


class UnknownJobError(DefinitionError):
    """A job name was asked for that the definitions do not define; the message lists the defined jobs."""


class StorageError(KubeassetError):
    """An IO manager could not store or load an asset value."""


class StoredValueNotFoundError(StorageError):
    """An asset's value was needed from storage but was never stored there (materialize the asset first)."""


class ProtocolError(KubeassetError):
    """A runner event line or termination summary does not follow docs/runner-events.md."""


class ApiModelError(KubeassetError):
    """A custom resource (a manifest or an object read from the API server) does not fit its model."""


class InvalidManifestError(ApiModelError):
    """A kubeasset manifest is invalid; the message lists each bad field by its path, e.g. spec.cron[0]."""


class CrdSchemaError(ApiModelError):
    """An API model cannot be expressed as a structural CRD schema (a bug in the models, not user input)."""


class KubeletError(ClusterError):
    """The local kubelet cannot reach the API server or run its node (the message says which call failed)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ContainerConfigError(KubeletError):
    """A Pod's container cannot be started as specified (missing ConfigMap key, no command...); the
    kubelet reports it as the container's waiting reason, as a real kubelet does."""

    def __init__(self, message: str, *, reason: str = "CreateContainerConfigError") -> None:
        super().__init__(message)
        self.reason = reason


class ScheduleError(KubeassetError):
    """An AssetSchedule's timing cannot be used: a cron expression or a time zone is invalid."""


class CronError(ScheduleError):
    """A cron expression is invalid; ``field`` names the bad field (``hour``) and ``column`` (1-based)
    points at the offending character of ``expression``, for a ``Ready=False`` message."""

    def __init__(self, message: str, *, expression: str, field: str | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.expression = expression
        self.field = field
        self.column = column


class TimezoneError(ScheduleError):
    """A time zone name is not a known IANA zone (``Europe/Berlin``, ``UTC``)."""

    def __init__(self, message: str, *, timezone: str) -> None:
        super().__init__(message)
        self.timezone = timezone


class RunPodError(KubeassetError):
    """A run's Pod cannot be built as asked (no assets, an invalid key, or a manifest beyond a Kubernetes
    or Linux size limit); the run fails with this message instead of a Pod the cluster would reject."""


class ControllerError(KubeassetError):
    """The controller could not apply a reconcile's result to the cluster."""


class ObjectConflictError(ControllerError):
    """An object kubeasset wanted to create exists already and belongs to another owner (a Pod or an Asset
    of the same name that someone else made): kubeasset neither adopts nor deletes it."""


class StaleCacheError(ControllerError):
    """The object changed since the controller last saw it (a 409 on a resourceVersion precondition)."""


class KubernetesAccessError(KubeassetError):
    """A command could not do what it asked of the API server (no kubeconfig, server unreachable, object or
    CRD missing, request refused); the message names the object and what to check. ``status`` is the HTTP
    status when the server answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LeadershipLostError(ControllerError):
    """This controller replica no longer holds the leader-election Lease (someone else took it, or it could not
    be renewed in time); it stops acting, and its process exits so Kubernetes restarts it as a standby."""
