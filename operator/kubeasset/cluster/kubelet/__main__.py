"""Command line of the local kubelet, for running it beside a control plane in its own process:

    python -m kubeasset.cluster.kubelet --kubeconfig admin.kubeconfig --dir /tmp/kubelet

It serves until SIGINT or SIGTERM, then stops its containers and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from kubeasset.cluster.kubelet.kubelet import DEFAULT_NODE_NAME, LocalKubelet
from kubeasset.errors import KubeassetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubeasset.cluster.kubelet", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, type=Path, help="credentials of the node (admin works)")
    parser.add_argument("--dir", required=True, type=Path, help="folder for logs, certificates and containers")
    parser.add_argument("--node-name", default=DEFAULT_NODE_NAME)
    parser.add_argument("--shutdown-grace-seconds", type=float, default=5.0)
    parser.add_argument("--heartbeat-seconds", type=float, default=10.0, help="how often the node Lease is renewed")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    kubelet = LocalKubelet(
        args.kubeconfig,
        args.dir,
        args.node_name,
        shutdown_grace_seconds=args.shutdown_grace_seconds,
        heartbeat_seconds=args.heartbeat_seconds,
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("kubeasset.kubelet").info("signal %d: stopping", signum)
        kubelet.stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        kubelet.start()
    except KubeassetError as error:
        print(f"kubeasset kubelet: {error}", file=sys.stderr)
        return 1
    print(f"kubelet {args.node_name} ready; logs on https://127.0.0.1:{kubelet.port}", flush=True)
    kubelet.stop_requested.wait()
    kubelet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
