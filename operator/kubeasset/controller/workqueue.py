"""The controller's work queue: object keys to reconcile, each reconciled by at most one worker at a time,
with delayed adds (a plan's ``requeue_after``, retries after errors) and coalescing (ten events for one
object while it waits make one reconcile).

kopf's event handlers only add keys here; reconciles read the informer cache (kopf indexes) when they run.
This is how one object's change reaches another's reconcile (a discovery Pod finishing -> its
CodeLocation; a CodeLocation's new graph -> its AssetJobs), and it replaces kopf timers and daemons,
which would put a finalizer on every object (nolar/kopf#1074). The queue lives in memory: after a
restart the watches (kopf's and the informers') list every object again, which adds every key again.

Keys due now wait in two lanes: urgent keys are handed to the next free worker before any other due key;
each lane is FIFO. A key is urgent when its own reconcile asked to look again and its kind is in
``priority_kinds``: a schedule's timer is its next tick, whose lateness is what a user sees. The same
schedule woken by a change (one of its runs was created or finished) is bookkeeping and waits its turn,
behind the runs it just created.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Final, NamedTuple, Protocol

import kopf

from kubeasset.controller.errors import to_kopf_error

log = logging.getLogger("kubeasset.controller")


class ObjectKey(NamedTuple):
    """One object to reconcile: its kind (as the reconcilers are registered), namespace and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def log_extra(self) -> dict[str, object]:
        """``extra=`` of a log call about this object: kopf's ``k8s_ref`` form, which JSON logs show as the
        fields kind, namespace and name (kubeasset.controller.logs)."""
        return {"k8s_ref": {"kind": self.kind, "namespace": self.namespace, "name": self.name}}


#: A reconcile: returns seconds until it wants to run again (None: only when something changes).
Reconcile = Callable[[ObjectKey], Awaitable[float | None]]
#: Told about a failed reconcile after the queue decided when to retry (e.g. to post a Warning Event).
ErrorReporter = Callable[[ObjectKey, kopf.TemporaryError | kopf.PermanentError, int], Awaitable[None]]


class ReconcileObserver(Protocol):
    """Told about every reconcile (kubeasset.controller.metrics.ControllerMetrics is one)."""

    def reconcile_finished(self, kind: str, seconds: float, error_type: str | None) -> None:
        """One reconcile of ``kind`` took ``seconds``; ``error_type`` "temporary"/"permanent" when it failed."""


class QueueDepth(NamedTuple):
    """The queue at one instant: keys due now (including those handed to the workers' queue that no worker
    has picked up yet), keys waiting for a later time, keys a worker is reconciling (busy workers, at most
    ``workers``), and the number of workers."""

    due: int
    delayed: int
    busy: int
    workers: int


#: The longest a requeue may be put off (a periodic refresh of a week still wakes up to look).
MAX_DELAY: Final = 24 * 3600.0
#: Kinds whose timers (the delay their reconcile returns) go before all other due keys: a schedule's tick is
#: late by however long it waits behind run work (a burst of 1,000 runs' reconciles would otherwise delay
#: every tick due meanwhile).
PRIORITY_KINDS: Final = frozenset({"AssetSchedule"})


class WorkQueue:
    """Example::

    queue = WorkQueue({"CodeLocation": reconcile_location}, workers=4)
    queue.add(ObjectKey("CodeLocation", "shop", "shop"))
    await queue.run()  # until cancelled
    """

    def __init__(
        self,
        reconcilers: Mapping[str, Reconcile],
        *,
        workers: int = 8,
        on_error: ErrorReporter | None = None,
        observer: ReconcileObserver | None = None,
        priority_kinds: Collection[str] = PRIORITY_KINDS,
    ) -> None:
        self._reconcilers = dict(reconcilers)
        self._priority_kinds = frozenset(priority_kinds)
        self._observer = observer
        self._workers = workers
        self._on_error = on_error
        self._due: dict[ObjectKey, float] = {}
        self._heap: list[tuple[float, int, ObjectKey]] = []
        self._sequence = itertools.count()
        self._active: set[ObjectKey] = set()  # handed to the ready queue or being reconciled
        self._working = 0  # keys a worker has picked up and is reconciling
        self._again: dict[ObjectKey, float] = {}  # added while being reconciled: run again after
        self._urgent: set[ObjectKey] = set()  # keys whose pending due time (or again) came from an urgent add
        self._failures: dict[ObjectKey, int] = {}
        self._changed = asyncio.Event()
        # (lane, sequence, key): lane 0 for priority kinds; the sequence keeps each lane FIFO.
        self._ready: asyncio.PriorityQueue[tuple[int, int, ObjectKey]] = asyncio.PriorityQueue()
        self.reconciles = 0  # how many reconciles ran (for logs and tests)

    def add(self, key: ObjectKey, delay: float = 0.0, *, urgent: bool = False) -> None:
        """Reconcile ``key`` in ``delay`` seconds, or earlier if it is already due earlier; ``urgent``: in the
        first lane when it falls due (the earliest add decides)."""
        if key.kind not in self._reconcilers:
            raise KeyError(f"no reconciler for kind {key.kind!r}")
        due = time.monotonic() + min(max(delay, 0.0), MAX_DELAY)
        if key in self._active:
            again = self._again.get(key)
            if again is None or due < again:
                self._again[key] = due
                self._mark_urgent(key, urgent)
            return
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        self._mark_urgent(key, urgent)
        heapq.heappush(self._heap, (due, next(self._sequence), key))
        self._changed.set()

    def _mark_urgent(self, key: ObjectKey, urgent: bool) -> None:
        if urgent:
            self._urgent.add(key)
        else:
            self._urgent.discard(key)

    def forget(self, key: ObjectKey) -> None:
        """Drop ``key``'s failure count (the object is gone); a pending reconcile still runs and finds nothing."""
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._due) + len(self._active)

    @property
    def busy(self) -> int:
        """Keys being reconciled or due now (not those waiting for a later time)."""
        now = time.monotonic()
        return len(self._active) + sum(1 for due in self._due.values() if due <= now)

    def depth(self) -> QueueDepth:
        """How many keys wait (due now or later) and how many workers are busy: for the metrics."""
        now = time.monotonic()
        due = sum(1 for at in self._due.values() if at <= now)
        handed = len(self._active) - self._working  # in the ready queue, not picked up yet: due, not busy
        return QueueDepth(due + handed, len(self._due) - due, self._working, self._workers)

    async def run(self, start_when: asyncio.Event | None = None) -> None:
        """Dispatch due keys to the workers until cancelled; with ``start_when``, only once it is set (keys
        added before are kept: the watches fill the cache and queue their objects, and nothing is decided
        on a cache that is still being filled)."""
        if start_when is not None:
            await start_when.wait()
        workers = [asyncio.create_task(self._work(), name=f"kubeasset-worker-{n}") for n in range(self._workers)]
        try:
            await self._dispatch()
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _dispatch(self) -> None:
        while True:
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                due, _, key = heapq.heappop(self._heap)
                if self._due.get(key) != due:
                    continue  # superseded by an earlier add
                del self._due[key]
                self._active.add(key)
                lane = 0 if key in self._urgent else 1
                self._urgent.discard(key)
                self._ready.put_nowait((lane, next(self._sequence), key))
            self._changed.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):  # a timeout just means the next key is due
                await asyncio.wait_for(self._changed.wait(), timeout)

    async def _work(self) -> None:
        while True:
            _, _, key = await self._ready.get()
            self._working += 1
            try:
                delay = await self._reconcile(key)
            finally:
                self._working -= 1
                self._active.discard(key)
                again = self._again.pop(key, None)
                again_urgent = key in self._urgent
                self._urgent.discard(key)
            if again is not None:
                self.add(key, again - time.monotonic(), urgent=again_urgent)
            if delay is not None:
                self.add(key, delay, urgent=key.kind in self._priority_kinds)

    async def _reconcile(self, key: ObjectKey) -> float | None:
        self.reconciles += 1
        started = time.monotonic()
        delay, error_type = await self._reconcile_once(key)
        if self._observer is not None:
            self._observer.reconcile_finished(key.kind, time.monotonic() - started, error_type)
        return delay

    async def _reconcile_once(self, key: ObjectKey) -> tuple[float | None, str | None]:
        """(seconds until the next reconcile or None, "temporary"/"permanent" when it failed else None)."""
        try:
            delay = await self._reconcilers[key.kind](key)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the one place every reconcile failure is turned into a retry
            attempt = self._failures.get(key, 0) + 1
            self._failures[key] = attempt
            decision = to_kopf_error(error, attempt)
            if isinstance(decision, kopf.TemporaryError) and not isinstance(error, kopf.TemporaryError):
                # Not a KubeassetError nor an API error: a bug; keep the traceback in the log.
                known = decision.args and not str(decision.args[0]).startswith("unexpected ")
                log.log(
                    logging.INFO if known else logging.ERROR,
                    "%s: %s; retrying in %.1fs",
                    key,
                    decision,
                    decision.delay or 0.0,
                    exc_info=None if known else error,
                    extra=key.log_extra(),
                )
            else:
                log.warning("%s: %s", key, decision, extra=key.log_extra())
            if self._on_error is not None:
                await self._on_error(key, decision, attempt)
            if isinstance(decision, kopf.TemporaryError):
                return decision.delay or 0.0, "temporary"
            return None, "permanent"
        self._failures.pop(key, None)
        return delay, None
