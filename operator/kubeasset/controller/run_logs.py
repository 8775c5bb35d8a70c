"""Live progress of runs: one asyncio task per running run Pod follows its container's log (``kubectl logs
-f``), parses the runner's event lines, keeps them in memory by Pod uid, and wakes the run's reconcile, at
most every WAKE_INTERVAL_SECONDS, so ``kubectl get assetrun -w`` shows the assets turning Materialized one
by one rather than all at the end.

A follow request lives as long as its run (hours): it is one of :meth:`KubeIO.stream
<kubeasset.controller.kube.KubeIO.stream>`'s streams, which wait on the event loop for free and never take one
of the slots of the short API calls; the credentials are the very ones every other call uses (exec plugins
and token refresh included).

The log is read from its first line (after a controller restart too): replaying events is idempotent
(kubeasset.reconcile.run_progress never regresses a final asset state). A broken stream is read again,
skipping the lines already parsed. When the container has terminated, the log is read to its end once
more, and only then is the Pod's log "settled": the run's reconcile waits for that (or for a give-up)
before it writes the final status, so the metadata of the last assets is not lost. Read failures are
temporary (back-off, never a controller crash); after MAX_FAILURES_AFTER_END failures once the container
has ended the follower gives up, and the termination summary alone decides.

Memory: the events of a Pod are kept until its run's status is final (:meth:`RunLogs.release`) or the run
is deleted (:meth:`RunLogs.forget_run`), also after the Pod itself was deleted: the final fold of a canceled
run needs the events of the assets that materialized before the cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from kubernetes.client.exceptions import ApiException

from kubeasset.controller.kube import PODS, KubeIO
from kubeasset.errors import ProtocolError
from kubeasset.reconcile.run_pod import RUN_CONTAINER_NAME
from kubeasset.sdk.events import ExecutionEvent
from kubeasset.sdk.runner_protocol import EVENT_LINE_PREFIX, parse_event_line

log = logging.getLogger("kubeasset.controller")

#: A run's reconcile is woken at most this often by new log lines (status writes follow at that pace).
WAKE_INTERVAL_SECONDS: Final = 0.4
#: Delays between attempts to read a log that failed (no log yet, node unreachable, API server restart).
READ_BACKOFF: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: Once the container has ended, give up reading its log after this many failures in a row.
MAX_FAILURES_AFTER_END: Final = 5
#: Before its first complete read, a log that fails this often stops holding the run's status back.
MAX_FAILURES_BEFORE_LIVE: Final = 3
#: How long a stream that ended while the container seemed to run waits for the Pod's next status.
_RESTREAM_PAUSE_SECONDS: Final = 0.5
#: After its Pod was deleted, a follower may drain what the stream still delivers for this long.
DRAIN_AFTER_DELETE_SECONDS: Final = 10.0

#: A log line longer than this is not kept whole (its start is, to tell an event line from user output): an
#: event line that long is unreadable. The runner's own lines stay far below (metadata entries are capped).
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
_PREFIX_BYTES: Final = EVENT_LINE_PREFIX.encode()

#: Wake the reconcile of run ``name`` in ``namespace`` after ``delay`` seconds.
Wake = Callable[[str, str, float], None]


class LogReadError(Exception):
    """The API server refused a log request (its HTTP status and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status


@dataclass(frozen=True)
class LogSnapshot:
    """What the log of one run Pod said so far, for :class:`kubeasset.reconcile.asset_run.RunObservation`."""

    events: tuple[ExecutionEvent, ...]
    unreadable_lines: int
    caught_up: bool
    """The log was read up to what it held when following started (after a restart: the events replayed)."""
    settled: bool
    """The whole log was read after the container ended (or reading it was given up): nothing more to come."""
    following: bool
    """A follower task is reading the log now."""


@dataclass
class _PodLog:
    namespace: str
    pod: str
    run: str
    events: list[ExecutionEvent] = field(default_factory=list)
    unreadable_lines: int = 0
    lines: int = 0
    """Complete lines read so far: a stream opened again skips them."""
    caught_up: bool = False
    settled: bool = False
    ended: bool = False
    """The container has terminated (as the Pod's latest status says)."""
    deleted_at: float | None = None
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_wake: float = 0.0
    wake_pending: bool = False
    """A wake was asked for after the last snapshot: the reconcile it brings reads every line parsed until
    then. Cleared by a snapshot, not by the time the wake was due: the work queue merges a wake into an
    earlier one of the same run, so the reconcile can come before that time and the line after it must
    ask again."""


class RunLogs:
    """The followers of run Pods' logs.

    Example (what the controller does)::

        logs = RunLogs(io, wake=lambda namespace, run, delay: queue.add(ObjectKey("AssetRun", namespace, run), delay))
        logs.follow(pod)                  # a run Pod whose container started; idempotent
        snapshot = logs.snapshot(pod_uid) # events so far, for the run's plan
        logs.release(pod_uid)             # the run's status is final
    """

    def __init__(self, io: KubeIO, wake: Wake, *, wake_interval: float = WAKE_INTERVAL_SECONDS) -> None:
        self._io = io
        self._wake = wake
        self._wake_interval = wake_interval
        self._pods: dict[str, _PodLog] = {}
        self._released: set[str] = set()

    # --- what the controller calls ------------------------------------------------------------------

    def follow(self, pod: Mapping[str, Any], run: str) -> None:
        """Follow the log of ``pod`` (a run Pod of run ``run``) if its container has started and nobody
        follows it yet; a Pod whose run was released is left alone."""
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        if not uid or uid in self._released or not container_started(pod):
            return
        entry = self._pods.get(uid)
        if entry is None:
            entry = self._pods[uid] = _PodLog(str(metadata.get("namespace") or ""), str(metadata.get("name")), run)
        self._update(entry, pod)
        if entry.task is None and not entry.settled:
            entry.task = asyncio.create_task(self._follow(entry), name=f"kubeasset-log-{entry.namespace}-{entry.pod}")

    def pod_changed(self, event_type: str | None, pod: Mapping[str, Any]) -> None:
        """A watch event of a run Pod: its followers learn whether the container ended or the Pod is gone."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        entry = self._pods.get(uid)
        if event_type == "DELETED":
            self._released.discard(uid)
            if entry is not None and entry.deleted_at is None:
                entry.deleted_at = time.monotonic()
                entry.changed.set()
            return
        if entry is not None:
            self._update(entry, pod)

    def snapshot(self, uid: str) -> LogSnapshot | None:
        """What the log of Pod ``uid`` said so far; None when it was never followed. For the run's reconcile:
        the lines parsed after it wake the run again."""
        entry = self._pods.get(uid)
        if entry is None:
            return None
        following = entry.task is not None and not entry.task.done()
        entry.wake_pending = False  # the lines parsed from now on need a wake of their own
        return LogSnapshot(tuple(entry.events), entry.unreadable_lines, entry.caught_up, entry.settled, following)

    def uids_of_run(self, namespace: str, run: str) -> list[str]:
        """The uids of the followed Pods of run ``run`` (deleted ones included until released)."""
        return [uid for uid, entry in self._pods.items() if (entry.namespace, entry.run) == (namespace, run)]

    def release(self, uid: str) -> None:
        """The run of Pod ``uid`` is final: stop following, forget its events, never follow it again."""
        entry = self._pods.pop(uid, None)
        self._released.add(uid)
        if entry is not None and entry.task is not None:
            entry.task.cancel()

    def forget_run(self, namespace: str, run: str) -> None:
        """Run ``run`` is gone: forget the logs of its Pods."""
        for uid in self.uids_of_run(namespace, run):
            self.release(uid)
            self._released.discard(uid)

    async def close(self) -> None:
        """Stop every follower (the controller is stopping)."""
        tasks = [entry.task for entry in self._pods.values() if entry.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one follower ------------------------------------------------------------------------------

    def _update(self, entry: _PodLog, pod: Mapping[str, Any]) -> None:
        ended = container_ended(pod)
        if ended != entry.ended:
            entry.ended = ended
            entry.changed.set()

    async def _follow(self, entry: _PodLog) -> None:
        failures = 0
        try:
            while True:
                ended_before = entry.ended or entry.deleted_at is not None
                # The first read takes what the log holds now without following, so that a follower
                # started after a controller restart catches up before the run's status is planned.
                follow = entry.caught_up and not ended_before
                entry.changed.clear()
                try:
                    await self._read(entry, follow=follow, final=ended_before)
                except (aiohttp.ClientError, OSError, TimeoutError, LogReadError) as error:
                    failures += 1
                    gone = isinstance(error, LogReadError) and error.status == 404
                    if gone:
                        break  # the Pod was deleted: its log went with it
                    if ended_before and failures >= MAX_FAILURES_AFTER_END:
                        log.warning("gave up reading the log of run Pod %s/%s: %s", entry.namespace, entry.pod, error)
                        break
                    if not entry.caught_up and failures >= MAX_FAILURES_BEFORE_LIVE:
                        self._caught_up(entry)  # do not hold the run's status back for a log that fails
                    delay = READ_BACKOFF[min(failures, len(READ_BACKOFF)) - 1]
                    log.info(
                        "reading the log of run Pod %s/%s failed (%s); again in %.1fs",
                        entry.namespace,
                        entry.pod,
                        error,
                        delay,
                    )
                    await self._pause(entry, delay)
                    continue
                failures = 0
                if ended_before:
                    break
                if not entry.caught_up:
                    self._caught_up(entry)
                    continue  # now follow what comes next
                if entry.deleted_at is not None and time.monotonic() - entry.deleted_at > DRAIN_AFTER_DELETE_SECONDS:
                    break
                # The stream ended while the container seemed to run: it has ended (its status is on the
                # way) or the connection was closed. Read again once the status changes, or shortly.
                await self._pause(entry, _RESTREAM_PAUSE_SECONDS)
        except asyncio.CancelledError:
            entry.task = None
            raise
        entry.caught_up = True
        entry.settled = True
        entry.task = None
        self._wake(entry.namespace, entry.run, 0.0)

    def _caught_up(self, entry: _PodLog) -> None:
        entry.caught_up = True
        self._wake(entry.namespace, entry.run, 0.0)

    async def _pause(self, entry: _PodLog, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(entry.changed.wait(), seconds)

    async def _read(self, entry: _PodLog, *, follow: bool, final: bool) -> None:
        """Read the log from its start (streaming on with ``follow``), skipping the lines already parsed;
        ``final``: the container has ended, so the answer holds the whole log and its last unterminated
        line counts too."""
        path = PODS.path(entry.namespace, entry.pod, "log")
        query = {"container": RUN_CONTAINER_NAME, "follow": "true" if follow else "false"}
        try:
            async with self._io.stream("GET", path, query=query) as response:
                await self._consume(entry, response, final=final)
        except ApiException as error:
            raise LogReadError(error.status or 0, str(error.body or error.reason or "")[:500]) from error

    async def _consume(self, entry: _PodLog, response: aiohttp.ClientResponse, *, final: bool) -> None:
        skip = entry.lines
        lines = LineSplitter()
        async for chunk in response.content.iter_any():
            for raw, cut in lines.feed(chunk):
                if skip:
                    skip -= 1
                    continue
                entry.lines += 1
                self._line(entry, raw, cut)
        last = lines.rest()
        if last is not None and final and not skip:
            entry.lines += 1
            self._line(entry, *last)

    def _line(self, entry: _PodLog, raw: bytes, cut: bool = False) -> None:
        if cut:  # longer than MAX_LINE_BYTES: user output, or an event line no reader should take
            if _PREFIX_BYTES in raw:
                entry.unreadable_lines += 1
                log.info("run Pod %s/%s: event line over %d bytes", entry.namespace, entry.pod, MAX_LINE_BYTES)
            return
        try:
            event = read_event_line(raw)
        except ProtocolError as error:
            entry.unreadable_lines += 1
            log.info("run Pod %s/%s: unreadable event line: %s", entry.namespace, entry.pod, error)
            return
        if event is None:
            return
        entry.events.append(event)
        if entry.wake_pending:
            return  # the reconcile already asked for has not read the log yet: it reads this line too
        now = time.monotonic()
        due = max(now, entry.last_wake + self._wake_interval)
        entry.last_wake = due
        entry.wake_pending = True
        self._wake(entry.namespace, entry.run, due - now)


class LineSplitter:
    """Splits a log stream into lines in time linear in its size (a user's 100 MB line must not stall the
    controller's event loop), keeping at most ``limit`` bytes of each line.

    Example::

        lines = LineSplitter()
        lines.feed(b"a\nb")   # [(b"a", False)]
        lines.rest()           # (b"b", False): the unterminated last line
    """

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._cut = False

    def feed(self, chunk: bytes) -> list[tuple[bytes, bool]]:
        """The lines ``chunk`` completes, each with whether it was cut to the limit."""
        *complete, tail = chunk.split(b"\n")
        lines = []
        for piece in complete:
            self._add(piece)
            lines.append(self._take())
        self._add(tail)
        return lines

    def rest(self) -> tuple[bytes, bool] | None:
        """The unterminated last line, if any."""
        return self._take() if self._parts or self._cut else None

    def _add(self, piece: bytes) -> None:
        room = self._limit - self._size
        if len(piece) > room:
            piece, self._cut = piece[: max(0, room)], True
        if piece:
            self._parts.append(piece)
            self._size += len(piece)

    def _take(self) -> tuple[bytes, bool]:
        line, cut = b"".join(self._parts), self._cut
        self._parts, self._size, self._cut = [], 0, False
        return line, cut


def read_event_line(raw: bytes) -> ExecutionEvent | None:
    """The runner event on one line of a run Pod's log, None for user output; ProtocolError for an event
    line that does not parse. The bytes are whatever the container wrote: user code may print bytes that
    are not UTF-8, which become U+FFFD rather than an error (they are rarely on an event line anyway).

    Example: ``read_event_line(b'hello \\xff')`` is None.
    """
    return parse_event_line(raw.decode("utf-8", errors="replace"))


def _run_container_state(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == RUN_CONTAINER_NAME:
            return status.get("state") or {}
    return {}


def container_started(pod: Mapping[str, Any]) -> bool:
    """The run container has started (it is running or has ended): it has a log to read."""
    state = _run_container_state(pod)
    return bool(state.get("running") or state.get("terminated"))


def container_ended(pod: Mapping[str, Any]) -> bool:
    """The run container has terminated."""
    return bool(_run_container_state(pod).get("terminated"))


def termination_message(pod: Mapping[str, Any]) -> str | None:
    """The run container's termination message, once it has terminated."""
    terminated = _run_container_state(pod).get("terminated") or {}
    message = terminated.get("message")
    return str(message) if message else None
