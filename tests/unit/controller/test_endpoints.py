"""The health and metrics endpoints as the kubelet and Prometheus see them: /healthz fails when the work queue
or kopf died, /readyz is ready for a standby and for a leader whose watches started, /metrics serves the
controller's own registry, and a port already in use is a clear error."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from kubeasset.controller.endpoints import Health, Stage, serve_endpoints
from kubeasset.controller.metrics import ControllerMetrics
from kubeasset.errors import ControllerError


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def test_probes_follow_the_replica_through_its_life() -> None:
    async def main() -> list[tuple[str, int, int]]:
        health = Health()
        metrics = ControllerMetrics()
        endpoints = await serve_endpoints(health, metrics.registry, address="127.0.0.1", health_port=0, metrics_port=0)
        port = endpoints.ports["health"]
        seen: list[tuple[str, int, int]] = []

        async def look(moment: str) -> None:
            seen.append((moment, (await get(port, "/healthz"))[0], (await get(port, "/readyz"))[0]))

        try:
            await look("starting")
            health.stage = Stage.STANDING_BY
            await look("standing by")
            health.stage = Stage.LEADING
            queue = asyncio.create_task(asyncio.sleep(3600))
            health.watch_task("work queue", queue)
            await look("leading, kopf starting")
            health.caches_filled = True
            await look("leading, kopf ready")
            queue.cancel()
            await asyncio.gather(queue, return_exceptions=True)
            await look("work queue died")
            health.stage = Stage.STOPPING
            await look("stopping")
        finally:
            await endpoints.close()
        return seen

    assert asyncio.run(main()) == [
        ("starting", 200, 503),
        ("standing by", 200, 200),
        ("leading, kopf starting", 200, 503),
        ("leading, kopf ready", 200, 200),
        ("work queue died", 503, 503),
        ("stopping", 200, 503),
    ]


def test_a_dead_kopf_fails_liveness_with_a_reason() -> None:
    health = Health(stage=Stage.LEADING, caches_filled=True, kopf_ended=True)
    assert health.liveness() == ["kopf's operator stopped"]


def test_metrics_are_served_on_their_own_port_and_not_on_the_health_port() -> None:
    async def main() -> tuple[tuple[int, str], tuple[int, str], tuple[int, str]]:
        metrics = ControllerMetrics()
        metrics.set_leader(True)
        endpoints = await serve_endpoints(
            Health(), metrics.registry, address="127.0.0.1", health_port=0, metrics_port=0
        )
        try:
            assert endpoints.ports["health"] != endpoints.ports["metrics"]
            return (
                await get(endpoints.ports["metrics"], "/metrics"),
                await get(endpoints.ports["health"], "/metrics"),
                await get(endpoints.ports["metrics"], "/healthz"),
            )
        finally:
            await endpoints.close()

    served, on_health, probe_on_metrics = asyncio.run(main())
    assert served[0] == 200 and "\nkubeasset_leader 1.0\n" in served[1]
    assert "# HELP kubeasset_runs " in served[1]
    assert on_health[0] == 404 and probe_on_metrics[0] == 404


def test_one_port_for_both_serves_all_paths_and_none_serves_nothing() -> None:
    async def main() -> tuple[int, int, dict[str, int]]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        health = Health(stage=Stage.STANDING_BY)
        registry = ControllerMetrics().registry
        endpoints = await serve_endpoints(health, registry, address="127.0.0.1", health_port=port, metrics_port=port)
        try:
            statuses = ((await get(port, "/readyz"))[0], (await get(port, "/metrics"))[0])
        finally:
            await endpoints.close()
        nothing = await serve_endpoints(health, registry, address="127.0.0.1", health_port=None, metrics_port=None)
        return statuses[0], statuses[1], nothing.ports

    assert asyncio.run(main()) == (200, 200, {})


def test_a_port_in_use_is_an_error_naming_it() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            await serve_endpoints(
                Health(), ControllerMetrics().registry, address="127.0.0.1", health_port=None, metrics_port=port
            )

    with pytest.raises(ControllerError, match=r"metrics endpoint on 127\.0\.0\.1:\d+"):
        asyncio.run(main())
