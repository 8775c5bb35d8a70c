"""What explains a figure: CPU used by each process of the set-up (controller, kube-apiserver, etcd, the
benchmark's own process with its client and kubelet) and the controller's own metrics (reconciles by
kind and their duration, work-queue depth and busy workers, sampled every second)."""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:]+)(\{(?P<labels>[^}]*)\})? (?P<value>[-+0-9.eEinfNa]+)$")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each named process used between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()}
        return self.used

    def print(self, per: int, what: str) -> None:
        shown = ", ".join(f"{name} {1000 * seconds / max(per, 1):.1f}" for name, seconds in self.used.items())
        print(f"   CPU ms per {what}: {shown}")


def scrape(port: int, names: tuple[str, ...] = ()) -> dict[tuple[str, str], float]:
    """The controller's /metrics as {(metric name, labels text): value}; ``names``: only those metric
    families (prometheus_client's ``name[]`` filter), so the controller renders only them."""
    query = "?" + urllib.parse.urlencode([("name[]", name) for name in names]) if names else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{query}", timeout=5) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[(match["name"], match["labels"] or "")] = float(match["value"])
    return samples


def reconciles_by_kind(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> dict[str, tuple[int, float]]:
    """{kind: (reconciles, mean seconds)} between two scrapes."""
    counts: dict[str, float] = defaultdict(float)
    sums: dict[str, float] = defaultdict(float)
    for (name, labels), value in after.items():
        kind = re.search(r'kind="([^"]*)"', labels)
        if kind is None:
            continue
        if name == "kubeasset_reconcile_duration_seconds_count":
            counts[kind[1]] += value - before.get((name, labels), 0.0)
        elif name == "kubeasset_reconcile_duration_seconds_sum":
            sums[kind[1]] += value - before.get((name, labels), 0.0)
    return {kind: (int(count), sums[kind] / count if count else 0.0) for kind, count in counts.items() if count}


class QueueSampler:
    """The controller's work-queue depth (due now) and busy workers, every second, in a thread. It asks for
    those two metrics only: rendering every series (a tick-lateness histogram per schedule: 15,000 series
    with 1,000 schedules) took ≈ 0.1 s of the controller's CPU per scrape, a sixth of its CPU during the
    schedule-lateness burst; Prometheus scrapes every 15-60 s, not every second."""

    NAMES = ("kubeasset_workqueue_depth", "kubeasset_workqueue_busy_workers")

    def __init__(self, port: int) -> None:
        self.port = port
        self.due: list[float] = []
        self.busy: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        while not self._stop.wait(1.0):
            try:
                samples = scrape(self.port, self.NAMES)
            except OSError:
                continue
            self.due.append(samples.get(("kubeasset_workqueue_depth", 'state="due"'), 0.0))
            self.busy.append(samples.get(("kubeasset_workqueue_busy_workers", ""), 0.0))

    def start(self) -> QueueSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def print(self) -> None:
        if not self.due:
            print("   work queue: no samples (metrics endpoint not reachable)")
            return
        mean_due, mean_busy = sum(self.due) / len(self.due), sum(self.busy) / len(self.busy)
        print(
            f"   work queue (1 s samples): keys due now max {max(self.due):.0f}, mean {mean_due:.0f}; "
            f"busy workers mean {mean_busy:.1f}, max {max(self.busy):.0f}"
        )


def print_reconciles(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], runs: int) -> None:
    for kind, (count, mean) in sorted(reconciles_by_kind(before, after).items()):
        print(f"   reconciles of {kind}: {count} ({count / max(runs, 1):.2f} per run), mean {1000 * mean:.1f} ms")


class LoadDiagnostics:
    """CPU per process, reconciles by kind and the work queue, over one measured load; ``report(runs)``
    prints them per run.

    Example::

        diagnostics = LoadDiagnostics(controller.pid, controller.metrics_port, cluster.plane.pids).start()
        generate_load()
        diagnostics.stop()
        diagnostics.report(runs=600)
    """

    def __init__(self, controller_pid: int, metrics_port: int, plane_pids: dict[str, int]) -> None:
        self.meter = CpuMeter({"controller": controller_pid, **plane_pids, "bench client+kubelet": os.getpid()})
        self.port = metrics_port
        self.queue = QueueSampler(metrics_port)
        self._before: dict[tuple[str, str], float] = {}
        self._after: dict[tuple[str, str], float] = {}

    def start(self) -> LoadDiagnostics:
        self.meter.start()
        self._before = scrape(self.port)
        self.queue.start()
        return self

    def stop(self) -> None:
        self.meter.stop()
        self.queue.stop()
        self._after = scrape(self.port)

    def report(self, runs: int) -> None:
        self.meter.print(runs, "run")
        print_reconciles(self._before, self._after, runs)
        self.queue.print()
