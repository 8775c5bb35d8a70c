"""An open-loop load generator of AssetRuns and the Pod watch that times each run's Pod: the measure of
"AssetRun created -> Pod created" that launch latency and throughput share."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kubernetes import client

from benchkit.objects import asset_run, create
from benchkit.watch import Seen, TimedWatch


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
    return TimedWatch(
        client.CoreV1Api(api).list_namespaced_pod,
        [namespace],
        record.on_pod,
        label_selector="app.kubernetes.io/component=run",
    ).start()


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
