"""Controller memory: the RSS (VmRSS in /proc/<pid>/status) of ``python -m kubeasset.controller`` holding
1,000 schedules, 10,000 assets and 5,000 finished runs.

How the state is made: the controller discovers a 10,000-asset code location (Ready, 10,000 Asset objects)
and plans 1,000 schedules that are not due (``0 0 1 1 *``); then it is stopped while 5,000 AssetRuns of a
one-asset job are created and given a finished status (Succeeded, one Materialized asset, as a run that
ended writes it) through the status subresource: running 5,000 Pods on the local kubelet would take an
hour on 2 cores. The runs carry no kubeasset label, so no history limit prunes them. A fresh controller then
starts over the whole state (as after any upgrade) and its RSS is sampled every second until it has been
idle for 10 s (at most --settle-timeout); the figures are the peak and the final RSS, and whether the
controller settled, was still busy, or exited.

    python bench/memory.py [--small]

Target (issue 7): <= 200 MB RSS.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from benchkit.cluster import NOWHERE, BenchCluster, wait_for
from benchkit.controller_process import CONTROLLER_DESCRIPTION, ControllerProcess
from benchkit.figures import print_header, print_value
from benchkit.objects import (
    GROUP,
    VERSION,
    asset_run,
    asset_schedule,
    code_location,
    count,
    create,
    trivial_setup,
    wait_ready,
    wide_code,
    write_code,
)
from kubernetes import client

MB = 1_000_000


def finished_status(name: str, started: datetime) -> dict[str, object]:
    """The status a controller writes when a one-asset run that started at ``started`` has succeeded (each
    run its own times, as real runs have: identical ones would let the cache share what it cannot)."""
    start = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    now = (started + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "observedGeneration": 1,
        "phase": "Succeeded",
        "message": "1 of 1 assets materialized",
        "podName": name,
        "image": "kubeasset-bench:local",
        "startTime": start,
        "completionTime": now,
        "attempts": 1,
        "progress": "1/1",
        "summary": {"total": 1, "materialized": 1, "failed": 0, "skipped": 0, "canceled": 0},
        "assets": [
            {
                "key": "trivial",
                "state": "Materialized",
                "startTime": start,
                "endTime": now,
                "durationSeconds": 0.01,
                "metadata": {"rows": {"type": "int", "value": 1}},
            }
        ],
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Succeeded",
                "message": "1 of 1 assets materialized",
                "lastTransitionTime": now,
                "observedGeneration": 1,
            }
        ],
    }


class RssSampler:
    """The controller's RSS every second, in a thread."""

    def __init__(self, controller: ControllerProcess) -> None:
        self.controller = controller
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        while not self._stop.wait(1.0) and self.controller.alive():
            self.samples.append((time.monotonic(), self.controller.rss_bytes()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_idle(controller: ControllerProcess, quiet_seconds: float = 10.0, timeout: float = 900.0) -> float:
    """Wait until the controller used under 5% of a core for ``quiet_seconds``; returns the seconds waited."""
    started = time.monotonic()
    window: list[tuple[float, float]] = []
    while time.monotonic() - started < timeout:
        window.append((time.monotonic(), controller.cpu_seconds()))
        window = [entry for entry in window if entry[0] >= window[-1][0] - quiet_seconds]
        span = window[-1][0] - window[0][0]
        if span >= quiet_seconds * 0.9 and (window[-1][1] - window[0][1]) / span < 0.05:
            return time.monotonic() - started
        time.sleep(1.0)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 500 assets, 50 schedules, 100 runs")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the controller (as the chart's controller.extraEnv), e.g. MALLOC_ARENA_MAX=2",
    )
    parser.add_argument(
        "--no-leader-elect",
        action="store_true",
        help="run the controller without leader election (the chart's leaderElection.enabled=false)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=900.0,
        help="seconds the restarted controller gets to become idle (default 900)",
    )
    args = parser.parse_args()
    extra_env = dict(entry.split("=", 1) for entry in args.env)
    assets, schedules, runs = (500, 50, 100) if args.small else (10_000, 1000, 5000)

    with BenchCluster(kubelet=True) as cluster:
        api = cluster.api
        custom = client.CustomObjectsApi(api)
        namespace = cluster.new_namespace("memory")
        first = ControllerProcess(
            cluster.kubeconfig, cluster.folder / "controller-1.log", extra_env, leader_elect=not args.no_leader_elect
        ).start()
        try:
            first.wait_until_leading()
            idle_rss = first.rss_bytes()
            create(
                api,
                namespace,
                code_location(
                    "wide", "bench_wide", write_code(cluster.folder / "code", "bench_wide", wide_code(assets))
                ),
            )
            trivial_setup(api, namespace, cluster.folder / "code", run_node=NOWHERE)
            wait_ready(api, namespace, "codelocations", "wide", timeout=600)
            wait_for(lambda: count(api, namespace, "assets") >= assets + 1, "the catalog", 600, poll=1)
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda i: create(api, namespace, asset_schedule(f"s{i:05d}", "trivial", "0 0 1 1 *")),
                        range(schedules),
                    )
                )
            wait_idle(first)
            first_rss = first.rss_bytes()
        finally:
            first.stop()

        now = datetime.now(UTC)

        def finished_run(index: int) -> None:
            name = f"done{index:05d}"
            create(api, namespace, asset_run(name, "trivial"))
            started = now - timedelta(minutes=5 * (runs - index))  # one run every five minutes, as a schedule
            custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, "assetruns", name, {"status": finished_status(name, started)}
            )

        made = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(finished_run, range(runs)))
        made = time.monotonic() - made

        second = ControllerProcess(
            cluster.kubeconfig, cluster.folder / "controller-2.log", extra_env, leader_elect=not args.no_leader_elect
        ).start()
        try:
            outcome = "idle"
            with RssSampler(second) as sampler:
                try:
                    second.wait_until_leading()
                    settled_after = wait_idle(second, timeout=args.settle_timeout)
                except RuntimeError as exited:  # the controller stopped on its own (e.g. lost its Lease)
                    outcome, settled_after = f"EXITED: {str(exited).splitlines()[0]}", float("nan")
            if settled_after >= args.settle_timeout:
                outcome = f"NOT idle after {args.settle_timeout:.0f} s"
            settled = second.rss_bytes() if second.alive() else 0
            pods = len(
                client.CoreV1Api(api)
                .list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=run")
                .items
            )
            print_header(
                f"controller memory with {schedules} schedules, {assets} assets and {runs} finished runs",
                {
                    "controller": CONTROLLER_DESCRIPTION
                    + (f", plus {' '.join(args.env)}" if args.env else "")
                    + (", but --no-leader-elect" if args.no_leader_elect else ""),
                    "state": f"{count(api, namespace, 'assetschedules')} schedules, {count(api, namespace, 'assets')} "
                    f"Assets, {count(api, namespace, 'assetruns')} AssetRuns ({runs} finished runs made in "
                    f"{made:.0f} s while the controller was stopped), {pods} run Pods",
                },
            )
            print_value("RSS of an idle controller (no objects)", idle_rss / MB, "MB")
            print_value("RSS after discovering the assets and planning the schedules", first_rss / MB, "MB")
            peak = max((rss for _, rss in sampler.samples), default=settled)
            print_value(
                f"restarted over the whole state: peak RSS ({len(sampler.samples)} samples)", peak / MB, "MB", 200.0
            )
            print(f"   restarted controller: {outcome}")
            print_value(
                f"restarted over the whole state: RSS at the end ({settled_after:.0f} s)", settled / MB, "MB", 200.0
            )
        finally:
            second.stop()


if __name__ == "__main__":
    main()
