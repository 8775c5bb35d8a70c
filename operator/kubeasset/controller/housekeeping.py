"""One full garbage collection once the controller's start-up burst is over.

At start the controller lists and parses every cached object and reconciles every key once; the garbage
of that burst that only the cycle collector frees (exception tracebacks, finished futures, parse trees
holding themselves) ends up in the oldest generation, which Python collects rarely once thousands of
long-lived objects are cached (a full collection waits until a quarter as many new long-lived objects
exist). Measured on the memory benchmark's state (bench/README.md, memory): 6 MB of RSS held until then.
So the controller collects once, when the work queue first drains after the start-up gate opened.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Final, Protocol

log = logging.getLogger("kubeasset.controller")

#: How often the queue is looked at while the start-up burst lasts.
POLL_SECONDS: Final = 1.0


class Drains(Protocol):
    @property
    def busy(self) -> int:
        """Keys being reconciled or due now."""


async def collect_after_startup(caches_filled: asyncio.Event, queue: Drains) -> int:
    """Wait for ``caches_filled``, then for ``queue`` to have nothing due or running, then run one full
    collection; returns the number of objects it freed."""
    await caches_filled.wait()
    while queue.busy:
        await asyncio.sleep(POLL_SECONDS)
    freed = gc.collect()
    log.info("start-up done: collected %d unreachable objects", freed)
    return freed
