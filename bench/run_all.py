"""Run every benchmark in turn (each starts and stops its own control plane), printing their figures.

python bench/run_all.py [--small] [--only launch_latency throughput ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: Pure first, then the cluster benchmarks, the longest (memory) last.
BENCHMARKS = (
    "selection",
    "launch_latency",
    "throughput",
    "schedule_lateness",
    "end_to_end",
    "discovery",
    "memory",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke runs (a few minutes in all)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args()
    failed = []
    for name in args.only or BENCHMARKS:
        argv = [sys.executable, str(HERE / f"{name}.py"), *(["--small"] if args.small else [])]
        print(f"\n$ {' '.join(argv[1:])}", flush=True)
        if subprocess.run(argv, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
