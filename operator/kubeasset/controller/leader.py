"""Leader election on a coordination.k8s.io/v1 Lease, so that of several controller replicas exactly one acts:
the others stand by (no watches, no writes) until the leader's Lease expires or is released.

Why a Lease and not kopf's peering: peering needs a cluster-wide KopfPeering CRD of kubeasset's own and only
pauses the lower-priority operators while they keep their watches; a Lease is what controller-runtime and
client-go use, needs nothing but RBAC on one object in one namespace, and lets a standby hold nothing at all.
The decisions are :mod:`kubeasset.reconcile.leader_lease`'s (pure); this module does the calls and the timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

from kubernetes.client.exceptions import ApiException

from kubeasset.controller.errors import CONNECTION_ERRORS, api_message, connection_message
from kubeasset.controller.kube import Kind, KubeIO
from kubeasset.errors import LeadershipLostError
from kubeasset.reconcile.leader_lease import (
    LeaseAction,
    LeaseDecision,
    LeaseTiming,
    decide_lease,
    lease_holder,
    release_lease,
)

log = logging.getLogger("kubeasset.controller")

LEASES: Final = Kind("coordination.k8s.io/v1", "leases", "Lease")
DEFAULT_LEASE_NAME: Final = "kubeasset-controller"
#: Where a Pod finds its own namespace: the default namespace of the Lease in-cluster.
SERVICE_ACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
#: How often a threading.Event stop flag is looked at (an asyncio.Event is awaited directly).
STOP_POLL_SECONDS: Final = 0.1

#: What a stop flag may be: an asyncio.Event in the controller's loop, or a threading.Event set by another thread.
StopFlag = asyncio.Event | threading.Event

#: Failures of one call that a later try may not have: the election keeps trying, as client-go does.
_TRANSIENT = (ApiException, *CONNECTION_ERRORS)


def default_identity() -> str:
    """``<hostname>_<8 hex>``: the Pod's name in-cluster, unique per process even on one host (client-go's form)."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def default_namespace(service_account_namespace: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The namespace of the Lease when none is given: the controller Pod's own, else ``default``."""
    try:
        namespace = service_account_namespace.read_text(encoding="utf-8").strip()
    except OSError:
        return "default"
    return namespace or "default"


class LeaderElector:
    """One replica's side of the election for the Lease ``namespace/name``.

    Example::

        elector = LeaderElector(io, "kubeasset")
        if await elector.acquire(stop):      # stands by until leading; False: stopped first
            hold = asyncio.create_task(elector.hold())   # raises LeadershipLostError when leadership is lost
            ...                              # act; on a clean stop: cancel hold, stop acting, then
            await elector.release()          # a standby takes over at its next try
    """

    def __init__(
        self,
        io: KubeIO,
        namespace: str,
        name: str = DEFAULT_LEASE_NAME,
        identity: str | None = None,
        timing: LeaseTiming | None = None,
    ) -> None:
        self.io = io
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.timing = timing or LeaseTiming()
        #: Monotonic time just before the last write that made or kept us leader; None while not leading.
        self._renewed_at: float | None = None
        #: (resourceVersion, local time first seen) of the Lease as last read: client-go's observedTime.
        self._observed: tuple[str | None, datetime] | None = None
        self._waiting_for: str | None = None
        #: The holder named on the Lease as last read, before our write.
        self._last_holder: str | None = None

    @property
    def lease(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    @property
    def leading(self) -> bool:
        """We hold the Lease as far as we know: acquired, and not lost or released since."""
        return self._renewed_at is not None

    # --- the three phases ------------------------------------------------------------------------------

    async def acquire(self, stop: StopFlag | None = None) -> bool:
        """Stand by until this replica holds the Lease (True), trying every retry period; False when ``stop``
        was set first. API failures are logged and tried again (RBAC may be fixed meanwhile)."""
        log.info("%s: trying to become leader as %s", self.lease, self.identity)
        while not _is_set(stop):
            try:
                decision = await self._try()
            except _TRANSIENT as error:
                log.warning("%s: could not try to become leader: %s", self.lease, _describe(error))
                decision = None
            if decision is not None and decision.leading:
                log.info("%s: became leader as %s", self.lease, self.identity)
                self._waiting_for = None
                return True
            if decision is not None and decision.holder != self._waiting_for:
                self._waiting_for = decision.holder
                log.info("%s: waiting for leader %s", self.lease, decision.holder or "(whoever wrote it last)")
            wait = self.timing.retry_period_seconds
            if decision is not None and decision.action is LeaseAction.WAIT:
                # Try as soon as the Lease may expire, if that is sooner; a release is noticed at the next try.
                wait = min(wait, max(decision.wait_seconds, STOP_POLL_SECONDS))
            if await _sleep_unless_stopped(stop, wait):
                break
        return False

    async def hold(self) -> NoReturn:
        """Renew the Lease every retry period until cancelled; raise LeadershipLostError when someone else holds
        it or no renewal succeeded within the renew deadline (the caller must then stop acting at once: a
        standby may take over when the lease duration has passed)."""
        if self._renewed_at is None:
            raise LeadershipLostError(f"{self.lease}: hold() called without holding the Lease")
        last_error: str | None = None
        delay = self.timing.retry_period_seconds
        try:
            while True:
                await asyncio.sleep(delay)
                delay = self.timing.retry_period_seconds
                deadline = self._renewed_at + self.timing.renew_deadline_seconds
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._lost_by_deadline(last_error)
                try:
                    # A hung call must not outlive the deadline: the leader has to know before the standby acts.
                    decision = await asyncio.wait_for(self._try(take_over=False), remaining)
                except TimeoutError as error:
                    if time.monotonic() < deadline:  # the call's own (connect) timeout: try again meanwhile
                        last_error = _describe(error)
                        log.warning("%s: renewal failed, trying again: %s", self.lease, last_error)
                        continue
                    raise self._lost_by_deadline(last_error or "the API server did not answer in time") from None
                except _TRANSIENT as error:
                    last_error = _describe(error)
                    log.warning("%s: renewal failed, trying again: %s", self.lease, last_error)
                    continue
                if decision is None:  # lost a write race: look again at once
                    delay = 0.0
                    continue
                if decision.action in (LeaseAction.WAIT, LeaseAction.TAKE_OVER):
                    # Someone else holds it, or it was cleared: either way it is no longer ours to act on.
                    holder = self._last_holder or "nobody (it was cleared)"
                    raise LeadershipLostError(f"lost leadership of {self.lease} to {holder}")
                last_error = None
        except LeadershipLostError:
            self._renewed_at = None
            raise

    async def release(self) -> None:
        """Give the Lease up after acting has stopped (clean shutdown): a standby takes over at its next try.
        Does nothing when not leading; a failure is only logged (the Lease then expires on its own)."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        try:
            await asyncio.wait_for(self._release(), self.timing.renew_deadline_seconds)
        except _TRANSIENT as error:
            log.warning("%s: could not release the Lease, it expires on its own: %s", self.lease, _describe(error))

    # --- one round trip --------------------------------------------------------------------------------

    async def _try(self, *, take_over: bool = True) -> LeaseDecision | None:
        """Read the Lease, decide, and write when the decision says so (a TAKE_OVER only when ``take_over``: a
        leader that finds someone else's name on its Lease has lost it, even if that one expired since). None:
        the write lost a race (409 on the resourceVersion, or another replica created it first)."""
        observed = await self.io.get(LEASES, self.namespace, self.name)
        self._last_holder = lease_holder(observed)
        now = datetime.now(UTC)
        started = time.monotonic()  # before the write: the renewTime we send is no later than this
        decision = decide_lease(
            observed,
            identity=self.identity,
            namespace=self.namespace,
            name=self.name,
            now=now,
            timing=self.timing,
            observed_at=self._observed_at(observed, now),
        )
        if decision.lease is None or (decision.action is LeaseAction.TAKE_OVER and not take_over):
            return decision
        try:
            if decision.action is LeaseAction.CREATE:
                await self.io.request("POST", LEASES.path(self.namespace), body=decision.lease)
            else:
                await self.io.request("PUT", LEASES.path(self.namespace, self.name), body=decision.lease)
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        self._renewed_at = started
        return decision

    async def _release(self) -> None:
        observed = await self.io.get(LEASES, self.namespace, self.name)
        body = release_lease(observed, identity=self.identity, now=datetime.now(UTC))
        if body is None:
            log.info("%s: not released, %s holds it", self.lease, lease_holder(observed) or "nobody")
            return
        try:
            await self.io.request("PUT", LEASES.path(self.namespace, self.name), body=body)
        except ApiException as error:
            if error.status != 409:  # changed meanwhile: someone else took it already
                raise
        log.info("%s: released", self.lease)

    def _observed_at(self, observed: dict[str, Any] | None, now: datetime) -> datetime:
        """When this version of the Lease was first seen here (client-go's observedTime)."""
        version = ((observed or {}).get("metadata") or {}).get("resourceVersion")
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, now)
        return self._observed[1]

    def _lost_by_deadline(self, last_error: str | None) -> LeadershipLostError:
        why = f" (last error: {last_error})" if last_error else ""
        return LeadershipLostError(
            f"lost leadership of {self.lease}: no renewal succeeded within {self.timing.renew_deadline_seconds:g}s{why}"
        )


async def run_while_leading(
    elector: LeaderElector | None,
    operate: Callable[[asyncio.Future[None] | StopFlag | None], Coroutine[Any, Any, None]],
    *,
    stop_flag: StopFlag | None = None,
    on_lost: Callable[[], object] | None = None,
) -> None:
    """Run ``operate(flag)`` (kopf.operator with ``stop_flag=flag``) while ``elector`` holds its Lease.

    Without an elector it is ``operate(stop_flag)``. With one, ``operate`` gets a flag of its own, raised when
    ``stop_flag`` is set or leadership is lost: a stop through its flag is kopf's graceful stop (a cancelled
    kopf.operator arms its last-resort SIGKILL instead). On loss ``on_lost`` runs first (stop the work queue:
    no more writes), then ``operate`` is stopped and LeadershipLostError raised. The caller releases the Lease
    after it stopped everything else.
    """
    if elector is None:
        await operate(stop_flag)
        return
    loop = asyncio.get_running_loop()
    stop_operator: asyncio.Future[None] = loop.create_future()
    # Both tasks exist before kopf starts, so kopf counts them as not its own and leaves them alone.
    hold = asyncio.create_task(elector.hold(), name="kubeasset-leader-lease")
    stopped = asyncio.create_task(_wait_flag(stop_flag), name="kubeasset-stop-flag")
    operator = asyncio.create_task(operate(stop_operator), name="kubeasset-operator")
    try:
        await asyncio.wait({hold, stopped, operator}, return_when=asyncio.FIRST_COMPLETED)
        if hold.done() and not operator.done():
            log.error("%s: leadership lost, stopping: %s", elector.lease, hold.exception())
            if on_lost is not None:
                on_lost()
        if not stop_operator.done():
            stop_operator.set_result(None)
        await operator  # kopf's own failure, if any, propagates from here
        if hold.done():
            hold.result()  # raises LeadershipLostError
    finally:
        for task in (hold, stopped, operator):
            task.cancel()
        await asyncio.gather(hold, stopped, operator, return_exceptions=True)


async def _wait_flag(flag: StopFlag | None) -> None:
    """Return when ``flag`` is set (never when None). A threading.Event is polled rather than waited on in
    a thread: a thread blocked on a flag nobody sets would keep asyncio.run from ever returning."""
    if flag is None:
        await asyncio.Event().wait()
    elif isinstance(flag, asyncio.Event):
        await flag.wait()
    else:
        while not flag.is_set():
            await asyncio.sleep(STOP_POLL_SECONDS)


async def _sleep_unless_stopped(flag: StopFlag | None, seconds: float) -> bool:
    """Sleep ``seconds``; True as soon as ``flag`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_wait_flag(flag), seconds)
        return True
    return False


def _is_set(flag: StopFlag | None) -> bool:
    return flag is not None and flag.is_set()


def _describe(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {api_message(error)}"
    return connection_message(error)
