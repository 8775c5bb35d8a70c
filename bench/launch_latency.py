"""Launch latency: AssetRun created -> its Pod created, at a steady 20 runs/s, measured from the client's
create call to the Pod's ADDED watch event (client-side monotonic clock). No kubelet plays the run Pods'
node, so they stay Pending: only the controller's launch path is measured.

    python bench/launch_latency.py [--small] [--rate 20] [--duration 30]

Target (issue 7): p50 <= 50 ms, p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from benchkit.cluster import NOWHERE, BenchCluster, wait_for
from benchkit.controller_process import CONTROLLER_DESCRIPTION, ControllerProcess
from benchkit.diagnostics import LoadDiagnostics
from benchkit.figures import Target, print_figures, print_header, print_value
from benchkit.load import LaunchRecord, generate_runs, watch_run_pods
from benchkit.objects import trivial_setup
from benchkit.profiling import PySpyRecord, print_top_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 3 s instead of 30 s")
    parser.add_argument("--rate", type=float, default=20.0, help="runs created per second (default 20)")
    parser.add_argument("--duration", type=float, help="seconds of load (default 30; 3 with --small)")
    parser.add_argument("--profile", type=Path, help="record a py-spy profile of the controller into this file")
    args = parser.parse_args()
    duration = args.duration or (3.0 if args.small else 30.0)

    with BenchCluster(kubelet=True) as cluster:
        api = cluster.api_client
        assert api is not None
        controller = ControllerProcess(cluster.kubeconfig, cluster.folder / "controller.log").start()
        try:
            controller.wait_until_leading()
            namespace = cluster.new_namespace("launch")
            trivial_setup(api, namespace, cluster.folder / "code", run_node=NOWHERE)
            record = LaunchRecord()
            watch = watch_run_pods(api, namespace, record)
            cpu_before = controller.cpu_seconds()
            print_header(
                "launch latency: AssetRun created -> Pod ADDED",
                {
                    "load": f"{args.rate:g} runs/s for {duration:g} s (open loop, 4 client threads)",
                    "controller": CONTROLLER_DESCRIPTION,
                },
            )
            diagnostics = LoadDiagnostics(controller.pid, controller.metrics_port, cluster.plane.pids).start()
            profile = PySpyRecord(controller.pid, args.profile) if args.profile else contextlib.nullcontext()
            with profile:
                took = generate_runs(api, namespace, "trivial", args.rate, duration, record)
            expected = len(record.created)
            try:
                wait_for(lambda: len(record.pod_added) >= expected, "every run's Pod", 30)
            except RuntimeError as error:
                print(f"   {error}: {len(record.pod_added)} of {expected} ({record.pod_events} Pod events)")
            watch.stop()
            diagnostics.stop()
            cpu = controller.cpu_seconds() - cpu_before
            print_figures(
                "created -> Pod ADDED", record.latencies(), targets=(Target("p50", 0.050), Target("p99", 0.250))
            )
            print_figures("client lag behind plan (not part of the latency)", record.generator_lag)
            print_value("runs created per second (achieved)", expected / took, "runs/s")
            print_value("controller CPU per run", 1000 * cpu / max(expected, 1), "ms")
            diagnostics.report(expected)
            if args.profile:
                print_top_frames(args.profile)
            if record.failures or watch.errors:
                print(f"   create failures {record.failures[:5]} watch errors {watch.errors[:5]}")
        finally:
            controller.stop()
            time.sleep(0)


if __name__ == "__main__":
    main()
