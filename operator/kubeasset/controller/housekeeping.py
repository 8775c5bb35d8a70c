"""Giving memory back after the controller's large, short-lived allocations.

Two moments leave much garbage behind: the start-up burst (every cached object listed and parsed, every key
reconciled once) and a code location's discovery output being read (a 10,000-asset description is a 1.3 MB
log, 10 MB of parsed JSON, and a full comparison of the catalog with it). Measured on the memory
benchmark's state (bench/README.md, memory):

* the start-up garbage that only the cycle collector frees ends up in the oldest generation, which Python
  collects rarely once thousands of long-lived objects are cached (a full collection waits until a quarter
  as many new long-lived objects exist): 6 MB of RSS held until then. The controller collects once, when
  the work queue first drains after the start-up gate opened;
* glibc's allocator keeps the pages freed in the middle of its heap; ``malloc_trim`` returns them (8 MB
  after the start-up burst). Fixing glibc's mmap threshold would return large blocks as well, but costs a
  system call and fresh zeroed pages for every block over the threshold: 10-15% of the run throughput at
  any threshold that helped, so the controller trims at those two moments instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable
from typing import Final, Protocol

log = logging.getLogger("kubeasset.controller")

#: How often the queue is looked at while the start-up burst lasts.
POLL_SECONDS: Final = 1.0


class Drains(Protocol):
    @property
    def busy(self) -> int:
        """Keys being reconciled or due now."""


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None with another C library (musl has none)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


_TRIM: Final = _malloc_trim()


def release_free_memory() -> None:
    """Return the C allocator's free pages to the system (a few milliseconds; blocks the calling thread,
    so the event loop calls it through ``asyncio.to_thread``). Nothing happens without glibc."""
    if _TRIM is not None:
        _TRIM(0)


async def collect_after_startup(caches_filled: asyncio.Event, queue: Drains) -> int:
    """Wait for ``caches_filled``, then for ``queue`` to have nothing due or running, then run one full
    collection and give the freed pages back; returns the number of objects the collection freed."""
    await caches_filled.wait()
    while queue.busy:
        await asyncio.sleep(POLL_SECONDS)
    freed = gc.collect()
    await asyncio.to_thread(release_free_memory)
    log.info("start-up done: collected %d unreachable objects", freed)
    return freed
