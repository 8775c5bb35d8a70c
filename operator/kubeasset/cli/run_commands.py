"""``kubeasset launch`` and ``kubeasset runs``: start an AssetRun of a job and follow it, and list runs, by
talking only to the API server (the controller does the running).

Exit codes of ``launch --wait``: 0 the run Succeeded; 1 it Failed, was Canceled or was deleted; 2 bad
input or an API error (job not found, CRDs missing, server unreachable); 3 ``--timeout`` passed first (the
run goes on); 130 Ctrl-C (the run goes on).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click
import yaml

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.api.base import GROUP_VERSION
from kubeasset.api.conditions import READY, ConditionStatus, find_condition
from kubeasset.api.registry import parse_manifest, parse_resource
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import DNS_SUBDOMAIN_PATTERN, MAX_NAME_LENGTH, MAX_OBJECT_NAME_LENGTH
from kubeasset.cli.kube_access import Cluster, connect, is_missing_object
from kubeasset.cli.run_display import Reported, describe_run, final_report, progress_lines, runs_table
from kubeasset.cli.run_watch import ClusterRunSource, FollowOutcome, follow_run
from kubeasset.errors import KubernetesAccessError
from kubeasset.reconcile.naming import COMPONENT_RUN, child_labels
from kubeasset.selection import parse_selection

EXIT_RUN_FAILED: Final = 1
EXIT_TIMEOUT: Final = 3
EXIT_INTERRUPTED: Final = 130

#: The characters of the API server's generateName suffixes (no vowels: no words by accident).
_SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH: Final = 5
_CREATE_ATTEMPTS: Final = 3

_kubeconfig_option = click.option(
    "--kubeconfig",
    metavar="FILE",
    help="Kubeconfig to use; default: $KUBECONFIG, else ~/.kube/config, else in-cluster credentials.",
)


def generated_run_name(job: str, now: datetime, suffix: str) -> str:
    """``<job>-<UTC yyyymmdd-hhmmss>-<suffix>``, at most 63 characters (the job part is cut): readable,
    sorted by time in ``kubectl get``, and short enough to be a label value and a Pod hostname.

    Example: ``generated_run_name("sales-job", now, "x7k2q") == "sales-job-20261124-223105-x7k2q"``.
    """
    tail = f"-{now.astimezone(UTC):%Y%m%d-%H%M%S}-{suffix}"
    return job[: MAX_NAME_LENGTH - len(tail)].rstrip("-.") + tail


def random_suffix() -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))


def parse_tags(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("team=sales", "tier=")`` -> ``{"team": "sales", "tier": ""}``; the API model checks the values."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--tag")
        tags[key] = value
    return tags


def parse_config(text: str | None) -> dict[str, Any] | None:
    """The run config: inline JSON (``'{"currency": "EUR"}'``) or ``@file`` (JSON or YAML); a mapping."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as error:
            raise click.BadParameter(f"cannot read {path}: {error.strerror}", param_hint="--config") from error
    else:
        source = text
    try:
        config = yaml.safe_load(source)
    except yaml.YAMLError as error:
        raise click.BadParameter(f"not valid JSON or YAML: {error}", param_hint="--config") from error
    if not isinstance(config, Mapping):
        raise click.BadParameter(
            'must be a JSON object such as \'{"report_currency": "EUR"}\' (or @file holding one)',
            param_hint="--config",
        )
    return dict(config)


def run_manifest(
    name: str,
    namespace: str,
    job: AssetJob,
    *,
    tags: Mapping[str, str],
    config: Mapping[str, Any] | None,
    selection: str | None,
) -> dict[str, Any]:
    """The AssetRun ``launch`` creates, validated strictly by the API model (InvalidManifestError names
    each bad field). It carries the job's labels, so the job's history limits apply to it as to scheduled
    runs."""
    spec: dict[str, Any] = {"job": job.metadata.name, "trigger": {"type": "Manual"}}
    if tags:
        spec["tags"] = dict(tags)
    if config:
        spec["config"] = dict(config)
    if selection is not None:
        spec["selection"] = selection
    manifest = {
        "apiVersion": GROUP_VERSION,
        "kind": AssetRun.crd.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": child_labels(COMPONENT_RUN, code_location=job.spec.code_location, job=job.metadata.name),
        },
        "spec": spec,
    }
    parse_manifest(manifest)
    return manifest


def _check_name(name: str) -> None:
    if len(name) > MAX_OBJECT_NAME_LENGTH or not re.match(DNS_SUBDOMAIN_PATTERN, name):
        raise click.BadParameter(
            f"{name!r} is not a valid object name (lower-case letters, digits, '-' and '.', starting and ending "
            "with a letter or digit)",
            param_hint="--name",
        )


def read_job(cluster: Cluster, namespace: str, name: str) -> AssetJob:
    """The AssetJob ``name``, or a KubernetesAccessError saying which jobs exist or that the CRDs are missing."""
    try:
        body = cluster.get("assetjobs", namespace, name)
    except KubernetesAccessError as error:
        if error.status != 404:
            raise
        if not is_missing_object(error, name):
            raise KubernetesAccessError(
                f"the API server {cluster.server} does not know AssetJobs: the kubeasset CRDs are not installed "
                "(kubectl apply -f crds/, or run kubeasset dev)",
                status=404,
            ) from error
        others = sorted(str(item.get("metadata", {}).get("name")) for item in cluster.list("assetjobs", namespace))
        known = f"the AssetJobs there are: {', '.join(others)}" if others else "there is no AssetJob there"
        raise KubernetesAccessError(
            f"AssetJob {name!r} not found in namespace {namespace!r} ({known}); check the name and namespace "
            "(-n), or create the job first (kubectl get assetjobs -A lists them all)",
            status=404,
        ) from error
    job = parse_resource(body)
    assert isinstance(job, AssetJob)
    return job


def _create_run(
    cluster: Cluster,
    namespace: str,
    job: AssetJob,
    name: str | None,
    tags: Mapping[str, str],
    config: Mapping[str, Any] | None,
    selection: str | None,
) -> dict[str, Any]:
    attempts = 1 if name is not None else _CREATE_ATTEMPTS
    for attempt in range(attempts):
        chosen = name or generated_run_name(job.metadata.name or "", datetime.now(UTC), random_suffix())
        manifest = run_manifest(chosen, namespace, job, tags=tags, config=config, selection=selection)
        try:
            return cluster.create("assetruns", namespace, manifest)
        except KubernetesAccessError as error:
            if error.status != 409:
                raise
            if name is not None:
                raise KubernetesAccessError(
                    f"an AssetRun named {name!r} already exists in namespace {namespace!r}; choose another --name "
                    "or leave it out for a generated one",
                    status=409,
                ) from error
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable: the loop returns or raises")


@click.command("launch")
@click.argument("job")
@click.option("-n", "--namespace", help="Namespace of the job and the run; default: the kubeconfig's current one.")
@_kubeconfig_option
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag of the run (repeatable).")
@click.option("--config", "config_text", metavar="JSON|@FILE", help="Run config, merged over the job's.")
@click.option("--select", "selection", metavar="EXPR", help="Run only these assets of the job (a selection).")
@click.option("--name", help="The run's name; default: <job>-<UTC time>-<random>.")
@click.option("--wait", "-w", is_flag=True, help="Follow the run, print each asset's progress, exit 1 if it fails.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help=f"With --wait (implies it): stop waiting after this long and exit {EXIT_TIMEOUT}; the run goes on.",
)
def launch(
    job: str,
    namespace: str | None,
    kubeconfig: str | None,
    tags: tuple[str, ...],
    config_text: str | None,
    selection: str | None,
    name: str | None,
    wait: bool,
    timeout: float | None,
) -> int:
    """Start a run of the AssetJob JOB (an AssetRun, triggered Manual) and print its name.

    With --wait, follow it until it ends: exit 0 when it Succeeded, 1 when it Failed or was Canceled,
    3 on --timeout, 2 on bad input or API errors.

    Example: kubeasset launch sales-job -n shop --tag requested-by=alice --select 'key:top_customers' --wait
    """
    run_tags = parse_tags(tags)
    run_config = parse_config(config_text)
    if selection is not None:
        parse_selection(selection)  # a syntax error is reported here, before anything is created
    if name is not None:
        _check_name(name)
    cluster = connect(kubeconfig, namespace)
    target = cluster.namespace
    asset_job = read_job(cluster, target, job)
    ready = find_condition(asset_job.status.conditions if asset_job.status else [], READY)
    if ready is not None and ready.status is ConditionStatus.FALSE:
        click.echo(
            f"warning: AssetJob {job!r} is not Ready ({ready.reason}: {ready.message}); the run may fail", err=True
        )
    created = _create_run(cluster, target, asset_job, name, run_tags, run_config, selection)
    run_name = str(created["metadata"]["name"])
    click.echo(run_name)
    if not wait and timeout is None:
        click.echo(f"follow it with: kubeasset runs {run_name} -n {target}", err=True)
        return 0
    return _wait(cluster, target, created, timeout)


def _wait(cluster: Cluster, namespace: str, created: Mapping[str, Any], timeout: float | None) -> int:
    name = str(created["metadata"]["name"])
    reported = Reported()

    def show(run: AssetRun) -> None:
        nonlocal reported
        lines, reported = progress_lines(reported, run)
        for line in lines:
            click.echo(line)

    def lost(reason: str) -> None:
        click.echo(f"lost the connection to the API server ({reason}); reconnecting...", err=True)

    goes_on = (
        f"follow it with `kubeasset runs {name} -n {namespace}`; cancel it with "
        f'`kubectl patch assetrun {name} -n {namespace} --type merge -p \'{{"spec":{{"cancel":true}}}}\'`'
    )
    try:
        outcome = follow_run(
            ClusterRunSource(cluster, namespace, name), created, show, timeout_seconds=timeout, on_reconnect=lost
        )
    except KeyboardInterrupt:
        click.echo(f"\nstopped waiting; run {name} goes on: {goes_on}", err=True)
        return EXIT_INTERRUPTED
    return _conclude(outcome, timeout, goes_on)


def _conclude(outcome: FollowOutcome, timeout: float | None, goes_on: str) -> int:
    run = outcome.run
    name = run.metadata.name
    if outcome.ending == "deleted":
        click.echo(f"run {name} was deleted before it finished", err=True)
        return EXIT_RUN_FAILED
    if outcome.ending == "timeout":
        phase = run.status.phase.value if run.status and run.status.phase else "Pending"
        click.echo(f"run {name} is still {phase} after {timeout:g}s; it goes on: {goes_on}", err=True)
        return EXIT_TIMEOUT
    click.echo(final_report(run, datetime.now(UTC)))
    return 0 if run.status is not None and run.status.phase is RunPhase.SUCCEEDED else EXIT_RUN_FAILED


@click.command("runs")
@click.argument("name", required=False)
@click.option("-n", "--namespace", help="Namespace to list; default: the kubeconfig's current one.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List the runs of every namespace.")
@click.option("--job", help="Only the runs of this AssetJob.")
@_kubeconfig_option
def runs(name: str | None, namespace: str | None, all_namespaces: bool, job: str | None, kubeconfig: str | None) -> int:
    """List AssetRuns, newest first; with NAME, show that run's assets, message and conditions.

    Example: kubeasset runs -n shop --job sales-job;  kubeasset runs sales-job-20261124-223105-x7k2q -n shop
    """
    if all_namespaces and (namespace or name):
        raise click.UsageError("-A lists every namespace: use it without -n and without NAME")
    cluster = connect(kubeconfig, namespace)
    now = datetime.now(UTC)
    if name is not None:
        try:
            body = cluster.get("assetruns", cluster.namespace, name)
        except KubernetesAccessError as error:
            if is_missing_object(error, name):
                raise KubernetesAccessError(
                    f"AssetRun {name!r} not found in namespace {cluster.namespace!r} "
                    "(kubeasset runs -n NAMESPACE lists the runs there)",
                    status=404,
                ) from error
            raise
        click.echo(describe_run(_as_run(body), now))
        return 0
    items = [_as_run(item) for item in cluster.list("assetruns", None if all_namespaces else cluster.namespace)]
    if job is not None:
        items = [run for run in items if run.spec.job == job]
    if not items:
        where = "any namespace" if all_namespaces else f"namespace {cluster.namespace!r}"
        click.echo(f"no AssetRuns{f' of job {job!r}' if job else ''} in {where}", err=True)
        return 0
    click.echo(runs_table(items, now, with_namespace=all_namespaces))
    return 0


def _as_run(body: Mapping[str, Any]) -> AssetRun:
    run = parse_resource(body)
    assert isinstance(run, AssetRun)
    return run


__all__ = ["EXIT_INTERRUPTED", "EXIT_RUN_FAILED", "EXIT_TIMEOUT", "launch", "runs"]
