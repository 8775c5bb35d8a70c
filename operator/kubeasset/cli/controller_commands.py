"""``kubeasset controller run``: the controller in the foreground, against the cluster of a kubeconfig (or the
Pod's service account in-cluster)."""

from __future__ import annotations

import os
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
@click.option(
    "--leader-elect/--no-leader-elect",
    default=True,
    show_default=True,
    help="Act only while holding the leader-election Lease, so replicas never both act.",
)
@click.option(
    "--leader-election-namespace",
    help="Namespace of the Lease; default: the controller Pod's own namespace, else 'default'.",
)
@click.option("--leader-election-id", default="kubeasset-controller", show_default=True, help="Name of the Lease.")
def run_command(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    kubeconfig: Path | None,
    leader_elect: bool,
    leader_election_namespace: str | None,
    leader_election_id: str,
) -> None:
    """Reconcile CodeLocations, the Asset catalog and AssetJobs until Ctrl-C. With several replicas one acts,
    the others stand by on a Lease (leader election) and take over when it goes. Settings beyond these flags
    come from KUBEASSET_* environment variables (README: "Controller settings"), as the Helm chart sets them.

    Example: kubeasset controller run -n shop --kubeconfig ~/.kube/kubeasset
    """
    # Imported here: kopf and the kubernetes client are the `controller` extra, which the rest of the CLI
    # (materialize, describe, select) does not need.
    from kubeasset.controller.environment import apply_environment
    from kubeasset.controller.operator import configure_logging, main_options, run

    options = main_options(
        namespaces,
        all_namespaces,
        kubeconfig,
        leader_election=leader_elect,
        leader_election_namespace=leader_election_namespace,
        lease_name=leader_election_id,
    )
    options = apply_environment(options, os.environ)
    configure_logging(options.log_level, json_format=options.json_logs)
    run(options)
