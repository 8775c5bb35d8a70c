"""A list+watch informer for the kinds that grow with use (Assets, AssetRuns, run Pods): it fills a
:class:`~kubeasset.controller.store.Store` from one LIST, says when that is done (:attr:`Informer.synced`),
then keeps it current from a WATCH that resumes where it left off.

Why not kopf's ``@kopf.index`` for these kinds: kopf starts one worker per object and, while its indexes are
first filled, wakes every waiting worker for every new object (``ToggleSet.make_toggle`` ->
``notify_all``): quadratic in the number of objects. A controller restarted over 10,000 Assets and 5,000
runs had reconciled nothing after 9 minutes and lost its Lease (bench/README.md). Here an event costs one
JSON parse, one model parse and a few dictionary operations on the event loop, and the first listing is
paged (``limit``/``continue``), so its size does not matter.

The protocol is client-go's reflector: LIST (paged) -> remember the list's resourceVersion -> WATCH from it
with bookmarks -> on the server's timeout watch again from the last resourceVersion seen -> on ``410 Gone``
(the version was compacted) or a broken connection, LIST again and turn the difference with the store into
ADDED/MODIFIED/DELETED events, so no deletion is missed while the watch was down.

Events are handed to ``on_change(type, old, new)``: type ``None`` for the objects of the first listing (as
kopf does), else ``"ADDED"``/``"MODIFIED"``/``"DELETED"``; ``old`` is the stored object before the change,
``new`` the one after (None when deleted).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import aiohttp
from kubernetes.client.exceptions import ApiException

from kubeasset.controller.kube import Kind, KubeIO
from kubeasset.controller.store import Store

log = logging.getLogger("kubeasset.controller")

T = TypeVar("T")
#: Objects per LIST page (client-go's reflector pages by 500 too).
PAGE_SIZE: Final = 500
#: The server ends a watch after this many seconds; the informer then watches again from where it was.
WATCH_SECONDS: Final = 300
#: A watch that delivers nothing (not even a bookmark) for this long is considered broken.
WATCH_READ_TIMEOUT: Final = WATCH_SECONDS + 30.0
#: Waits between failed attempts (a restarting API server): doubled per failure up to the last.
RETRY_DELAYS: Final = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

ChangeHandler = Callable[[str | None, T | None, T | None], None]


class WatchExpired(Exception):  # noqa: N818 - named after the API's "Expired" reason, not an error of ours
    """The resourceVersion to watch from is too old (HTTP 410 Gone): LIST again."""


@dataclass(frozen=True)
class WatchScope:
    """Where to watch: one namespace, or the whole cluster (``namespace`` None)."""

    namespace: str | None = None

    def collection(self, kind: Kind) -> str:
        if self.namespace is not None:
            return kind.path(self.namespace)
        prefix = "/api/v1" if kind.api_version == "v1" else f"/apis/{kind.api_version}"
        return f"{prefix}/{kind.plural}"


class Informer(Generic[T]):
    """Keeps ``store`` equal to the objects of ``kind`` in ``namespaces`` (empty: the whole cluster).

    ``parse`` turns an object's JSON into what the store holds (None: an object this controller cannot
    read, logged by ``parse`` and left out). ``label_selector`` filters on the server.

    Example::

        runs = Store[AssetRun]()
        informer = Informer(io, kind_of(AssetRun), runs, parse=parse_run, on_change=route)
        task = asyncio.create_task(informer.run())
        await informer.synced.wait()   # the store holds every run that existed at the first LIST
    """

    def __init__(
        self,
        io: KubeIO,
        kind: Kind,
        store: Store[T],
        *,
        parse: Callable[[dict[str, Any]], T | None],
        on_change: ChangeHandler[T],
        namespaces: Sequence[str] = (),
        label_selector: str | None = None,
    ) -> None:
        self.io = io
        self.kind = kind
        self.store = store
        self._parse = parse
        self._on_change = on_change
        self._scopes = [WatchScope(namespace) for namespace in namespaces] or [WatchScope(None)]
        self._label_selector = label_selector
        #: Set once every scope's first LIST is in the store.
        self.synced = asyncio.Event()
        self._listed: set[WatchScope] = set()
        # uid -> (scope, resourceVersion) of what the store holds: a re-LIST compares versions, not bodies.
        self._versions: dict[str, tuple[WatchScope, str]] = {}
        # scope -> the resourceVersion to watch from (None: LIST first).
        self._resume: dict[WatchScope, str | None] = {}

    async def run(self) -> None:
        """List and watch every scope until cancelled."""
        await asyncio.gather(*(self._run_scope(scope) for scope in self._scopes))

    async def _run_scope(self, scope: WatchScope) -> None:
        failures = 0
        while True:
            try:
                if self._resume.get(scope) is None:
                    self._resume[scope] = await self._list(scope)
                await self._watch(scope)
                failures = 0
            except WatchExpired:
                log.info("watch of %s %s expired; listing again", self.kind.plural, _where(scope))
                self._resume[scope] = None
            except (ApiException, aiohttp.ClientError, OSError, TimeoutError, json.JSONDecodeError) as error:
                # The API server restarting, a network blip, a watch cut mid-line. Watch again from the last
                # version seen (the server replays what happened since, or answers 410 and we list again);
                # after repeated failures list again anyway.
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                if failures >= 3:
                    self._resume[scope] = None
                log.log(
                    logging.WARNING if failures >= 3 else logging.INFO,
                    "watching %s %s failed (%s); trying again in %.1fs",
                    self.kind.plural,
                    _where(scope),
                    _describe(error),
                    delay,
                )
                await asyncio.sleep(delay)

    # --- LIST -------------------------------------------------------------------------------------------

    async def _list(self, scope: WatchScope) -> str:
        """Every object of the scope, paged; the store is made equal to it. Returns the list's version."""
        first = scope not in self._listed
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = {"limit": str(PAGE_SIZE)}
            if token:
                query["continue"] = token
            if self._label_selector:
                query["labelSelector"] = self._label_selector
            try:
                page = await self.io.request("GET", scope.collection(self.kind), query=query)
            except ApiException as error:
                if error.status == 410 and token:  # the continue token expired mid-listing: start over
                    seen.clear()
                    token = None
                    continue
                raise
            for body in page.get("items") or ():
                # A list's items carry no apiVersion/kind; the models and Pod readers expect them.
                body.setdefault("apiVersion", self.kind.api_version)
                body.setdefault("kind", self.kind.kind)
                uid = self._apply(scope, None if first else "LISTED", body)
                if uid:
                    seen.add(uid)
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or None
            if token is None:
                break
        # Objects the store holds for this scope that the LIST no longer has were deleted meanwhile.
        for uid, (owner, _) in list(self._versions.items()):
            if owner == scope and uid not in seen:
                self._delete(uid)
        self._listed.add(scope)
        if len(self._listed) == len(self._scopes):
            self.synced.set()
        return str(metadata.get("resourceVersion") or "")

    # --- WATCH ------------------------------------------------------------------------------------------

    async def _watch(self, scope: WatchScope) -> None:
        """Watch from the scope's resume version until the server ends the watch, moving that version along."""
        query = {
            "watch": "true",
            "resourceVersion": self._resume.get(scope) or "",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        if self._label_selector:
            query["labelSelector"] = self._label_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=WATCH_READ_TIMEOUT)
        async with self.io.stream("GET", scope.collection(self.kind), query=query, timeout=timeout) as response:
            async for line in json_lines(response.content):
                event = json.loads(line)
                kind = event.get("type")
                body = event.get("object") or {}
                if kind == "ERROR":
                    if body.get("code") == 410:
                        raise WatchExpired(body.get("message"))
                    raise ApiException(status=body.get("code"), reason=body.get("message"))
                version = (body.get("metadata") or {}).get("resourceVersion")
                if version:
                    self._resume[scope] = str(version)
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    uid = (body.get("metadata") or {}).get("uid")
                    if uid:
                        self._delete(str(uid))
                elif kind in ("ADDED", "MODIFIED"):
                    self._apply(scope, kind, body)

    # --- the store ----------------------------------------------------------------------------------------

    def _apply(self, scope: WatchScope, event_type: str | None, body: dict[str, Any]) -> str | None:
        """Store ``body`` and report the change; ``event_type`` "LISTED" is a re-LIST, whose unchanged
        objects are not reported again. Returns the object's uid."""
        metadata = body.get("metadata") or {}
        uid = metadata.get("uid")
        if not uid:
            return None
        uid = str(uid)
        version = str(metadata.get("resourceVersion") or "")
        known = self._versions.get(uid)
        if event_type == "LISTED":
            if known is not None and known[1] == version:
                return uid
            event_type = "ADDED" if known is None else "MODIFIED"
        self._versions[uid] = (scope, version)
        # managedFields are most of a stored object's size and nothing here reads them (client-go's
        # informers are commonly given a transform that drops them too).
        metadata.pop("managedFields", None)
        item = self._parse(body)
        if item is None:  # unreadable: as good as absent
            previous = self.store.remove(uid)
            if previous is not None:
                self._on_change("DELETED", previous, None)
            return uid
        previous = self.store.put(uid, item)
        self._on_change(event_type, previous, item)
        return uid

    def _delete(self, uid: str) -> None:
        self._versions.pop(uid, None)
        previous = self.store.remove(uid)
        if previous is not None:
            self._on_change("DELETED", previous, None)


async def json_lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The newline-separated lines of a watch stream, whole, however long (a run with thousands of assets
    is one long line); aiohttp's readline would refuse lines over its buffer size."""
    parts: list[bytes] = []
    async for chunk in content.iter_any():
        *complete, tail = chunk.split(b"\n")
        for piece in complete:
            parts.append(piece)
            line = b"".join(parts)
            parts = []
            if line.strip():
                yield line
        if tail:
            parts.append(tail)
    if parts and b"".join(parts).strip():
        yield b"".join(parts)


def _where(scope: WatchScope) -> str:
    return f"in namespace {scope.namespace}" if scope.namespace is not None else "in all namespaces"


def _describe(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__

