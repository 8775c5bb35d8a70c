"""When the controller may start deciding: once every cache is filled. A reconcile on a half-filled cache
would decide wrongly — start a run because the running ones are not listed yet (maxConcurrentRuns), call a
job missing, re-create Assets — so the work queue waits for this gate (keys queued meanwhile are kept).

Two kinds of cache fill at start: kubeasset's informers say so themselves (``Informer.synced``); kopf's
indexes do not, but kopf calls no event handler before all of its indexes are filled, so the first event
handler call proves it. With no object of kopf's kinds at all there is no such call: a LIST showing them
all empty proves it instead (checked again every few seconds in case the objects that were there are
deleted before kopf saw them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import aiohttp
from kubernetes.client.exceptions import ApiException

from kubeasset.controller.informer import WatchScope
from kubeasset.controller.kube import Kind, KubeIO

log = logging.getLogger("kubeasset.controller")

#: How often "are kopf's kinds all empty?" is asked again while kopf has delivered nothing.
EMPTY_CHECK_SECONDS: Final = 5.0


class StartupGate:
    """Example::

    gate = StartupGate()
    # kopf event handlers call gate.kopf_delivered(); the work queue runs with start_when=gate.open
    await gate.run([informer.synced for informer in informers], kopf_kinds_empty)
    """

    def __init__(self) -> None:
        #: Set when every cache is filled: the work queue starts.
        self.open = asyncio.Event()
        self._kopf_delivered = asyncio.Event()

    def kopf_delivered(self) -> None:
        """Called by every kopf event handler (cheap after the first call)."""
        if not self._kopf_delivered.is_set():
            self._kopf_delivered.set()

    async def run(self, synced: Sequence[asyncio.Event], kopf_kinds_empty: Callable[[], Awaitable[bool]]) -> None:
        """Open the gate once ``synced`` are all set and kopf's indexes are filled."""
        await asyncio.gather(*(event.wait() for event in synced))
        while not self._kopf_delivered.is_set():
            try:
                if await kopf_kinds_empty():
                    break
            except (ApiException, aiohttp.ClientError, OSError, TimeoutError) as error:
                log.info("cannot tell yet whether kopf's kinds are empty (%s); waiting for kopf", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kopf_delivered.wait(), EMPTY_CHECK_SECONDS)
        log.info("caches filled; reconciling")
        self.open.set()


async def kinds_empty(io: KubeIO, kinds: Sequence[tuple[Kind, str | None]], namespaces: Sequence[str]) -> bool:
    """Whether no object of ``kinds`` (each with its label selector) exists in ``namespaces`` (empty: the
    whole cluster): one LIST of at most one object per kind and namespace."""
    scopes = [WatchScope(namespace) for namespace in namespaces] or [WatchScope(None)]
    for kind, selector in kinds:
        for scope in scopes:
            query = {"limit": "1", **({"labelSelector": selector} if selector else {})}
            page = await io.request("GET", scope.collection(kind), query=query)
            if page.get("items"):
                return False
    return True
