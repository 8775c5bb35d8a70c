"""Running the controller: kopf's settings (kubeasset's names, no state on users' objects), the work queue
beside kopf's watches, and two ways to run it: :func:`run` in the foreground (``python -m
kubeasset.controller``, ``kubeasset controller run``) and :class:`ControllerThread` in the background of
another program (the tests, ``kubeasset dev``).

One replica is active at a time. kopf's peering needs a cluster-wide KopfPeering CRD of its own and only
pauses a second operator; it is off (``standalone``) until leader election on a coordination.k8s.io Lease
is added. Meanwhile deterministic names (one discovery Pod per input, Asset names from keys) and
resourceVersion-guarded status writes make a second replica redundant rather than harmful.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

import kopf

from kubeasset.controller.asset_job import reconcile_asset_job
from kubeasset.controller.asset_run import reconcile_asset_run
from kubeasset.controller.asset_schedule import reconcile_asset_schedule
from kubeasset.controller.asset_sensor import reconcile_asset_sensor
from kubeasset.controller.code_location import reconcile_code_location
from kubeasset.controller.handlers import build_registry
from kubeasset.controller.kube import KubeIO, load_configuration
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
from kubeasset.reconcile.naming import MANAGED_BY, MANAGED_BY_LABEL

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
    default kubeconfig.
    """

    namespaces: Sequence[str] = ()
    kubeconfig: Path | None = None
    workers: int = 8
    discovery: DiscoveryDefaults = field(default_factory=DiscoveryDefaults)


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
    is handed the Controller (its queue and cache) before kopf starts."""
    configuration = load_configuration(options.kubeconfig)
    io = KubeIO(configuration)
    controller = Controller(io, discovery_defaults=options.discovery, workers=options.workers)

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
        await kopf.operator(
            registry=build_registry(controller, configuration),
            settings=configure(kopf.OperatorSettings()),
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        queue_task.cancel()
        await asyncio.gather(queue_task, return_exceptions=True)
        io.close()


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines for a person watching the controller: kubeasset's decisions and kopf's warnings, without
    kopf's line per handled watch event ("Handler ... succeeded")."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kopf.objects").setLevel(max(level, logging.WARNING))


def run(options: ControllerOptions) -> None:
    """Run the controller in the foreground until SIGINT/SIGTERM."""
    asyncio.run(run_async(options))


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


def main_options(namespaces: Sequence[str], all_namespaces: bool, kubeconfig: Path | None) -> ControllerOptions:
    """Options from the command line's flags (shared by ``python -m`` and the click command); neither
    flag means every namespace."""
    if namespaces and all_namespaces:
        raise ControllerError("use either --namespace (one or more) or --all-namespaces, not both")
    return ControllerOptions(namespaces=tuple(namespaces), kubeconfig=kubeconfig)
