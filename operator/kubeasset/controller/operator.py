"""Running the controller: kopf's settings (kubeasset's names, no state on users' objects), the work queue
beside kopf's watches, and two ways to run it: :func:`run` in the foreground (``python -m
kubeasset.controller``, ``kubeasset controller run``) and :class:`ControllerThread` in the background of
another program (the tests, ``kubeasset dev``).

One replica is active at a time: with ``leader_election`` on (the command line's default) a replica first
acquires a coordination.k8s.io Lease (:mod:`kubeasset.controller.leader`) and only then starts its work queue
and kopf's watches; it stops, and :func:`run_async` raises LeadershipLostError, when it loses the Lease. kopf's
own peering (a cluster-wide KopfPeering CRD, pausing only) stays off (``standalone``). Besides, deterministic
names and resourceVersion-guarded status writes make a second active replica redundant rather than harmful.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import kopf
from kubernetes import client

from kubeasset.controller.asset_job import reconcile_asset_job
from kubeasset.controller.asset_run import reconcile_asset_run
from kubeasset.controller.asset_schedule import reconcile_asset_schedule
from kubeasset.controller.asset_sensor import reconcile_asset_sensor
from kubeasset.controller.code_location import reconcile_code_location
from kubeasset.controller.endpoints import Health, Stage, serve_endpoints
from kubeasset.controller.handlers import DISCOVERY_POD_SELECTOR, KOPF_KINDS, build_registry
from kubeasset.controller.housekeeping import collect_after_startup
from kubeasset.controller.kube import KubeIO, load_configuration
from kubeasset.controller.leader import DEFAULT_LEASE_NAME, LeaderElector, default_namespace, run_while_leading
from kubeasset.controller.logs import log_handler
from kubeasset.controller.metrics import ControllerMetrics
from kubeasset.controller.runtime import (
    ASSET_JOB,
    ASSET_RUN,
    ASSET_SCHEDULE,
    ASSET_SENSOR,
    CODE_LOCATION,
    Controller,
)
from kubeasset.controller.startup_gate import kinds_empty
from kubeasset.controller.watches import build_informers
from kubeasset.errors import ControllerError
from kubeasset.reconcile.discovery import DiscoveryDefaults
from kubeasset.reconcile.leader_lease import LeaseTiming
from kubeasset.reconcile.run_pod import RunPodDefaults

log = logging.getLogger("kubeasset.controller")

#: kopf's marker and storage names, under kubeasset's domain. With only event handlers and indexes kopf
#: never writes them; should a later handler need them, they carry kubeasset's name, not kopf's.
FINALIZER: Final = "kubeasset.dev/finalizer"
STORAGE_PREFIX: Final = "kubeasset.dev"
REPORTING_COMPONENT: Final = "kubeasset-controller"


@dataclass(frozen=True)
class ControllerOptions:
    """What to watch and how to reach the API server.

    ``namespaces`` empty means every namespace (cluster-wide). ``kubeconfig`` None: in-cluster, else the
    default kubeconfig. ``leader_election``: act only while holding the Lease ``lease_name`` in
    ``leader_election_namespace``; off here (in-process embeddings such as the tests run several controllers
    on purpose), on by default on the command line, where replicas are Pods of one Deployment.
    """

    namespaces: Sequence[str] = ()
    kubeconfig: Path | None = None
    workers: int = 8
    discovery: DiscoveryDefaults = field(default_factory=DiscoveryDefaults)
    #: Controller-wide defaults of run Pods (resources, service account, timeouts; Helm values).
    run_pods: RunPodDefaults = field(default_factory=RunPodDefaults)
    leader_election: bool = False
    leader_election_namespace: str = "default"
    lease_name: str = DEFAULT_LEASE_NAME
    lease_timing: LeaseTiming = field(default_factory=LeaseTiming)
    #: Runs Pending/Starting/Running at once across every job and namespace (None: only each AssetJob's
    #: maxConcurrentRuns limits them).
    max_concurrent_runs: int | None = None
    #: Port of the liveness/readiness endpoints (/healthz, /readyz); None: not served.
    health_port: int | None = None
    #: Port of the Prometheus metrics endpoint (/metrics); None: not served.
    metrics_port: int | None = None
    #: The address both listen on ("0.0.0.0" in a Pod; tests use loopback).
    listen_address: str = "0.0.0.0"
    #: The level of the controller's log lines, and whether they are JSON objects (one per line).
    log_level: int = logging.INFO
    json_logs: bool = False
    #: The controller's wall clock (aware UTC); None: the real one. Tests shift it to play a controller that
    #: was down for a while (schedules' catch-up) without waiting for the ticks.
    clock: Callable[[], datetime] | None = None


def configure(settings: kopf.OperatorSettings, *, namespaces: Sequence[str] = ()) -> kopf.OperatorSettings:
    """kopf's settings for kubeasset; ``namespaces`` are the watched ones (empty: cluster-wide)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=STORAGE_PREFIX)
    # kopf's own per-object messages (handler failures) become Warning Events; its INFO chatter
    # ("Handler ... succeeded") would post an Event per watch event and stays in the log.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.event_name_prefix = "kubeasset-"
    settings.peering.standalone = True
    if namespaces and not any(char in name for name in namespaces for char in "*?[!"):
        # Exact namespace names: nothing to discover. kopf's scan would list the cluster's namespaces, which
        # the chart's namespaced RBAC rightly forbids (kopf retries 9 times, ~1 minute, then falls back).
        settings.scanning.disabled = True
    # Server-side filtering: only kubeasset's discovery Pods reach kopf, not every Pod of the cluster (run
    # Pods are watched by kubeasset's informer, kubeasset.controller.watches).
    settings.watching.label_selectors["v1", "pods"] = DISCOVERY_POD_SELECTOR
    # Reconnect watches regularly, so a half-open connection is noticed within minutes.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    return settings


async def run_async(
    options: ControllerOptions,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: threading.Event | asyncio.Event | None = None,
    on_start: Callable[[Controller], None] | None = None,
) -> None:
    """Run the controller until ``stop_flag`` is set (or SIGINT/SIGTERM in the main thread); ``on_start``
    is handed the Controller (its queue and cache) before kopf starts. With leader election, stand by until
    leading (returns when stopped meanwhile), and raise LeadershipLostError when the Lease is lost.

    The health and metrics endpoints (``options.health_port``/``metrics_port``) are served from the start,
    before leader election (a standby must pass its probes), until everything else stopped."""
    configuration = load_configuration(options.kubeconfig)
    metrics = ControllerMetrics()
    health = Health()
    endpoints = await serve_endpoints(
        health,
        metrics.registry,
        address=options.listen_address,
        health_port=options.health_port,
        metrics_port=options.metrics_port,
    )
    try:
        await _run_controller(
            options, configuration, metrics, health, stop_flag=stop_flag, ready_flag=ready_flag, on_start=on_start
        )
    finally:
        health.stage = Stage.STOPPING
        metrics.set_leader(False)
        await endpoints.close()


async def _run_controller(
    options: ControllerOptions,
    configuration: client.Configuration,
    metrics: ControllerMetrics,
    health: Health,
    *,
    stop_flag: asyncio.Event | threading.Event | None,
    ready_flag: threading.Event | asyncio.Event | None,
    on_start: Callable[[Controller], None] | None,
) -> None:
    """:func:`run_async` behind its endpoints: stand by for the Lease, then the work queue and kopf."""
    elector = _leader_elector(configuration, options)
    if elector is not None:
        health.stage = Stage.STANDING_BY
        if not await elector.acquire(stop_flag):
            await elector.io.close()
            return  # stopped while standing by: nothing was started
    health.stage = Stage.LEADING
    metrics.set_leader(True)
    io = KubeIO(configuration)
    controller = Controller(
        io,
        discovery_defaults=options.discovery,
        workers=options.workers,
        clock=options.clock,
        run_pod_defaults=options.run_pods,
        max_concurrent_runs=options.max_concurrent_runs,
        metrics=metrics,
    )

    reconcilers = {
        CODE_LOCATION: reconcile_code_location,
        ASSET_JOB: reconcile_asset_job,
        ASSET_RUN: reconcile_asset_run,
        ASSET_SCHEDULE: reconcile_asset_schedule,
        ASSET_SENSOR: reconcile_asset_sensor,
    }
    queue = controller.make_queue(
        {kind: functools.partial(reconcile, controller) for kind, reconcile in reconcilers.items()}
    )
    # The work queue waits for the start-up gate: every cache filled (kubeasset's informers and kopf's
    # indexes), so nothing is decided on a half-listed cluster.
    queue_task = asyncio.create_task(queue.run(start_when=controller.startup.open), name="kubeasset-work-queue")
    health.watch_task("work queue", queue_task)
    informers = build_informers(controller, io, options.namespaces)
    watch_tasks = [
        asyncio.create_task(informer.run(), name=f"kubeasset-watch-{informer.kind.plural}") for informer in informers
    ]
    for informer, task in zip(informers, watch_tasks, strict=True):
        health.watch_task(f"watch of {informer.kind.plural}", task)
    gate_task = asyncio.create_task(
        controller.startup.run(
            [informer.synced for informer in informers],
            functools.partial(kinds_empty, io, KOPF_KINDS, options.namespaces),
        ),
        name="kubeasset-startup-gate",
    )
    collect_task = asyncio.create_task(
        collect_after_startup(controller.startup.open, queue), name="kubeasset-collect-after-startup"
    )
    # kopf tells its readiness to an event of ours: /readyz learns it (with the gate), then the caller's
    # ready_flag. Created before kopf starts, so kopf leaves the task alone when it stops (it cancels the
    # tasks it spawned).
    kopf_ready = asyncio.Event()
    forward_ready = asyncio.create_task(
        _when_ready(kopf_ready, controller.startup.open, health, ready_flag), name="kubeasset-ready"
    )
    if on_start is not None:
        on_start(controller)

    async def operate(flag: asyncio.Future[None] | asyncio.Event | threading.Event | None) -> None:
        try:
            await kopf.operator(
                registry=build_registry(controller, configuration),
                settings=configure(kopf.OperatorSettings(), namespaces=options.namespaces),
                clusterwide=not options.namespaces,
                namespaces=list(options.namespaces),
                stop_flag=flag,
                ready_flag=kopf_ready,
            )
        finally:
            if not _flag_is_set(flag):  # kopf ended without being asked to: /healthz fails from now on
                health.kopf_ended = True

    try:
        await run_while_leading(elector, operate, stop_flag=stop_flag, on_lost=queue_task.cancel)
    finally:
        health.stage = Stage.STOPPING
        background: list[asyncio.Task[Any]] = [forward_ready, queue_task, gate_task, collect_task, *watch_tasks]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await controller.run_logs.close()
        if elector is not None:  # only now that nothing acts any more
            await elector.release()
            await elector.io.close()
        await io.close()


async def _when_ready(
    kopf_ready: asyncio.Event,
    caches_filled: asyncio.Event,
    health: Health,
    ready_flag: threading.Event | asyncio.Event | None,
) -> None:
    await kopf_ready.wait()
    await caches_filled.wait()
    health.caches_filled = True
    if ready_flag is not None:
        ready_flag.set()


def _flag_is_set(flag: asyncio.Future[None] | asyncio.Event | threading.Event | None) -> bool:
    if flag is None:
        return False
    return flag.done() if isinstance(flag, asyncio.Future) else flag.is_set()


def _leader_elector(configuration: client.Configuration, options: ControllerOptions) -> LeaderElector | None:
    """The elector, on a connection pool of its own: a renewal never queues behind the reconcilers' calls."""
    if not options.leader_election:
        return None
    io = KubeIO(copy.deepcopy(configuration), max_concurrent_calls=2)
    return LeaderElector(io, options.leader_election_namespace, options.lease_name, timing=options.lease_timing)


def configure_logging(level: int = logging.INFO, json_format: bool = False) -> None:
    """Log lines for a person watching the controller (text) or for a log collector (``json_format``: one
    JSON object per line, see kubeasset.controller.logs): kubeasset's decisions and kopf's warnings, without
    kopf's line per handled watch event ("Handler ... succeeded"). Replaces handlers set up before."""
    logging.basicConfig(level=level, handlers=[log_handler(json_format)], force=True)
    logging.getLogger("kopf.objects").setLevel(max(level, logging.WARNING))


def run(options: ControllerOptions) -> None:
    """Run the controller in the foreground until SIGINT/SIGTERM."""
    try:
        asyncio.run(run_async(options))
    except KeyboardInterrupt:  # Ctrl-C while standing by; once leading, kopf's signal handler stops it
        log.info("stopped while standing by")


class ControllerThread:
    """The controller in a background thread with its own event loop; stops cleanly.

    Example::

        with ControllerThread(ControllerOptions(namespaces=["shop"], kubeconfig=path)):
            ...  # objects applied now are reconciled
    """

    def __init__(self, options: ControllerOptions, *, startup_timeout: float = 60.0) -> None:
        self.options = options
        self.startup_timeout = startup_timeout
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        #: The running controller (its work queue and cache), once started.
        self.controller: Controller | None = None
        self._thread = threading.Thread(target=self._main, name="kubeasset-controller", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(run_async(self.options, stop_flag=self._stop, ready_flag=self._ready, on_start=self._started))
        except BaseException as error:  # noqa: BLE001 - handed to the thread that started us, raised there
            self._error = error

    def _started(self, controller: Controller) -> None:
        self.controller = controller

    def idle(self) -> bool:
        """Nothing is being reconciled or due now (delayed requeues may wait): for tests."""
        queue = self.controller.queue if self.controller else None
        return queue is not None and queue.reconciles > 0 and queue.busy == 0

    def start(self) -> ControllerThread:
        """Start and wait until kopf is ready (its startup handlers ran)."""
        self._thread.start()
        while not self._ready.wait(0.1):
            if not self._thread.is_alive():
                raise ControllerError(f"the controller stopped while starting: {self._error!r}") from self._error
            if self._stop.is_set():
                break
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise ControllerError(f"the controller did not stop within {timeout:.0f}s")

    def __enter__(self) -> ControllerThread:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def main_options(
    namespaces: Sequence[str],
    all_namespaces: bool,
    kubeconfig: Path | None,
    *,
    leader_election: bool = True,
    leader_election_namespace: str | None = None,
    lease_name: str = DEFAULT_LEASE_NAME,
) -> ControllerOptions:
    """Options from the command line's flags (shared by ``python -m`` and the click command); neither
    flag means every namespace. Leader election is on; its Lease lives in the controller Pod's namespace
    (``default`` outside a cluster) unless ``leader_election_namespace`` is given."""
    if namespaces and all_namespaces:
        raise ControllerError("use either --namespace (one or more) or --all-namespaces, not both")
    return ControllerOptions(
        namespaces=tuple(namespaces),
        kubeconfig=kubeconfig,
        leader_election=leader_election,
        leader_election_namespace=leader_election_namespace or default_namespace(),
        lease_name=lease_name,
    )
