"""``kubeasset cluster ...``: the local control plane (kube-apiserver, etcd, kube-controller-manager)."""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from pathlib import Path

import click

from kubeasset.cluster.binaries import ensure_binaries
from kubeasset.cluster.control_plane import ControlPlane


@click.group()
def cluster() -> None:
    """Provide and run a local Kubernetes control plane for tests and demos."""


@cluster.command()
@click.option(
    "--assets-dir",
    is_flag=True,
    help="Print only the folder holding the three programs, e.g. "
    "`export KUBEBUILDER_ASSETS=$(kubeasset cluster binaries --assets-dir)`.",
)
def binaries(assets_dir: bool) -> None:
    """Find or build kube-apiserver, kube-controller-manager and etcd, and print their paths.

    Uses $KUBEBUILDER_ASSETS when set; otherwise builds them once with Go from the Go module proxy into
    $KUBEASSET_CACHE_DIR (default ~/.cache/kubeasset). Progress goes to stderr, paths to stdout.
    """
    found = ensure_binaries(progress=lambda message: click.echo(message, err=True))
    if assets_dir:
        click.echo(str(found.directory))
        return
    click.echo(f"kube-apiserver           {found.kube_apiserver}  ({found.kubernetes_version})")
    click.echo(f"kube-controller-manager  {found.kube_controller_manager}  ({found.kubernetes_version})")
    click.echo(f"etcd                     {found.etcd}  ({found.etcd_version})")
    click.echo(f"source                   {found.source}")


@cluster.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for certificates, etcd data, logs and admin.kubeconfig (default: a new temporary folder, "
    "removed on exit).",
)
def up(folder: Path | None) -> None:
    """Run etcd, kube-apiserver and kube-controller-manager until Ctrl-C.

    Prints the admin kubeconfig's path first, so `kubectl --kubeconfig PATH ...` works from another terminal.
    """
    binaries_found = ensure_binaries(progress=lambda message: click.echo(message, err=True))
    with contextlib.ExitStack() as cleanup:
        if folder is None:
            folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="kubeasset-cluster-")))
        plane = cleanup.enter_context(
            ControlPlane(binaries_found, folder, progress=lambda message: click.echo(message, err=True))
        )
        click.echo(f"export KUBECONFIG={plane.admin.kubeconfig}")
        click.echo(f"logs in {plane.log_dir}; Ctrl-C stops the cluster", err=True)
        stopped = threading.Event()
        # SIGTERM (from a supervisor or `kill`) stops the cluster as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stopped.set())
        try:
            while not stopped.wait(timeout=1.0):
                plane.raise_if_exited()
        except KeyboardInterrupt:
            pass  # Ctrl-C is the normal way to stop: fall through to the clean shutdown
        click.echo("stopping the cluster", err=True)
