"""Launch latency: AssetRun created -> its Pod created, at a steady 20 runs/s, measured from the client's
create call to the Pod's ADDED watch event (client-side monotonic clock). No kubelet plays the run Pods'
node, so they stay Pending: only the controller's launch path is measured.

    python bench/launch_latency.py [--small] [--rate 20] [--duration 30]

Target (issue 7): p50 <= 50 ms, p99 <= 250 ms.
"""

from __future__ import annotations

import argparse

from benchkit.cluster import NOWHERE, controlled_cluster
from benchkit.controller_process import CONTROLLER_DESCRIPTION
from benchkit.figures import Target, print_figures, print_header, print_value
from benchkit.load import LaunchRecord, add_load_options, load_duration, measured_load
from benchkit.objects import trivial_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser, rate=20.0, duration=30.0, small=3.0, verb="created")
    args = parser.parse_args()
    duration = load_duration(args)

    with controlled_cluster("launch") as bench:
        trivial_setup(bench.api, bench.namespace, bench.cluster.folder / "code", run_node=NOWHERE)
        print_header(
            "launch latency: AssetRun created -> Pod ADDED",
            {
                "load": f"{args.rate:g} runs/s for {duration:g} s (open loop, 4 client threads)",
                "controller": CONTROLLER_DESCRIPTION,
            },
        )
        record = LaunchRecord()
        load = measured_load(bench, record, args.rate, duration, profile=args.profile)
        print_figures("created -> Pod ADDED", record.latencies(), targets=(Target("p50", 0.050), Target("p99", 0.250)))
        print_figures("client lag behind plan (not part of the latency)", record.generator_lag)
        print_value("runs created per second (achieved)", load.created / load.took, "runs/s")
        load.report(record)


if __name__ == "__main__":
    main()
