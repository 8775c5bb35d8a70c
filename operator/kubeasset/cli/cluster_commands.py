"""``kubeasset cluster ...``: the local control plane (kube-apiserver, etcd, kube-controller-manager) and
the local kubelet that runs its Pods as processes."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from kubeasset.cluster.binaries import ControlPlaneBinaries, ensure_binaries
from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.data_dir import ClusterDataDir, default_data_dir
from kubeasset.cluster.helm_binary import ensure_helm
from kubeasset.cluster.kubelet import DEFAULT_NODE_NAME, LocalKubelet
from kubeasset.cluster.kubelet.node import LEASE_RENEW_SECONDS

#: Signals that stop a running cluster as cleanly as Ctrl-C: a supervisor's or `kubeasset cluster stop`'s
#: SIGTERM, and SIGHUP when the terminal that started it closes.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _progress(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def stop_signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for SIGINT, SIGTERM and SIGHUP inside the block; the previous handlers afterwards (a
    command run in-process, as the tests do, leaves the caller's signals as they were)."""
    previous = {stop_signal: signal.getsignal(stop_signal) for stop_signal in _STOP_SIGNALS}
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, handler)
    try:
        yield
    finally:
        for stop_signal, earlier in previous.items():
            signal.signal(stop_signal, earlier)


_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Folder for etcd's data, certificates, logs and pid files (default: {default_data_dir()}).",
)


@click.group()
def cluster() -> None:
    """Provide and run a local Kubernetes control plane for tests and demos."""


@cluster.command()
@click.option(
    "--assets-dir",
    is_flag=True,
    help="Print only the folder holding the programs, e.g. "
    "`export KUBEBUILDER_ASSETS=$(kubeasset cluster binaries --assets-dir)`.",
)
def binaries(assets_dir: bool) -> None:
    """Find or build kube-apiserver, kube-controller-manager, etcd and kubectl, and print their paths.

    Uses $KUBEBUILDER_ASSETS when set (kubectl from PATH if that folder has none); otherwise builds them
    once with Go from the Go module proxy into $KUBEASSET_CACHE_DIR (default ~/.cache/kubeasset).
    Progress goes to stderr, paths to stdout.
    """
    found = ensure_binaries(progress=_progress)
    if assets_dir:
        click.echo(str(found.directory))
        return
    click.echo(f"kube-apiserver           {found.kube_apiserver}  ({found.kubernetes_version})")
    click.echo(f"kube-controller-manager  {found.kube_controller_manager}  ({found.kubernetes_version})")
    click.echo(f"etcd                     {found.etcd}  ({found.etcd_version})")
    click.echo(f"kubectl                  {found.kubectl or 'none found'}")
    click.echo(f"source                   {found.source}")


@cluster.command()
def helm() -> None:
    """Find or build helm (for the chart in helm/kubeasset) and print its path.

    Uses $HELM when set; otherwise builds helm once with Go from the Go module proxy into
    $KUBEASSET_CACHE_DIR (default ~/.cache/kubeasset). Progress goes to stderr, the path to stdout:
    `$(kubeasset cluster helm) template helm/kubeasset`.
    """
    click.echo(str(ensure_helm(progress=_progress).path))


class _StopRequested(Exception):
    """A stop signal arrived: unwind (stopping the programs in order) and exit 0."""


def _request_stop(signum: int, _frame: FrameType | None) -> None:
    # A second signal while the programs stop must not interrupt the cleanup half-way.
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise _StopRequested(signal.Signals(signum).name)


@cluster.command()
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the admin kubeconfig (default: DATA_DIR/admin.kubeconfig).",
)
@_data_dir_option
def start(kubeconfig_path: Path | None, data_dir: Path | None) -> None:
    """Run etcd, kube-apiserver and kube-controller-manager until Ctrl-C or SIGTERM.

    Prints how to reach the cluster once it is ready (the default namespace and its ServiceAccount exist),
    serves until stopped, then stops every program it started. A later start with the same --data-dir
    keeps etcd's data (objects survive) and ends what a crashed start left running.
    """
    folder = ClusterDataDir(data_dir or default_data_dir())
    found = ensure_binaries(progress=_progress)
    try:
        with stop_signals(_request_stop), folder.claim() as ended:
            for process in ended:
                _progress(f"ended {process.name} (pid {process.pid}), left running by an earlier start")
            _serve(found, folder, kubeconfig_path)
    except _StopRequested as stop:
        _progress(f"the cluster is stopped ({stop})")


def _serve(found: ControlPlaneBinaries, folder: ClusterDataDir, kubeconfig_path: Path | None) -> None:
    with ControlPlane(found, folder.folder, progress=_progress) as plane:
        folder.record_processes(plane.pids)
        kubeconfig = plane.admin.kubeconfig
        if kubeconfig_path is not None:
            kubeconfig = kubeconfig_path.expanduser().resolve()
            kubeconfig.parent.mkdir(parents=True, exist_ok=True)
            kubeconfig.touch(mode=0o600, exist_ok=True)  # it holds the admin's private key
            shutil.copyfile(plane.admin.kubeconfig, kubeconfig)
        kubectl = str(found.kubectl) if found.kubectl else "kubectl"
        click.echo(
            "\n".join(
                [
                    f"Kubernetes {found.kubernetes_version} is ready at {plane.admin.server}",
                    f"export KUBECONFIG={kubeconfig}",
                    f"  kubectl (same version): {kubectl}",
                    f"  try:  {kubectl} --kubeconfig {kubeconfig} get namespaces",
                    f"        {kubectl} --kubeconfig {kubeconfig} apply -f crds/",
                    f"  data: {folder.folder}   logs: {plane.log_dir}",
                    f"Ctrl-C, or `kubeasset cluster stop --data-dir {folder.folder}`, stops it.",
                ]
            )
        )
        try:
            while True:
                plane.raise_if_exited()  # a program that dies on its own ends the command with its log
                time.sleep(0.5)  # a stop signal interrupts it: the handler raises _StopRequested
        finally:
            _progress("stopping the cluster")


@cluster.command()
@_data_dir_option
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the stop.")
def stop(data_dir: Path | None, timeout: float) -> None:
    """Stop the cluster that `kubeasset cluster start` runs from --data-dir (or end its leftovers)."""
    click.echo(ClusterDataDir(data_dir or default_data_dir()).stop(timeout=timeout))


@cluster.command()
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Credentials of the node: the admin kubeconfig `kubeasset cluster start --kubeconfig` writes works.",
)
@click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the kubelet's logs, certificates, volumes and containers (created if missing).",
)
@click.option("--node-name", default=DEFAULT_NODE_NAME, show_default=True, help="The Node this kubelet plays.")
@click.option(
    "--shutdown-grace-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="On stop, how long each container gets between SIGTERM and SIGKILL.",
)
@click.option(
    "--heartbeat-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=LEASE_RENEW_SECONDS,
    show_default=True,
    help="How often the node's Lease is renewed.",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Level of the kubelet's log on stderr.",
)
def kubelet(
    kubeconfig_path: Path,
    folder: Path,
    node_name: str,
    shutdown_grace_seconds: float,
    heartbeat_seconds: float,
    log_level: str,
) -> None:
    """Run the local kubelet in the foreground until Ctrl-C or SIGTERM.

    It registers the Node --node-name and runs each Pod scheduled to it as a process of this Python (the
    image is not pulled: put the code the image would hold on PYTHONPATH). Only the first container runs.
    Pod volumes and the service-account token are mounted in private mount namespaces, which need root.
    Prints "kubelet NODE ready; ..." once it serves; on stop it ends its containers and exits 0.
    """
    logging.basicConfig(
        stream=sys.stderr, level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    local = LocalKubelet(
        kubeconfig_path,
        folder,
        node_name,
        shutdown_grace_seconds=shutdown_grace_seconds,
        heartbeat_seconds=heartbeat_seconds,
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        # Only flags the stop: the main thread stops the containers, outside the signal handler.
        _progress(f"{signal.Signals(signum).name}: stopping the kubelet")
        local.stop_requested.set()

    with stop_signals(request_stop), local:  # a start that fails (KubeletError) has stopped what it began
        click.echo(f"kubelet {node_name} ready; logs on https://127.0.0.1:{local.port}")
        local.stop_requested.wait()
    _progress(f"the kubelet {node_name} is stopped")
