"""Schedule tick lateness: N AssetSchedules (1,000 by default) all due at the same minute; for each, the
arrival of its run's ADDED watch event minus the scheduled instant (wall clock of this machine, which the
controller shares). Run Pods stay Pending (no kubelet plays their node); the time to their Pods is shown too.

    python bench/schedule_lateness.py [--small] [--schedules 1000] [--profile FILE]

``--profile FILE`` records a py-spy profile of the controller from 0.5 s before the instant until every run
exists (the ticks' burst) and prints its top frames.

Target (issue 7): p99 <= 1 s after the scheduled instant.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from benchkit.cluster import NOWHERE, controlled_cluster, wait_for
from benchkit.controller_process import CONTROLLER_DESCRIPTION
from benchkit.diagnostics import CpuMeter, LoadDiagnostics
from benchkit.figures import Target, print_figures, print_header
from benchkit.load import watch_runs_and_pods
from benchkit.objects import GROUP, VERSION, asset_schedule, create, trivial_setup
from benchkit.profiling import PySpyRecord, print_top_frames
from benchkit.watch import Seen
from kubernetes import client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 50 schedules")
    parser.add_argument("--schedules", type=int, help="schedules due at the same minute (default 1000)")
    parser.add_argument("--profile", type=Path, help="record a py-spy profile of the controller during the ticks")
    args = parser.parse_args()
    total = args.schedules or (50 if args.small else 1000)

    with controlled_cluster("ticks") as bench:
        api, namespace, controller = bench.api, bench.namespace, bench.controller
        trivial_setup(api, namespace, bench.cluster.folder / "code", run_node=NOWHERE)
        # The instant: a minute boundary far enough ahead for every schedule to be created and planned.
        margin = 10 + total * 0.1
        instant = math.ceil((time.time() + margin) / 60) * 60
        due = datetime.fromtimestamp(instant, UTC)
        cron = f"{due.minute} {due.hour} * * *"
        print(f"   creating {total} schedules, cron {cron!r} (due {due.isoformat()})")

        run_added: dict[str, float] = {}
        pod_added: dict[str, float] = {}
        lock = threading.Lock()

        def on_run(seen: Seen) -> None:
            if seen.type == "ADDED":
                with lock:
                    run_added.setdefault(seen.obj["metadata"]["name"], seen.wall)

        def on_pod(seen: Seen) -> None:
            if seen.type == "ADDED":
                with lock:
                    pod_added.setdefault(seen.obj["metadata"]["name"], seen.wall)

        custom = client.CustomObjectsApi(api)
        runs_watch, pods_watch = watch_runs_and_pods(api, namespace, on_run, on_pod)
        created_at = time.time()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: create(api, namespace, asset_schedule(f"s{i:05d}", "trivial", cron)), range(total)))
        created_in = time.time() - created_at

        def planned() -> int:
            listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "assetschedules")
            return sum(1 for item in listed["items"] if (item.get("status") or {}).get("nextScheduleTime"))

        try:
            wait_for(lambda: planned() >= total, "every schedule planned", max(5.0, instant - time.time() - 2), poll=2)
            spare = instant - time.time()
        except RuntimeError:
            spare = instant - time.time()
            print(f"   warning: not every schedule was planned 2 s before the instant ({planned()}/{total})")
        print_header(
            f"schedule tick lateness: {total} schedules due at {due.isoformat()}",
            {
                "setup": f"{total} schedules created in {created_in:.1f} s; "
                f"all planned {spare:.1f} s before the instant",
                "controller": CONTROLLER_DESCRIPTION,
            },
        )
        diagnostics = LoadDiagnostics(controller.pid, controller.metrics_port, bench.cluster.plane.pids).start()
        recording = PySpyRecord(controller.pid, args.profile) if args.profile else contextlib.nullcontext()
        # CPU of each process from just before the instant until every run exists: which of them the burst
        # of creations waits for (a process using about a core per second of the burst is saturated).
        burst = CpuMeter(diagnostics.meter.pids)
        time.sleep(max(instant - 0.5 - time.time(), 0.0))
        burst.start()
        burst_started = time.time()
        with recording:
            try:
                wait_for(
                    lambda: len(run_added) >= total, "every schedule's run", (instant - time.time()) + 120, poll=0.1
                )
            except RuntimeError as error:
                print(f"   {error}: {len(run_added)} runs of {total}")
        burst.stop()
        burst_seconds = time.time() - burst_started
        try:
            wait_for(
                lambda: len(pod_added) >= total,
                "every schedule's run's Pod",
                (instant - time.time()) + 120 + total * 0.5,
                poll=0.5,
            )
        except RuntimeError as error:
            print(f"   {error}: {len(run_added)} runs, {len(pod_added)} Pods of {total}")
        runs_watch.stop()
        pods_watch.stop()
        diagnostics.stop()
        print_figures(
            "scheduled instant -> run ADDED",
            [added - instant for added in run_added.values()],
            targets=(Target("p99", 1.0),),
        )
        print_figures("scheduled instant -> run's Pod ADDED", [added - instant for added in pod_added.values()])
        shown = ", ".join(f"{name} {seconds:.2f}" for name, seconds in burst.used.items())
        window = f"0.5 s before the instant -> every run ADDED, {burst_seconds:.1f} s"
        print(f"   CPU seconds during the burst ({window}): {shown}")
        diagnostics.report(total)
        if args.profile:
            print_top_frames(args.profile)
        if runs_watch.errors or pods_watch.errors:
            print(f"   watch errors {runs_watch.errors[:3]} {pods_watch.errors[:3]}")


if __name__ == "__main__":
    main()
