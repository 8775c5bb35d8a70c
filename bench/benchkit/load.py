"""An open-loop load generator of AssetRuns and the Pod watch that times each run's Pod: the measure of
"AssetRun created -> Pod created" that launch latency and throughput share, with the diagnostics and the
optional profile taken meanwhile; and the watches of runs and their Pods that the schedule benchmarks read."""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

from benchkit.cluster import ControlledCluster, wait_for
from benchkit.diagnostics import LoadDiagnostics
from benchkit.figures import print_value
from benchkit.objects import GROUP, VERSION, asset_run, create
from benchkit.profiling import PySpyRecord, print_top_frames
from benchkit.watch import Seen, TimedWatch

_RUN_PODS = "app.kubernetes.io/component=run"


@dataclass
class LaunchRecord:
    """When each run's create call started and when its Pod's ADDED event arrived (monotonic)."""

    created: dict[str, float] = field(default_factory=dict)
    pod_added: dict[str, float] = field(default_factory=dict)
    #: How far behind its planned instant the generator issued each create (the client's own lag).
    generator_lag: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pod_events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def latencies(self) -> list[float]:
        return [self.pod_added[name] - started for name, started in self.created.items() if name in self.pod_added]

    def on_pod(self, seen: Seen) -> None:
        if seen.type != "ADDED":
            return
        # The run's name, from the Pod's ownerReference to its AssetRun.
        owners = [
            ref["name"] for ref in seen.obj["metadata"].get("ownerReferences") or () if ref.get("kind") == "AssetRun"
        ]
        with self.lock:
            self.pod_events += 1
            if owners:
                self.pod_added.setdefault(owners[0], seen.monotonic)


def watch_run_pods(api: client.ApiClient, namespace: str, record: LaunchRecord) -> TimedWatch:
    """The watch of run Pods in ``namespace`` feeding ``record`` (start it before creating runs)."""
    return _run_pod_watch(api, namespace, record.on_pod).start()


def watch_runs_and_pods(
    api: client.ApiClient, namespace: str, on_run: Callable[[Seen], None], on_pod: Callable[[Seen], None]
) -> tuple[TimedWatch, TimedWatch]:
    """Started watches of the AssetRuns and of the run Pods in ``namespace``; stop both when done."""
    runs = TimedWatch(
        client.CustomObjectsApi(api).list_namespaced_custom_object, [GROUP, VERSION, namespace, "assetruns"], on_run
    )
    return runs.start(), _run_pod_watch(api, namespace, on_pod).start()


def _run_pod_watch(api: client.ApiClient, namespace: str, on_pod: Callable[[Seen], None]) -> TimedWatch:
    return TimedWatch(client.CoreV1Api(api).list_namespaced_pod, [namespace], on_pod, label_selector=_RUN_PODS)


def add_load_options(parser: argparse.ArgumentParser, *, rate: float, duration: float, small: float, verb: str) -> None:
    """--small, --rate, --duration and --profile of a benchmark that loads the controller with runs; read the
    load's length with :func:`load_duration`."""
    parser.add_argument("--small", action="store_true", help=f"a smoke run: {small:g} s instead of {duration:g} s")
    parser.add_argument("--rate", type=float, default=rate, help=f"runs {verb} per second (default {rate:g})")
    parser.set_defaults(full_duration=duration, small_duration=small)
    parser.add_argument(
        "--duration", type=float, help=f"seconds of load (default {duration:g}; {small:g} with --small)"
    )
    parser.add_argument("--profile", type=Path, help="record a py-spy profile of the controller into this file")


def load_duration(args: argparse.Namespace) -> float:
    """Seconds of load the options of :func:`add_load_options` ask for."""
    return float(args.duration or (args.small_duration if args.small else args.full_duration))


@dataclass
class LoadOutcome:
    """What :func:`measured_load` leaves for the figures."""

    took: float  #: seconds the generation took
    created: int  #: runs created
    controller_cpu: float  #: CPU seconds the controller used from the load's start until every Pod came
    diagnostics: LoadDiagnostics
    watch: TimedWatch
    profile: Path | None

    def report(self, record: LaunchRecord) -> None:
        """The closing lines: controller CPU per run, the diagnostics, the profile's top frames, errors."""
        print_value("controller CPU per run", 1000 * self.controller_cpu / max(self.created, 1), "ms")
        self.diagnostics.report(self.created)
        if self.profile is not None:
            print_top_frames(self.profile)
        if record.failures or self.watch.errors:
            print(f"   create failures {record.failures[:5]} watch errors {self.watch.errors[:5]}")


def measured_load(
    bench: ControlledCluster,
    record: LaunchRecord,
    rate: float,
    duration: float,
    *,
    threads: int = 4,
    profile: Path | None = None,
    pods_timeout: float = 30.0,
) -> LoadOutcome:
    """Runs of the job ``trivial`` at ``rate``/s for ``duration`` s (:func:`generate_runs`), with the run-Pod
    watch feeding ``record``, the diagnostics and (``profile``) a py-spy record of the controller running
    meanwhile; waits up to ``pods_timeout`` s for every run's Pod (says so when some are missing)."""
    controller = bench.controller
    watch = watch_run_pods(bench.api, bench.namespace, record)
    cpu_before = controller.cpu_seconds()
    diagnostics = LoadDiagnostics(controller.pid, controller.metrics_port, bench.cluster.plane.pids).start()
    recording = PySpyRecord(controller.pid, profile) if profile else contextlib.nullcontext()
    with recording:
        took = generate_runs(bench.api, bench.namespace, "trivial", rate, duration, record, threads=threads)
    created = len(record.created)
    try:
        wait_for(lambda: len(record.pod_added) >= created, "every run's Pod", pods_timeout)
    except RuntimeError as error:
        print(f"   {error}: {len(record.pod_added)} of {created} ({record.pod_events} Pod events)")
    watch.stop()
    diagnostics.stop()
    return LoadOutcome(took, created, controller.cpu_seconds() - cpu_before, diagnostics, watch, profile)


def generate_runs(
    api: client.ApiClient,
    namespace: str,
    job: str,
    rate: float,
    duration: float,
    record: LaunchRecord,
    *,
    threads: int = 4,
    prefix: str = "r",
) -> float:
    """Create ``rate`` AssetRuns per second for ``duration`` seconds, each at its planned instant (open loop:
    a slow answer does not delay the next run); returns the seconds the generation took."""
    total = int(rate * duration)
    started = time.monotonic() + 0.2
    counter = iter(range(total))
    counter_lock = threading.Lock()

    def worker() -> None:
        while True:
            with counter_lock:
                index = next(counter, None)
            if index is None:
                return
            planned = started + index / rate
            delay = planned - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            name = f"{prefix}{index:06d}"
            issued = time.monotonic()
            with record.lock:
                record.created[name] = issued
                record.generator_lag.append(max(0.0, issued - planned))
            try:
                create(api, namespace, asset_run(name, job))
            except client.ApiException as error:
                with record.lock:
                    record.failures.append(f"{name}: {error.status} {error.reason}")
                    del record.created[name]

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()  # a worker's unexpected error is raised here, not lost
    return time.monotonic() - started
