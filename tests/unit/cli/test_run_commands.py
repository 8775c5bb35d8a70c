"""`kubeasset launch` and `kubeasset runs` without a cluster: names, input checks, manifests, and errors
that must reach a person as one line with exit code 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.cli.kube_access import Cluster, is_missing_object
from kubeasset.cli.main import cli
from kubeasset.cli.run_commands import generated_run_name, launch, parse_config, parse_tags, run_manifest, runs
from kubeasset.errors import InvalidManifestError
from tests.unit.cli.conftest import Outcome

RunCli = Callable[..., Outcome]


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lead registers the commands in cli/main.py; until then the tests register them the same way.
    for command in (launch, runs):
        monkeypatch.setitem(cli.commands, str(command.name), cli.commands.get(str(command.name), command))


JOB = AssetJob.model_validate(
    {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetJob",
        "metadata": {"name": "sales-job", "namespace": "shop"},
        "spec": {"codeLocation": "shop", "selection": "group:sales"},
    }
)


def test_generated_names_sort_by_time_and_fit_a_label_value() -> None:
    moment = datetime(2026, 11, 24, 22, 31, 5, tzinfo=UTC)
    assert generated_run_name("sales-job", moment, "x7k2q") == "sales-job-20261124-223105-x7k2q"
    assert len(generated_run_name("a" * 70, moment, "x7k2q")) == 63
    cut_at_a_dash = generated_run_name("a" * 40 + "-" + "b" * 30, moment, "x7k2q")
    assert cut_at_a_dash == "a" * 40 + "-20261124-223105-x7k2q"


def test_tags_are_key_value_pairs() -> None:
    assert parse_tags(("team=sales", "note=a=b", "empty=")) == {"team": "sales", "note": "a=b", "empty": ""}
    with pytest.raises(click.BadParameter, match="KEY=VALUE"):
        parse_tags(("team",))


def test_config_is_inline_json_or_a_file(tmp_path: Path) -> None:
    assert parse_config('{"currency": "EUR", "limit": 3}') == {"currency": "EUR", "limit": 3}
    file = tmp_path / "config.yaml"
    file.write_text("currency: USD\n", encoding="utf-8")
    assert parse_config(f"@{file}") == {"currency": "USD"}
    with pytest.raises(click.BadParameter, match="JSON object"):
        parse_config("[1, 2]")
    with pytest.raises(click.BadParameter, match="cannot read"):
        parse_config(f"@{tmp_path / 'missing.json'}")


def test_the_manifest_is_a_manual_run_of_the_job_with_its_labels() -> None:
    manifest = run_manifest("r-1", "shop", JOB, tags={"team": "sales"}, config={"x": 1}, selection="key:top")
    run = AssetRun.model_validate(manifest)
    assert run.spec.job == "sales-job" and run.spec.selection == "key:top"
    assert run.spec.trigger.type.value == "Manual" and run.spec.tags == {"team": "sales"}
    assert manifest["metadata"]["labels"]["kubeasset.dev/job"] == "sales-job"
    assert manifest["metadata"]["labels"]["kubeasset.dev/code-location"] == "shop"


def test_a_bad_tag_is_rejected_before_anything_is_sent() -> None:
    with pytest.raises(InvalidManifestError, match=r"spec\.tags"):
        run_manifest("r-1", "shop", JOB, tags={"bad key!": "x"}, config=None, selection=None)


def test_launch_with_an_unreadable_kubeconfig_is_one_line_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    outcome = run_cli("launch", "sales-job", "--kubeconfig", str(tmp_path / "nope"))
    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: cannot load the kubeconfig") and "Traceback" not in outcome.err


def test_launch_against_a_server_that_is_down_is_one_line_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: shop}}]\n",
        encoding="utf-8",
    )
    outcome = run_cli("launch", "sales-job", "--kubeconfig", str(kubeconfig))
    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: cannot reach the API server http://127.0.0.1:9")
    assert len(outcome.err.strip().splitlines()) == 1


def test_a_bad_selection_or_name_is_refused_before_connecting(run_cli: RunCli, tmp_path: Path) -> None:
    nowhere = str(tmp_path / "nope")
    bad_selection = run_cli("launch", "sales-job", "--select", "group:sales and (", "--kubeconfig", nowhere)
    assert bad_selection.exit_code == 2 and "selection syntax error" in bad_selection.err
    bad_name = run_cli("launch", "sales-job", "--name", "Not_Valid", "--kubeconfig", nowhere)
    assert bad_name.exit_code == 2 and "not a valid object name" in bad_name.err


def test_runs_refuses_all_namespaces_with_a_name(run_cli: RunCli) -> None:
    outcome = run_cli("runs", "x", "-A")
    assert outcome.exit_code == 2 and "-A" in outcome.err


def test_a_404_naming_the_object_is_a_missing_object_and_one_naming_none_means_no_crds() -> None:
    missing = ApiException(status=404, reason="Not Found")
    missing.body = json.dumps({"kind": "Status", "message": 'assetjobs "x" not found', "details": {"name": "x"}})
    no_type = ApiException(status=404, reason="Not Found")
    no_type.body = json.dumps({"kind": "Status", "message": "the server could not find the requested resource"})
    assert is_missing_object(missing, "x") and not is_missing_object(missing, "y")
    assert not is_missing_object(no_type, "x")
    cluster = Cluster(api_client=ApiClient(), namespace="shop", source="test")
    assert "CRDs installed" in str(cluster.api_error(no_type, "read assetjobs 'x'"))
    assert "CRDs" not in str(cluster.api_error(missing, "read assetjobs 'x'"))
    assert str(cluster.api_error(missing, "read assetjobs 'x'")).startswith(
        "cannot read assetjobs 'x': assetjobs \"x\""
    )
