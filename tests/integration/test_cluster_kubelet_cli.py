"""`kubeasset cluster kubelet` for real: in the foreground it registers its Node, runs a Pod pinned to it as a
local process, and on SIGTERM stops, ends its containers and exits 0 (README, "Try the chart on the local
control plane", step 2)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.conftest import eventually, processes_mentioning

#: This module's own node: no other test's kubelet plays it.
NODE = "kubeasset-cli-kubelet"


def test_kubelet_command_runs_a_pod_then_stops_cleanly_on_sigterm(
    api_client: client.ApiClient, kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    folder = tmp_path / "kubelet"
    command = [sys.executable, "-m", "kubeasset.cli.main", "cluster", "kubelet", "--kubeconfig", str(kubeconfig)]
    command += ["--dir", str(folder), "--node-name", NODE, "--heartbeat-seconds", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    core = client.CoreV1Api(api_client)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith(f"kubelet {NODE} ready; logs on https://127.0.0.1:"), process.stderr.read()  # type: ignore[union-attr]
        node = core.read_node(NODE)
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"

        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "hello"},
            "spec": {
                "restartPolicy": "Never",
                "nodeSelector": {"kubernetes.io/hostname": NODE},
                "containers": [{"name": "main", "image": "python:3.11", "command": ["python", "-c", "print('hi')"]}],
            },
        }
        core.create_namespaced_pod(namespace, pod)
        eventually(
            lambda: core.read_namespaced_pod("hello", namespace).status.phase == "Succeeded", "the Pod succeeding", 60
        )
        assert core.read_namespaced_pod_log("hello", namespace) == "hi\n"

        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors
        assert f"the kubelet {NODE} is stopped" in errors
        assert processes_mentioning(folder) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        try:
            core.delete_node(NODE)
        except ApiException as error:
            if error.status != 404:
                raise
