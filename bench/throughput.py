"""Throughput: AssetRuns created -> Pods created per second, sustained for 60 s with one controller. The
client offers 60 runs/s (open loop; more than the target, so the figure is the controller's rate, not the
client's) and the figure is the rate at which their Pods appear (ADDED watch events), per 10-second window
and overall, plus how long the backlog takes to drain once the load stops. Run Pods stay Pending (no
kubelet plays their node).

    python bench/throughput.py [--small] [--rate 60] [--duration 60]

Target (issue 7): >= 50 runs/s created -> Pod created, sustained for 60 s.
"""

from __future__ import annotations

import argparse

from benchkit.cluster import NOWHERE, controlled_cluster
from benchkit.controller_process import CONTROLLER_DESCRIPTION
from benchkit.figures import print_figures, print_header, print_value
from benchkit.load import LaunchRecord, add_load_options, load_duration, measured_load
from benchkit.objects import trivial_setup

WINDOW = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser, rate=60.0, duration=60.0, small=10.0, verb="offered")
    parser.add_argument(
        "--workers", type=int, help="the controller's KUBEASSET_WORKERS (the chart's controller.workers; default 8)"
    )
    args = parser.parse_args()
    duration = load_duration(args)

    extra_env = {"KUBEASSET_WORKERS": str(args.workers)} if args.workers else None
    with controlled_cluster("throughput", extra_env) as bench:
        trivial_setup(bench.api, bench.namespace, bench.cluster.folder / "code", run_node=NOWHERE)
        print_header(
            "throughput: AssetRuns created -> Pods created per second",
            {
                "load": f"{args.rate:g} runs/s offered for {duration:g} s (open loop, 6 client threads)",
                "controller": CONTROLLER_DESCRIPTION
                + (f", but KUBEASSET_WORKERS={args.workers}" if args.workers else ""),
            },
        )
        record = LaunchRecord()
        load = measured_load(bench, record, args.rate, duration, threads=6, profile=args.profile, pods_timeout=300)
        load_ended = max(record.created.values())
        first = min(record.created.values())
        pods = sorted(record.pod_added.values())
        windows = []
        for start in range(int(duration // WINDOW)):
            low, high = first + start * WINDOW, first + (start + 1) * WINDOW
            windows.append(sum(1 for moment in pods if low <= moment < high) / WINDOW)
        print_value("runs offered per second (achieved by the client)", load.created / load.took, "runs/s")
        print("   Pods created per second, by 10-s window of the load: " + ", ".join(f"{r:.1f}" for r in windows))
        during = sum(1 for moment in pods if moment <= load_ended) / (load_ended - first)
        print_value("Pods created per second while the load ran", during, "runs/s", 50.0, higher_is_better=True)
        if pods:
            print_value("backlog drained after the load stopped", pods[-1] - load_ended, "s")
            print_value("overall: runs / (last Pod - first create)", len(pods) / (pods[-1] - first), "runs/s")
        print_figures("created -> Pod ADDED", record.latencies())
        load.report(record)


if __name__ == "__main__":
    main()
