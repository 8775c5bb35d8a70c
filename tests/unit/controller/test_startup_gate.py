"""The work queue starts only once every cache is filled: the informers' first listings, and kopf's
indexes — proven by kopf's first event, or by its kinds being empty."""

from __future__ import annotations

import asyncio

import pytest

from kubeasset.controller import startup_gate
from kubeasset.controller.startup_gate import StartupGate


def test_the_gate_waits_for_every_informer_and_for_kopf() -> None:
    async def main() -> list[str]:
        gate = StartupGate()
        synced = [asyncio.Event(), asyncio.Event()]
        seen: list[str] = []

        async def not_empty() -> bool:
            return False

        task = asyncio.create_task(gate.run(synced, not_empty))
        synced[0].set()
        await asyncio.sleep(0.01)
        seen.append(f"one informer: {gate.open.is_set()}")
        synced[1].set()
        await asyncio.sleep(0.01)
        seen.append(f"both informers: {gate.open.is_set()}")
        gate.kopf_delivered()
        await asyncio.wait_for(task, 1)
        seen.append(f"kopf delivered: {gate.open.is_set()}")
        return seen

    assert asyncio.run(main()) == ["one informer: False", "both informers: False", "kopf delivered: True"]


def test_with_nothing_for_kopf_to_deliver_an_empty_listing_opens_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_gate, "EMPTY_CHECK_SECONDS", 0.01)
    answers = iter([False, False, True])  # the only CodeLocation was deleted before kopf listed it

    async def kinds_empty() -> bool:
        return next(answers)

    async def main() -> bool:
        gate = StartupGate()
        await asyncio.wait_for(gate.run([], kinds_empty), 1)
        return gate.open.is_set()

    assert asyncio.run(main())
