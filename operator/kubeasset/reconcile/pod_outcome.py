"""What an observed Pod says about the work in it: one pure reading of its status, with a reason a person
can act on ("Pod shop-run-1 was OOMKilled (memory limit 256Mi) after 12s").

Run reconciliation (and discovery, which runs the same kind of one-container Pod) decide on this
reading instead of on raw Pod fields, so the many ways a kubelet reports the same fate (a pod-level
``reason``, a container's ``terminated.reason``, a deletion, a DisruptionTarget condition) are mapped
in one place, in a documented order:

1. no Pod: NotCreated (or Failed/``Deleted`` when the caller knows it existed before);
2. a pod-level verdict of the kubelet or the node controller (``Evicted``, ``DeadlineExceeded``,
   ``NodeLost``, admission rejections such as ``OutOfmemory``): it wins over the container's state,
   which the kubelet often leaves stale or reports as a plain kill (exit 137/143);
3. the container's ``terminated`` state: exit 0 is Succeeded; ``OOMKilled``, ``ContainerCannotRun`` /
   ``StartError``, ``DeadlineExceeded`` keep their reason; a kill during deletion is ``Deleted``; any
   other exit is ``Error`` with the exit code and the termination message;
4. a deletion in progress (``deletionTimestamp``) of an unfinished Pod: Terminating (the runner still
   writes its last events and summary), then ``Deleted`` once the container stopped; except a Pod evicted
   from a dead node: Failed/``NodeLost`` at once (below);
5. a container that cannot start (``ErrImagePull``, ``ImagePullBackOff``, ``InvalidImageName``,
   ``CreateContainerConfigError``, ...): NotStarting, final for ``InvalidImageName`` (the image of a Pod
   cannot change) and for ``StartTimeout`` (not running ``start_timeout_seconds`` after the Pod's
   creation: the Pod of a run queued behind ``maxConcurrentRuns`` is created late, so waiting in the
   queue does not count);
6. otherwise Pending (scheduling, pulling, creating), Running, or Unknown (the node stopped reporting).

A dead node, the way Kubernetes reports it (no kubelet is left to write a terminated state): the node
lifecycle controller notices the Node's Lease is no longer renewed, sets the Node Ready=Unknown and the
Pod's Ready condition to False *without a reason* (a kubelet always gives one: ContainersNotReady,
PodCompleted, ...) while the container still shows ``running``, and taints the Node NoExecute; once the
Pod's toleration of that taint runs out, the taint eviction controller sets ``DisruptionTarget``
(``DeletionByTaintManager``) and deletes the Pod, which then stays Terminating for as long as the node is
gone (nobody confirms the deletion). Such a Pod is read as Failed/``NodeLost``, final, at its eviction:
waiting for it to stop would wait forever, and the work in it is lost either way. Before the eviction, a
running Pod on a node marked not ready is Unknown (``NodeNotReporting``): the node may come back.

The container read is the one named ``container`` (default: the Pod's first container), not the Pod's
phase alone: a sidecar injected by a service mesh can keep a Pod Running after the runner finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from kubeasset.errors import ProtocolError
from kubeasset.sdk.runner_protocol import (
    EVENT_LINE_PREFIX,
    EXIT_ASSETS_FAILED,
    EXIT_COULD_NOT_START,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED_BASE,
    parse_run_summary,
)


class PodOutcomeKind(StrEnum):
    """Where the Pod is, as far as the work in it is concerned."""

    NOT_CREATED = "NotCreated"
    """No Pod (yet)."""
    PENDING = "Pending"
    """Created, not running yet: scheduling, pulling the image, creating the container."""
    NOT_STARTING = "NotStarting"
    """The container cannot start (image pull error, bad config, start timeout)."""
    RUNNING = "Running"
    """The container runs."""
    TERMINATING = "Terminating"
    """Being deleted while unfinished; the runner gets SIGTERM and writes its last events."""
    UNKNOWN = "Unknown"
    """The Pod's node stopped reporting (phase Unknown); the Pod may come back."""
    SUCCEEDED = "Succeeded"
    """The container exited 0."""
    FAILED = "Failed"
    """The container or the Pod ended in failure; ``reason`` says how."""


#: Container ``waiting`` reasons that mean the container cannot start (as opposed to being on its way).
NOT_STARTING_REASONS: Final = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
        "SignatureValidationFailed",
        "CreateContainerConfigError",
        "CreateContainerError",
        "PreCreateHookError",
        "PreStartHookError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)
#: ...of which these never clear up by themselves (the image of a Pod cannot be changed).
PERMANENT_NOT_STARTING_REASONS: Final = frozenset({"InvalidImageName"})
#: Reason of a Pod that did not start within the start timeout.
START_TIMEOUT: Final = "StartTimeout"
#: Reason of a Pod deleted before it finished.
DELETED: Final = "Deleted"
#: Reason of a Pod evicted from a node that stopped responding.
NODE_LOST: Final = "NodeLost"
#: The DisruptionTarget reason of the taint eviction controller (Kubernetes 1.26+).
TAINT_EVICTION: Final = "DeletionByTaintManager"

#: Pod-level reasons of a Pod that the kubelet or the node controller ended.
_POD_VERDICTS: Final = {
    "Evicted": "was evicted",
    "DeadlineExceeded": "exceeded its run timeout (activeDeadlineSeconds)",
    "NodeLost": "was lost with its node",
    "Shutdown": "was stopped by a node shutdown",
    "Terminated": "was stopped by a node shutdown",
    "NodeShutdown": "was stopped by a node shutdown",
}
#: Container ``terminated`` reasons of a container that never ran the command.
_CANNOT_RUN_REASONS: Final = frozenset({"ContainerCannotRun", "StartError"})
#: How long a one-line message may get before it is cut (a status message holds several).
_MAX_DETAIL_CHARS: Final = 1000
_SIGNALS: Final = {1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}


@dataclass(frozen=True)
class PodOutcome:
    """One reading of a Pod: its kind, a CamelCase ``reason`` (for a condition or an Event), and a
    one-line ``message`` for the run's status, plus what the container reported.

    ``termination_message`` is the container's raw termination message: the runner's JSON summary, or,
    when the runner never wrote one, the tail of its log (``FallbackToLogsOnError``).
    """

    kind: PodOutcomeKind
    reason: str
    message: str
    pod_name: str | None = None
    exit_code: int | None = None
    termination_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    image_id: str | None = None
    final: bool = False
    """True when the work in the Pod is over for good: Succeeded, Failed, or a permanent NotStarting."""

    @property
    def runner_completed(self) -> bool:
        """The runner ended on its own terms (exit 0, 1 or 2): its summary and events are the whole story."""
        return self.kind in (PodOutcomeKind.SUCCEEDED, PodOutcomeKind.FAILED) and self.exit_code in (
            0,
            EXIT_ASSETS_FAILED,
            EXIT_COULD_NOT_START,
        )


def classify_pod(
    pod: Mapping[str, Any] | None,
    *,
    now: datetime,
    start_timeout_seconds: float | None,
    container: str | None = None,
    previously_seen: bool = False,
) -> PodOutcome:
    """Read a Pod (a JSON dict as the API server returns it) into a :class:`PodOutcome`.

    ``previously_seen``: the caller knows the Pod existed (the run recorded it); then a missing Pod was
    deleted, which ends the work (read it with a GET, not from a cache that may lag behind a create).

    Example::

        outcome = classify_pod(pod, now=now, start_timeout_seconds=job.spec.start_timeout_seconds)
        if outcome.final: ...
    """
    if pod is None:
        if previously_seen:
            return PodOutcome(
                kind=PodOutcomeKind.FAILED,
                reason=DELETED,
                message="the Pod was deleted before it finished (it no longer exists)",
                final=True,
            )
        return PodOutcome(kind=PodOutcomeKind.NOT_CREATED, reason="PodNotCreated", message="no Pod yet")
    return _Reading(pod, container).classify(now, start_timeout_seconds)


class _Reading:
    """The fields of one Pod that the classification reads, extracted once."""

    def __init__(self, pod: Mapping[str, Any], container: str | None) -> None:
        metadata = _mapping(pod.get("metadata"))
        spec = _mapping(pod.get("spec"))
        self.status = _mapping(pod.get("status"))
        self.name = str(metadata.get("name") or "")
        self.node_name = str(spec.get("nodeName") or "") or None
        self.created = _time(metadata.get("creationTimestamp"))
        self.deleting = metadata.get("deletionTimestamp") is not None
        self.phase = str(self.status.get("phase") or "Pending")
        containers = [_mapping(item) for item in spec.get("containers") or ()]
        self.container_name = container or (str(containers[0].get("name")) if containers else None)
        self.deadline = _int(spec.get("activeDeadlineSeconds"))
        self.container_spec = next((c for c in containers if c.get("name") == self.container_name), {})
        statuses = [_mapping(item) for item in self.status.get("containerStatuses") or ()]
        # Never another container's status: an injected sidecar's state says nothing about the work.
        self.container_status = next((s for s in statuses if s.get("name") == self.container_name), {})
        self.init_statuses = [_mapping(item) for item in self.status.get("initContainerStatuses") or ()]
        state = _mapping(self.container_status.get("state"))
        self.waiting = _mapping(state.get("waiting")) if "waiting" in state else None
        self.running = _mapping(state.get("running")) if "running" in state else None
        self.terminated = _mapping(state.get("terminated")) if "terminated" in state else None
        self.image_id = str(self.container_status.get("imageID") or "") or None

    # --- the decision ----------------------------------------------------------------------------

    def classify(self, now: datetime, start_timeout_seconds: float | None) -> PodOutcome:
        pod_reason = str(self.status.get("reason") or "")
        if pod_reason and (self.phase == "Failed" or pod_reason == "NodeLost"):
            # The kubelet's or node controller's verdict: the container state next to it is often stale
            # (still "running" after a deadline) or a plain kill (137/143, even "OOMKilled" on a drain).
            return self._pod_verdict(pod_reason)
        if self.terminated is not None:
            return self._terminated(self.terminated)
        if self.phase in ("Succeeded", "Failed"):
            return self._finished_without_container_state()
        if self._node_marked_not_ready() and (self.waiting is None or self._evicted()):
            # A waiting container (ErrImagePull, ...) is the kubelet's own report: it is read as such until
            # the node's eviction, which is final either way.
            return self._on_dead_node()
        if self.deleting:
            return self._outcome(
                PodOutcomeKind.TERMINATING,
                "Terminating",
                f"is being deleted{self._disruption()}; waiting for it to stop",
            )
        if self.phase == "Unknown":
            return self._outcome(
                PodOutcomeKind.UNKNOWN, "NodeNotReporting", "is in phase Unknown: its node stopped reporting"
            )
        if self.running is not None:
            return self._outcome(PodOutcomeKind.RUNNING, "Running", "is running")
        return self._not_running(now, start_timeout_seconds)

    def _on_dead_node(self) -> PodOutcome:
        node = f"node {self.node_name}" if self.node_name else "its node"
        eviction = self._condition("DisruptionTarget")
        if self.deleting and eviction is not None and eviction.get("reason") == TAINT_EVICTION:
            detail = _one_line(str(eviction.get("message") or ""))
            text = (
                f"was lost: {node} stopped responding and Kubernetes evicted the Pod "
                f"({TAINT_EVICTION}{f': {detail}' if detail else ''}); what it did after its last report is unknown"
            )
            return self._outcome(PodOutcomeKind.FAILED, NODE_LOST, text, final=True)
        text = f"is on {node}, which stopped reporting; Kubernetes evicts the Pod if the node does not come back"
        if self.deleting:
            text += f"; being deleted{self._disruption()}"
        return self._outcome(PodOutcomeKind.UNKNOWN, "NodeNotReporting", text)

    def _evicted(self) -> bool:
        eviction = self._condition("DisruptionTarget")
        return self.deleting and eviction is not None and eviction.get("reason") == TAINT_EVICTION

    def _node_marked_not_ready(self) -> bool:
        """The node lifecycle controller's mark: Ready=False with no reason on a Pod whose container still
        shows running or waiting (a kubelet writes a reason with every Ready=False it reports)."""
        ready = self._condition("Ready")
        return ready is not None and ready.get("status") == "False" and not ready.get("reason")

    def _pod_verdict(self, reason: str) -> PodOutcome:
        what = _POD_VERDICTS.get(reason, f"failed ({reason})")
        detail = _one_line(str(self.status.get("message") or ""))
        if reason == "DeadlineExceeded" and self.deadline is not None:
            what, detail = f"exceeded its run timeout of {format_duration(self.deadline)} (runTimeoutSeconds)", ""
        text = what + self._after() + (f": {detail}" if detail else "")
        return self._outcome(PodOutcomeKind.FAILED, reason, text, final=True)

    def _terminated(self, terminated: Mapping[str, Any]) -> PodOutcome:
        exit_code = _int(terminated.get("exitCode"))
        reason = str(terminated.get("reason") or "")
        message = str(terminated.get("message") or "") or None
        if exit_code == 0:
            return self._outcome(PodOutcomeKind.SUCCEEDED, "Completed", "succeeded" + self._after(), final=True)
        if reason == "OOMKilled":
            limit = self._memory_limit()
            limit_text = f" (memory limit {limit})" if limit else " (no memory limit: the node ran out of memory)"
            text = f"was OOMKilled{limit_text}{self._after()}"
            return self._outcome(PodOutcomeKind.FAILED, "OOMKilled", text, final=True)
        if reason in _CANNOT_RUN_REASONS:
            text = f"could not run its command: {_one_line(message or reason)}"
            return self._outcome(PodOutcomeKind.FAILED, "ContainerCannotRun", text, final=True)
        if reason == "DeadlineExceeded":
            return self._pod_verdict("DeadlineExceeded")
        if self.deleting and exit_code not in (EXIT_ASSETS_FAILED, EXIT_COULD_NOT_START):
            text = f"was deleted{self._after()}, before it finished{self._disruption()}"
            return self._outcome(PodOutcomeKind.FAILED, DELETED, text, final=True)
        text = f"failed: {_exit_description(exit_code)}{self._after()}"
        if message and not _is_run_summary(message):
            text += f": {_last_line(message)}"
        return self._outcome(PodOutcomeKind.FAILED, reason or "Error", text, final=True)

    def _finished_without_container_state(self) -> PodOutcome:
        init_failure = self._init_failure()
        if init_failure is not None:
            return init_failure
        if self.phase == "Succeeded":
            return self._outcome(PodOutcomeKind.SUCCEEDED, "Completed", "succeeded" + self._after(), final=True)
        detail = _one_line(str(self.status.get("message") or "")) or "no container status was reported"
        return self._outcome(PodOutcomeKind.FAILED, "Failed", f"failed: {detail}", final=True)

    def _not_running(self, now: datetime, start_timeout_seconds: float | None) -> PodOutcome:
        blocked = self._blocked_waiting()
        waited = (now - self.created).total_seconds() if self.created is not None else None
        if start_timeout_seconds is not None and waited is not None and waited >= start_timeout_seconds:
            if blocked is not None:
                cause = f"{blocked[0]}: {blocked[1]}" if blocked[1] else blocked[0]
            else:
                cause = self._pending_detail()
            text = f"did not start within {format_duration(start_timeout_seconds)} ({cause})"
            return self._outcome(PodOutcomeKind.NOT_STARTING, START_TIMEOUT, text, final=True)
        if blocked is not None:
            reason, detail = blocked
            text = f"cannot start: {reason}" + (f": {detail}" if detail else "") + _hint(reason, detail)
            final = reason in PERMANENT_NOT_STARTING_REASONS
            return self._outcome(PodOutcomeKind.NOT_STARTING, reason, text, final=final)
        reason = self._pending_reason()
        return self._outcome(PodOutcomeKind.PENDING, reason, f"is not running yet: {self._pending_detail()}")

    # --- pieces ----------------------------------------------------------------------------------

    def _blocked_waiting(self) -> tuple[str, str] | None:
        """(reason, message) of a container (init containers first) that cannot start."""
        for status in [*self.init_statuses, self.container_status]:
            waiting = _mapping(_mapping(status.get("state")).get("waiting"))
            reason = str(waiting.get("reason") or "")
            if reason in NOT_STARTING_REASONS:
                detail = _one_line(str(waiting.get("message") or ""))
                if status is not self.container_status:
                    detail = f"init container {status.get('name')}: {detail}".rstrip(": ")
                return reason, detail
        return None

    def _init_failure(self) -> PodOutcome | None:
        """A failed init container of a failed Pod (with restartPolicy Never, the Pod fails with it)."""
        for status in self.init_statuses:
            terminated = _mapping(_mapping(status.get("state")).get("terminated"))
            code = _int(terminated.get("exitCode"))
            if terminated and code not in (0, None):
                text = f"failed in init container {status.get('name')}: {_exit_description(code)}"
                if terminated.get("message"):
                    text += f": {_last_line(str(terminated['message']))}"
                return self._outcome(PodOutcomeKind.FAILED, "InitContainerFailed", text, final=True)
        return None

    def _pending_reason(self) -> str:
        scheduled = self._condition("PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            return str(scheduled.get("reason") or "Unschedulable")
        if self.waiting is not None and self.waiting.get("reason"):
            return str(self.waiting["reason"])
        return "Pending"

    def _pending_detail(self) -> str:
        scheduled = self._condition("PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            message = _one_line(str(scheduled.get("message") or ""))
            return f"waiting to be scheduled: {message}" if message else "waiting to be scheduled"
        if scheduled is None or not self.status.get("containerStatuses"):
            return "waiting to be scheduled" if scheduled is None else "preparing the Pod"
        reason = str((self.waiting or {}).get("reason") or "")
        if reason == "ContainerCreating":
            return "pulling the image and creating the container"
        if reason == "PodInitializing":
            return "running init containers"
        return reason or "starting"

    def _condition(self, type_: str) -> Mapping[str, Any] | None:
        for condition in self.status.get("conditions") or ():
            if _mapping(condition).get("type") == type_:
                return _mapping(condition)
        return None

    def _disruption(self) -> str:
        """Why Kubernetes deleted the Pod, when it says (the DisruptionTarget condition, 1.26+)."""
        condition = self._condition("DisruptionTarget")
        if condition is None or condition.get("status") != "True":
            return ""
        message = _one_line(str(condition.get("message") or ""))
        return f" ({condition.get('reason')}: {message})" if message else f" ({condition.get('reason')})"

    def _memory_limit(self) -> str | None:
        limits = _mapping(_mapping(self.container_spec.get("resources")).get("limits"))
        value = limits.get("memory")
        return str(value) if value is not None else None

    def _started(self) -> datetime | None:
        for state in (self.running, self.terminated):
            if state is not None and _time(state.get("startedAt")) is not None:
                return _time(state.get("startedAt"))
        return None

    def _finished(self) -> datetime | None:
        return _time(self.terminated.get("finishedAt")) if self.terminated is not None else None

    def _after(self) -> str:
        started, finished = self._started(), self._finished()
        if started is None or finished is None or finished < started:
            return ""
        return f" after {format_duration((finished - started).total_seconds())}"

    def _outcome(self, kind: PodOutcomeKind, reason: str, text: str, *, final: bool = False) -> PodOutcome:
        terminated = self.terminated or {}
        return PodOutcome(
            kind=kind,
            reason=reason,
            message=f"Pod {self.name} {text}" if self.name else f"the Pod {text}",
            pod_name=self.name or None,
            exit_code=_int(terminated.get("exitCode")),
            termination_message=str(terminated.get("message") or "") or None,
            started_at=self._started(),
            finished_at=self._finished(),
            image_id=self.image_id,
            final=final,
        )


# --- helpers ---------------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Runtimes write the zero time (1970 or year 1) for a container that never started; that is no time.
_EPOCH: Final = datetime(1970, 1, 2, tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        return None
    return moment if moment >= _EPOCH else None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL_CHARS else line[: _MAX_DETAIL_CHARS - 1] + "…"


def _last_line(text: str) -> str:
    """The last non-empty line of a log tail that a person wrote or Python printed (a traceback names the
    exception there); the runner's event lines are for the controller, not for the run's message."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith(EVENT_LINE_PREFIX)]
    return _one_line(lines[-1]) if lines else ""


def _is_run_summary(text: str) -> bool:
    try:
        parse_run_summary(text)
    except ProtocolError:
        return False
    return True


def _exit_description(code: int | None) -> str:
    if code is None:
        return "the container ended without an exit code"
    meaning = {
        EXIT_ASSETS_FAILED: "assets failed",
        EXIT_COULD_NOT_START: "the run could not start",
        # The runner's code for its own failure, but a user's os._exit(3) or sys.exit(3) looks the same.
        EXIT_INTERNAL_ERROR: "internal error of the kubeasset runner, or the asset code exited with 3",
    }.get(code)
    if meaning is None and code > EXIT_INTERRUPTED_BASE:
        signal = _SIGNALS.get(code - EXIT_INTERRUPTED_BASE, f"signal {code - EXIT_INTERRUPTED_BASE}")
        meaning = f"killed by {signal}"
    return f"exit code {code}" + (f" ({meaning})" if meaning else "")


def _hint(reason: str, detail: str) -> str:
    """A next step for the start failures whose message does not say what to do."""
    if reason == "CreateContainerConfigError" and "runAsNonRoot" in detail:
        return (
            " (set pod.securityContext.runAsUser on the CodeLocation or AssetJob, or use a numeric USER in the image)"
        )
    if reason in ("ErrImagePull", "ImagePullBackOff") and "unauthorized" in detail.lower():
        return " (check the CodeLocation's pod.imagePullSecrets)"
    return ""


def format_duration(seconds: float) -> str:
    """How long, for a person: ``12s``, ``3m05s``, ``2h01m`` (``format_duration(185) == "3m05s"``)."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
