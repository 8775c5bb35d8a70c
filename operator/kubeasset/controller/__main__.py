"""``python -m kubeasset.controller [--namespace NS ...|--all-namespaces] [--kubeconfig FILE]``: the
controller in the foreground, as the operator image runs it (``kubeasset controller run`` is the same)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kubeasset.controller.operator import configure_logging, main_options, run
from kubeasset.errors import KubeassetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubeasset.controller", description=__doc__)
    parser.add_argument("-n", "--namespace", action="append", default=[], help="a namespace to watch (repeatable)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: in-cluster, then KUBECONFIG)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        run(main_options(args.namespace, args.all_namespaces, args.kubeconfig))
    except KubeassetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
