"""``kubeasset controller run``: the controller in the foreground, against the cluster of a kubeconfig (or the
Pod's service account in-cluster)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def controller() -> None:
    """Run the kubeasset controller (the kopf operator)."""


@controller.command("run")
@click.option("-n", "--namespace", "namespaces", multiple=True, help="A namespace to watch (repeatable).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Watch every namespace (the default without -n).")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig file; default: in-cluster credentials, else $KUBECONFIG or ~/.kube/config.",
)
def run_command(namespaces: tuple[str, ...], all_namespaces: bool, kubeconfig: Path | None) -> None:
    """Reconcile CodeLocations, the Asset catalog and AssetJobs until Ctrl-C.

    Example: kubeasset controller run -n shop --kubeconfig ~/.kube/kubeasset
    """
    # Imported here: kopf and the kubernetes client are the `controller` extra, which the rest of the CLI
    # (materialize, describe, select) does not need.
    from kubeasset.controller.operator import configure_logging, main_options, run

    configure_logging()
    run(main_options(namespaces, all_namespaces, kubeconfig))
