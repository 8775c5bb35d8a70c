"""Discovery of a large code location: a CodeLocation whose module defines 10,000 assets (100 chains of 100,
ten groups) is created; the figures are the time to its Ready condition and to 10,000 Asset objects in the
catalog, from the client's create call. The discovery Pod runs on the local kubelet.

    python bench/discovery.py [--small] [--assets 10000]

Target (issue 7): Ready and 10,000 Asset objects <= 60 s.
"""

from __future__ import annotations

import argparse
import time

from benchkit.cluster import controlled_cluster, wait_for
from benchkit.controller_process import CONTROLLER_DESCRIPTION
from benchkit.figures import print_header, print_value
from benchkit.objects import code_location, count, create, get, ready, wide_code, write_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 500 assets")
    parser.add_argument("--assets", type=int, help="assets in the code location (default 10000)")
    args = parser.parse_args()
    total = args.assets or (500 if args.small else 10_000)

    with controlled_cluster("discovery") as bench:
        api, namespace, controller = bench.api, bench.namespace, bench.controller
        folder = write_code(bench.cluster.folder / "code", "bench_wide", wide_code(total))
        print_header(
            f"discovery of {total} assets",
            {"controller": CONTROLLER_DESCRIPTION},
        )
        cpu_before = controller.cpu_seconds()
        started = time.monotonic()
        create(api, namespace, code_location("wide", "bench_wide", folder))
        marks: dict[str, float] = {}

        def progressed() -> bool:
            if "ready" not in marks and ready(get(api, namespace, "codelocations", "wide")):
                marks["ready"] = time.monotonic() - started
            if "catalog" not in marks and count(api, namespace, "assets") >= total:
                marks["catalog"] = time.monotonic() - started
            return len(marks) == 2

        try:
            wait_for(progressed, "Ready and the whole catalog", 600, poll=0.5)
        except RuntimeError as error:
            print(f"   {error}: {marks}, {count(api, namespace, 'assets')} Assets")
        if "ready" in marks:
            print_value("create -> CodeLocation Ready", marks["ready"], "s", 60.0)
        if "catalog" in marks:
            print_value(f"create -> {total} Asset objects", marks["catalog"], "s", 60.0)
        print_value("controller CPU meanwhile", controller.cpu_seconds() - cpu_before, "s")
        print_value("controller RSS after discovery", controller.rss_bytes() / 2**20, "MiB")


if __name__ == "__main__":
    main()
