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
from typing import Final

import kopf
from kubernetes import client

from kubeasset.controller.asset_job import reconcile_asset_job
from kubeasset.controller.asset_run import reconcile_asset_run
from kubeasset.controller.asset_schedule import reconcile_asset_schedule
from kubeasset.controller.asset_sensor import reconcile_asset_sensor
from kubeasset.controller.code_location import reconcile_code_location
from kubeasset.controller.handlers import build_registry
from kubeasset.controller.kube import KubeIO, load_configuration
from kubeasset.controller.leader import DEFAULT_LEASE_NAME, LeaderElector, default_namespace, run_while_leading
from kubeasset.controller.runtime import (
    ASSET_JOB,
    ASSET_RUN,
    ASSET_SCHEDULE,
    ASSET_SENSOR,
    CODE_LOCATION,
    Controller,
)
from kubeasset.errors import ControllerError
from kubeasset.reconcile.discovery import DiscoveryDefaults
from kubeasset.reconcile.leader_lease import LeaseTiming
from kubeasset.reconcile.naming import MANAGED_BY, MANAGED_BY_LABEL
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
    #: The controller's wall clock (aware UTC); None: the real one. Tests shift it to play a controller that
    #: was down for a while (schedules' catch-up) without waiting for the ticks.
    clock: Callable[[], datetime] | None = None


def configure(settings: kopf.OperatorSettings) -> kopf.OperatorSettings:
    """kopf's settings for kubeasset."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=STORAGE_PREFIX)
    # kopf's own per-object messages (handler failures) become Warning Events; its INFO chatter
    # ("Handler ... succeeded") would post an Event per watch event and stays in the log.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.event_name_prefix = "kubeasset-"
    settings.peering.standalone = True
    # Server-side filtering: only kubeasset's own Pods reach the controller, not every Pod of the cluster.
    settings.watching.label_selectors["v1", "pods"] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
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
    leading (returns when stopped meanwhile), and raise LeadershipLostError when the Lease is lost."""
    configuration = load_configuration(options.kubeconfig)
    elector = _leader_elector(configuration, options)
    if elector is not None and not await elector.acquire(stop_flag):
        elector.io.close()
        return  # stopped while standing by: nothing was started
    io = KubeIO(configuration)
    controller = Controller(
        io,
        discovery_defaults=options.discovery,
        workers=options.workers,
        clock=options.clock,
        run_pod_defaults=options.run_pods,
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
    queue_task = asyncio.create_task(queue.run(), name="kubeasset-work-queue")
    if on_start is not None:
        on_start(controller)
    try:
        await run_while_leading(
            elector,
            lambda flag: kopf.operator(
                registry=build_registry(controller, configuration),
                settings=configure(kopf.OperatorSettings()),
                clusterwide=not options.namespaces,
                namespaces=list(options.namespaces),
                stop_flag=flag,
                ready_flag=ready_flag,
            ),
            stop_flag=stop_flag,
            on_lost=queue_task.cancel,
        )
    finally:
        queue_task.cancel()
        await asyncio.gather(queue_task, return_exceptions=True)
        await controller.run_logs.close()
        if elector is not None:  # only now that nothing acts any more
            await elector.release()
            elector.io.close()
        io.close()


def _leader_elector(configuration: client.Configuration, options: ControllerOptions) -> LeaderElector | None:
    """The elector, on a connection pool of its own: a renewal never queues behind the reconcilers' calls."""
    if not options.leader_election:
        return None
    io = KubeIO(copy.deepcopy(configuration), max_concurrent_calls=2)
    return LeaderElector(io, options.leader_election_namespace, options.lease_name, timing=options.lease_timing)


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines for a person watching the controller: kubeasset's decisions and kopf's warnings, without
    kopf's line per handled watch event ("Handler ... succeeded")."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
