"""After the start-up burst the controller collects garbage once, when its work queue first drains; giving
free memory back to the system is safe to call at any time."""

from __future__ import annotations

import asyncio
import gc

from kubeasset.controller import housekeeping
from kubeasset.controller.housekeeping import collect_after_startup, release_free_memory


class _Queue:
    def __init__(self, busy: int) -> None:
        self.busy = busy


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_collection_waits_for_the_gate_and_for_the_queue_to_drain() -> None:
    async def main() -> tuple[bool, int]:
        gate, queue = asyncio.Event(), _Queue(busy=3)
        task = asyncio.create_task(collect_after_startup(gate, queue))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.sleep(0.05)
        waiting = not task.done()  # the start-up burst is still being reconciled
        gc.disable()  # the cycles below are left for the one collection to find
        try:
            for _ in range(100):
                _Cycle()
            queue.busy = 0
            freed = await asyncio.wait_for(task, 5)
        finally:
            gc.enable()
        return waiting, freed

    waiting, freed = asyncio.run(main())

    assert waiting
    assert freed >= 100


def test_releasing_free_memory_trims_glibcs_heap_and_keeps_what_is_in_use() -> None:
    # glibc, as in the operator image (python:3.11-slim): the release is not a silent no-op there.
    assert housekeeping._TRIM is not None
    kept = [bytearray(range(256)) * 64 for _ in range(1000)]
    del kept[::2]

    release_free_memory()

    assert len(kept) == 500 and all(block == bytearray(range(256)) * 64 for block in kept)
