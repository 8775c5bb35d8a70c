"""The controller's HTTP endpoints: ``/healthz`` and ``/readyz`` for the kubelet's probes on the health port,
``/metrics`` for Prometheus on the metrics port, served by aiohttp (kopf's own HTTP library) on the
controller's event loop, so a probe that gets an answer proves that loop is not stuck.

The semantics follow controller-runtime's, so a rollout never stalls and a standby is never killed:

* liveness fails when the controller cannot recover by itself: its work queue or one of its watches
  ended, or kopf's operator ended while the controller was not stopping (the process is then on its way
  out anyway);
* readiness is true for a standby waiting for the leader Lease (it is healthy, it just does not act) and,
  for the replica that acts, once kopf is up and every cache is filled (the start-up gate); false while
  stopping.

The health server starts before leader election and stops last; a port of 0 binds a free port (tests), and
the ports actually bound are in :attr:`Endpoints.ports`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from kubeasset.errors import ControllerError

log = logging.getLogger("kubeasset.controller")

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"


class Stage(enum.Enum):
    """Where this replica is in its life."""

    STARTING = "starting"
    STANDING_BY = "standing by for the leader Lease"
    LEADING = "leading"
    STOPPING = "stopping"


@dataclass
class Health:
    """What the probes answer: the replica's stage, whether kopf is up and every cache filled, and the
    tasks whose end means the controller is dead (name -> task).

    Example::

        health = Health()
        health.watch_task("work queue", queue_task)
        health.stage = Stage.LEADING
        health.caches_filled = True
        assert health.liveness() == [] and health.readiness() == []
    """

    stage: Stage = Stage.STARTING
    caches_filled: bool = False
    kopf_ended: bool = False
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def watch_task(self, name: str, task: asyncio.Task[None]) -> None:
        self._tasks[name] = task

    def liveness(self) -> list[str]:
        """What makes the replica dead (empty: alive)."""
        if self.stage is Stage.STOPPING:
            return []  # stopping on purpose: let it finish rather than kill it
        problems = [f"the {name} stopped{_why(task)}" for name, task in self._tasks.items() if task.done()]
        if self.kopf_ended:
            problems.append("kopf's operator stopped")
        return problems

    def readiness(self) -> list[str]:
        """Why the replica is not ready (empty: ready)."""
        if self.stage is Stage.STANDING_BY:
            return []
        if self.stage is not Stage.LEADING:
            return [self.stage.value]
        if not self.caches_filled:
            return ["the watches are filling the caches (kopf and kubeasset's informers)"]
        return self.liveness()


def _why(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return " (cancelled)"
    error = task.exception()
    return f": {error!r}" if error is not None else ""


def _probe(check: Callable[[], list[str]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        problems = check()
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ok\n")

    return handler


@dataclass
class Endpoints:
    """The running servers; :meth:`close` stops them. ``ports`` maps "health"/"metrics" to the bound port."""

    runners: list[web.AppRunner]
    ports: dict[str, int]

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()


async def serve_endpoints(
    health: Health,
    registry: CollectorRegistry,
    *,
    address: str,
    health_port: int | None,
    metrics_port: int | None,
) -> Endpoints:
    """Start the health server (``health_port``) and the metrics server (``metrics_port``); None: that one is
    not served; the same port twice: one server with all three paths."""
    # One server per port; port 0 (any free port, for tests) is a server of its own each time.
    servers: dict[tuple[int, str], tuple[web.Application, list[str]]] = {}

    def server(port: int, name: str) -> web.Application:
        key = (port, name if port == 0 else "")
        app, names = servers.setdefault(key, (web.Application(), []))
        names.append(name)
        return app

    if health_port is not None:
        app = server(health_port, "health")
        app.router.add_get(HEALTHZ, _probe(health.liveness))
        app.router.add_get(READYZ, _probe(health.readiness))
    if metrics_port is not None:
        server(metrics_port, "metrics").router.add_get(METRICS, make_aiohttp_handler(registry))
    endpoints = Endpoints([], {})
    try:
        for (port, _), (app, names) in servers.items():
            # No access log: the kubelet's probes would write a line every few seconds.
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            endpoints.runners.append(runner)
            site = web.TCPSite(runner, address, port)
            try:
                await site.start()
            except OSError as error:
                raise ControllerError(
                    f"cannot serve the controller's {' and '.join(names)} endpoint on {address}:{port}: "
                    f"{error.strerror or error}; free the port or configure another one"
                ) from error
            bound = _bound_port(runner, port)
            endpoints.ports.update(dict.fromkeys(names, bound))
            log.info("serving %s on %s:%d", " and ".join(names), address, bound)
    except BaseException:
        await endpoints.close()
        raise
    return endpoints


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return requested
