"""``python -m kubeasset.controller [--namespace NS ...|--all-namespaces] [--kubeconfig FILE]
[--no-leader-elect] [--leader-election-namespace NS] [--leader-election-id NAME]``: the controller in the
foreground, as the operator image runs it (``kubeasset controller run`` is the same)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kubeasset.controller.environment import apply_environment
from kubeasset.controller.leader import DEFAULT_LEASE_NAME
from kubeasset.controller.operator import configure_logging, main_options, run
from kubeasset.errors import KubeassetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubeasset.controller", description=__doc__)
    parser.add_argument("-n", "--namespace", action="append", default=[], help="a namespace to watch (repeatable)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: in-cluster, then KUBECONFIG)")
    parser.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="act only while holding the leader-election Lease, so replicas never both act (default: on)",
    )
    parser.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: the controller Pod's own namespace, else 'default')",
    )
    parser.add_argument(
        "--leader-election-id", default=DEFAULT_LEASE_NAME, help="name of the Lease (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        options = main_options(
            args.namespace,
            args.all_namespaces,
            args.kubeconfig,
            leader_election=args.leader_elect,
            leader_election_namespace=args.leader_election_namespace,
            lease_name=args.leader_election_id,
        )
        options = apply_environment(options, os.environ)
        configure_logging(options.log_level, json_format=options.json_logs)
        run(options)
    except KubeassetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
