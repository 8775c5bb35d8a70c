"""`kubeasset cluster kubelet`: its options and how it refuses bad ones, without a cluster (the real run is
tests/integration/test_cluster_kubelet_cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.cli.conftest import Outcome

RunCli = Callable[..., Outcome]

#: A kubeconfig whose API server cannot be reached: port 1 on loopback refuses every connection.
UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: someone
  user: {token: not-a-token}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: someone}
current-context: nowhere
"""


def test_cluster_help_lists_the_kubelet(run_cli: RunCli) -> None:
    outcome = run_cli("cluster", "--help")
    assert outcome.exit_code == 0
    assert "kubelet" in outcome.out.split("Commands:")[1]


def test_kubelet_help_shows_the_options_of_the_module_command_line(run_cli: RunCli) -> None:
    outcome = run_cli("cluster", "kubelet", "--help")
    assert outcome.exit_code == 0
    for option in ("--kubeconfig", "--dir", "--node-name", "--shutdown-grace-seconds", "--heartbeat-seconds"):
        assert option in outcome.out
    assert "--log-level" in outcome.out
    assert "kubeasset-local" in outcome.out  # the default node name


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ((), "Missing option '--kubeconfig'"),
        (("--kubeconfig", "KUBECONFIG"), "Missing option '--dir'"),
        (("--kubeconfig", "missing.yaml", "--dir", "k"), "does not exist"),
        (("--kubeconfig", "KUBECONFIG", "--dir", "k", "--heartbeat-seconds", "0"), "--heartbeat-seconds"),
        (("--kubeconfig", "KUBECONFIG", "--dir", "k", "--shutdown-grace-seconds", "-1"), "--shutdown-grace-seconds"),
        (("--kubeconfig", "KUBECONFIG", "--dir", "k", "--log-level", "LOUD"), "--log-level"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    run_cli: RunCli, tmp_path: Path, arguments: tuple[str, ...], complaint: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(UNREACHABLE)
    outcome = run_cli("cluster", "kubelet", *(str(kubeconfig) if item == "KUBECONFIG" else item for item in arguments))
    assert outcome.exit_code == 2
    assert complaint in outcome.err
    assert not (tmp_path / "k").exists()  # nothing was started


def test_an_unreachable_api_server_is_one_line_naming_it(run_cli: RunCli, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(UNREACHABLE)
    outcome = run_cli("cluster", "kubelet", "--kubeconfig", str(kubeconfig), "--dir", str(tmp_path / "kubelet"))
    assert outcome.exit_code == 2
    assert outcome.err.strip().splitlines()[-1].startswith("error: ")
    assert "unreachable" in outcome.err and "127.0.0.1" in outcome.err
    assert "ready" not in outcome.out
