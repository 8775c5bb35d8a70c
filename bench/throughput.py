"""Throughput: AssetRuns created -> Pods created per second, sustained for 60 s with one controller. The
client offers 50 runs/s (open loop); the figure is the rate at which their Pods appear (ADDED watch events),
per 10-second window and overall, plus how long the backlog takes to drain once the load stops. Run Pods
stay Pending (no kubelet plays their node).

    python bench/throughput.py [--small] [--rate 50] [--duration 60]

Target (issue 7): >= 50 runs/s created -> Pod created, sustained for 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from benchkit.cluster import NOWHERE, BenchCluster, wait_for
from benchkit.controller_process import CONTROLLER_DESCRIPTION, ControllerProcess
from benchkit.diagnostics import LoadDiagnostics
from benchkit.figures import print_figures, print_header, print_value
from benchkit.load import LaunchRecord, generate_runs, watch_run_pods
from benchkit.objects import trivial_setup
from benchkit.profiling import PySpyRecord, print_top_frames

WINDOW = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 10 s instead of 60 s")
    parser.add_argument("--rate", type=float, default=50.0, help="runs offered per second (default 50)")
    parser.add_argument("--duration", type=float, help="seconds of load (default 60; 10 with --small)")
    parser.add_argument("--profile", type=Path, help="record a py-spy profile of the controller into this file")
    parser.add_argument(
        "--workers", type=int, help="the controller's KUBEASSET_WORKERS (the chart's controller.workers; default 8)"
    )
    args = parser.parse_args()
    duration = args.duration or (10.0 if args.small else 60.0)

    with BenchCluster(kubelet=True) as cluster:
        api = cluster.api_client
        assert api is not None
        controller = ControllerProcess(
            cluster.kubeconfig,
            cluster.folder / "controller.log",
            {"KUBEASSET_WORKERS": str(args.workers)} if args.workers else None,
        ).start()
        try:
            controller.wait_until_leading()
            namespace = cluster.new_namespace("throughput")
            trivial_setup(api, namespace, cluster.folder / "code", run_node=NOWHERE)
            record = LaunchRecord()
            watch = watch_run_pods(api, namespace, record)
            print_header(
                "throughput: AssetRuns created -> Pods created per second",
                {
                    "load": f"{args.rate:g} runs/s offered for {duration:g} s (open loop, 6 client threads)",
                    "controller": CONTROLLER_DESCRIPTION
                    + (f", but KUBEASSET_WORKERS={args.workers}" if args.workers else ""),
                },
            )
            cpu_before = controller.cpu_seconds()
            diagnostics = LoadDiagnostics(controller.pid, controller.metrics_port, cluster.plane.pids).start()
            profile = PySpyRecord(controller.pid, args.profile) if args.profile else contextlib.nullcontext()
            with profile:
                took = generate_runs(api, namespace, "trivial", args.rate, duration, record, threads=6)
            load_ended = max(record.created.values())
            expected = len(record.created)
            try:
                wait_for(lambda: len(record.pod_added) >= expected, "every run's Pod", 300)
            except RuntimeError as error:
                print(f"   {error}: {len(record.pod_added)} of {expected}")
            watch.stop()
            diagnostics.stop()
            cpu = controller.cpu_seconds() - cpu_before
            first = min(record.created.values())
            pods = sorted(record.pod_added.values())
            windows = []
            for start in range(int(duration // WINDOW)):
                low, high = first + start * WINDOW, first + (start + 1) * WINDOW
                windows.append(sum(1 for moment in pods if low <= moment < high) / WINDOW)
            print_value("runs offered per second (achieved by the client)", expected / took, "runs/s")
            print("   Pods created per second, by 10-s window of the load: " + ", ".join(f"{r:.1f}" for r in windows))
            during = sum(1 for moment in pods if moment <= load_ended) / (load_ended - first)
            print_value("Pods created per second while the load ran", during, "runs/s", 50.0, higher_is_better=True)
            if pods:
                print_value("backlog drained after the load stopped", pods[-1] - load_ended, "s")
                print_value("overall: runs / (last Pod - first create)", len(pods) / (pods[-1] - first), "runs/s")
            print_figures("created -> Pod ADDED", record.latencies())
            print_value("controller CPU per run", 1000 * cpu / max(expected, 1), "ms")
            diagnostics.report(expected)
            if args.profile:
                print_top_frames(args.profile)
            if record.failures or watch.errors:
                print(f"   create failures {record.failures[:5]} watch errors {watch.errors[:5]}")
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
