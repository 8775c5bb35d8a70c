"""End to end: a schedule's tick -> its trivial asset Materialized in the run's status, with the local
kubelet starting the run's Pod (a local Python process) in between. One schedule ticks every minute; each
tick is one sample, so N samples take N minutes. The steps in between are shown too.

    python bench/end_to_end.py [--small] [--ticks 5]

Target (issue 7): <= 2 s from the scheduled instant to Materialized.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from datetime import datetime

from benchkit.cluster import controlled_cluster, wait_for
from benchkit.controller_process import CONTROLLER_DESCRIPTION
from benchkit.figures import Target, print_figures, print_header
from benchkit.load import watch_runs_and_pods
from benchkit.objects import GROUP, VERSION, asset_schedule, create, trivial_setup
from benchkit.watch import Seen
from kubernetes import client

STEPS = (
    "run ADDED",
    "Pod ADDED",
    "Pod Running",
    "asset started (runner's clock)",
    "asset ended (runner's clock)",
    "Materialized",
    "run Succeeded",
)


def _timestamp(text: str | None) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 1 tick")
    parser.add_argument("--ticks", type=int, help="ticks measured, one a minute (default 5)")
    args = parser.parse_args()
    ticks = args.ticks or (1 if args.small else 5)

    with controlled_cluster("e2e") as bench:
        api, namespace = bench.api, bench.namespace
        trivial_setup(api, namespace, bench.cluster.folder / "code")
        instants: dict[str, float] = {}
        steps: dict[str, dict[str, float]] = {}
        lock = threading.Lock()

        def mark(run: str, step: str, wall: float) -> None:
            with lock:
                steps.setdefault(run, {}).setdefault(step, wall)

        def on_run(seen: Seen) -> None:
            name = seen.obj["metadata"]["name"]
            scheduled = ((seen.obj.get("spec") or {}).get("trigger") or {}).get("scheduledTime")
            if scheduled:
                instants[name] = _timestamp(scheduled)
            mark(name, "run ADDED", seen.wall)
            status = seen.obj.get("status") or {}
            for entry in status.get("assets") or ():
                if entry.get("state") == "Materialized":
                    mark(name, "Materialized", seen.wall)
                    # The runner's own clock: when the asset started and ended inside the Pod.
                    mark(name, "asset started (runner's clock)", _timestamp(entry.get("startTime")))
                    mark(name, "asset ended (runner's clock)", _timestamp(entry.get("endTime")))
            if status.get("phase") == "Succeeded":
                mark(name, "run Succeeded", seen.wall)

        def on_pod(seen: Seen) -> None:
            owners = [ref["name"] for ref in seen.obj["metadata"].get("ownerReferences") or ()]
            if not owners:
                return
            mark(owners[0], "Pod ADDED", seen.wall)
            if (seen.obj.get("status") or {}).get("phase") in ("Running", "Succeeded"):
                mark(owners[0], "Pod Running", seen.wall)

        custom = client.CustomObjectsApi(api)
        runs_watch, pods_watch = watch_runs_and_pods(api, namespace, on_run, on_pod)
        print_header(
            f"end to end: tick -> trivial asset Materialized ({ticks} ticks, one a minute)",
            {
                "pipeline": "AssetSchedule '* * * * *' -> AssetRun -> Pod on the local kubelet (local Python) -> "
                "runner -> status",
                "controller": CONTROLLER_DESCRIPTION,
            },
        )
        create(api, namespace, asset_schedule("every-minute", "trivial", "* * * * *"))

        def done() -> int:
            return sum(1 for marks in steps.values() if "run Succeeded" in marks or "Materialized" in marks)

        try:
            wait_for(lambda: done() >= ticks, f"{ticks} materialized runs", 60 * ticks + 90, poll=0.5)
            time.sleep(2)  # the last run's Succeeded
        except RuntimeError as error:
            print(f"   {error}: {done()} done")
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "assetschedules", "every-minute")
        runs_watch.stop()
        pods_watch.stop()
        for step in STEPS:
            values = [
                marks[step] - instants[run]
                for run, marks in steps.items()
                if step in marks and run in instants and not math.isnan(marks[step])
            ]
            targets = (Target("max", 2.0),) if step == "Materialized" else ()
            print_figures(f"scheduled instant -> {step}", values, targets=targets)


if __name__ == "__main__":
    main()
