"""`kubeasset cluster start` / `stop`: a long-lived local cluster in a data folder that serves until stopped,
leaves nothing behind, keeps its objects across restarts and recovers from a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes import config as kube_config

from kubeasset.cluster.binaries import KUBERNETES_VERSION, ControlPlaneBinaries
from kubeasset.cluster.data_dir import ClusterDataDir
from tests.integration.conftest import eventually, processes_mentioning


@dataclass
class Started:
    process: subprocess.Popen[str]
    kubeconfig: Path
    banner: list[str]

    def api(self) -> client.ApiClient:
        return kube_config.new_client_from_config(config_file=str(self.kubeconfig))


def _kubeasset(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubeasset.cli.main", *args]


def _start(data_dir: Path, *extra: str) -> Started:
    """Run `kubeasset cluster start` and return once it printed that the cluster is ready."""
    process = subprocess.Popen(
        _kubeasset("cluster", "start", "--data-dir", str(data_dir), *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner: list[str] = []
    while not any(line.startswith("export KUBECONFIG=") for line in banner):
        line = process.stdout.readline()
        if not line:  # it exited before becoming ready
            process.wait()
            raise AssertionError(f"cluster start exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
        banner.append(line.rstrip("\n"))
    # The rest of the banner follows in the same write.
    while not banner[-1].startswith("Ctrl-C"):
        banner.append(process.stdout.readline().rstrip("\n"))
    kubeconfig = next(line for line in banner if line.startswith("export KUBECONFIG=")).split("=", 1)[1]
    return Started(process, Path(kubeconfig), banner)


@contextmanager
def _running(data_dir: Path, *extra: str) -> Iterator[Started]:
    started = _start(data_dir, *extra)
    try:
        yield started
    finally:
        if started.process.poll() is None:
            started.process.kill()
        started.process.communicate()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_start_serves_a_ready_cluster_until_interrupted_then_cleans_up(
    binaries: ControlPlaneBinaries, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    kubeconfig = tmp_path / "elsewhere" / "kc.yaml"
    with _running(data_dir, "--kubeconfig", str(kubeconfig)) as started:
        assert started.kubeconfig == kubeconfig
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"  # it holds the admin key
        assert any(str(binaries.kubectl) in line for line in started.banner)  # how to use it
        core = client.CoreV1Api(started.api())
        # Ready means usable for Pods right away: the default namespace and its ServiceAccount exist.
        assert core.read_namespaced_service_account("default", "default").metadata.name == "default"
        assert client.VersionApi(started.api()).get_code().git_version == KUBERNETES_VERSION
        assert ClusterDataDir(data_dir).is_running()

        started.process.send_signal(stop_signal)
        assert started.process.wait(timeout=60) == 0
    assert processes_mentioning(data_dir) == []
    assert not ClusterDataDir(data_dir).is_running()
    assert not (data_dir / "cluster-pids.json").exists()


def test_second_start_on_a_running_folder_is_refused_and_stop_stops_the_first(
    binaries: ControlPlaneBinaries, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with _running(data_dir) as first:
        again = subprocess.run(
            _kubeasset("cluster", "start", "--data-dir", str(data_dir)), capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 2
        assert "already running" in again.stderr
        assert f"kubeasset cluster stop --data-dir {data_dir}" in again.stderr
        assert first.process.poll() is None  # the running cluster was left alone

        stopped = subprocess.run(
            _kubeasset("cluster", "stop", "--data-dir", str(data_dir)), capture_output=True, text=True, timeout=90
        )
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped the cluster" in stopped.stdout
        assert first.process.wait(timeout=30) == 0
    assert processes_mentioning(data_dir) == []
    nothing = subprocess.run(
        _kubeasset("cluster", "stop", "--data-dir", str(data_dir)), capture_output=True, text=True, timeout=60
    )
    assert "no cluster is running" in nothing.stdout


def test_objects_survive_a_crash_and_the_next_start_recovers(binaries: ControlPlaneBinaries, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with _running(data_dir) as first:
        assert first.kubeconfig == data_dir / "admin.kubeconfig"  # the default place
        client.CoreV1Api(first.api()).create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="survivor"), data={"a": "1"})
        )
        first.process.send_signal(signal.SIGKILL)  # no chance to clean up
        first.process.wait(timeout=30)
    # On Linux the programs die with their owner (parent-death signal): nothing is left to serve stale data.
    eventually(lambda: processes_mentioning(data_dir) == [], "the crashed cluster's programs ending")

    with _running(data_dir) as second:
        kept = client.CoreV1Api(second.api()).read_namespaced_config_map("survivor", "default")
        assert kept.data == {"a": "1"}  # etcd's data was reused
        # A program that dies under a running cluster ends the command with an error naming it.
        etcd = json.loads((data_dir / "cluster-pids.json").read_text())["processes"]["etcd"]
        os.kill(etcd, signal.SIGKILL)
        assert second.process.wait(timeout=60) == 2
        assert "etcd exited" in second.process.stderr.read()  # type: ignore[union-attr]
    assert processes_mentioning(data_dir) == []

    with _running(data_dir) as third:  # and once more after that crash
        assert client.CoreV1Api(third.api()).read_namespaced_config_map("survivor", "default").data == {"a": "1"}
        third.process.send_signal(signal.SIGTERM)
        assert third.process.wait(timeout=60) == 0


def _leftover(command_line_mentions: Path) -> subprocess.Popen[bytes]:
    """A process that looks like a control-plane program left behind: own session, names the folder."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", f"--data-dir={command_line_mentions}/etcd-data"],
        start_new_session=True,
    )


def test_start_ends_programs_a_crashed_owner_left_behind(binaries: ControlPlaneBinaries, tmp_path: Path) -> None:
    """Without a parent-death signal (non-Linux, or a reparented program) a crash leaves programs running;
    the pids recorded in the data folder let the next start end them, and only them."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    leftover = _leftover(data_dir)
    unrelated = _leftover(tmp_path / "another-cluster")  # pid recorded, but it is not ours (pid reuse)
    try:
        eventually(lambda: ClusterDataDir(data_dir).folder_in_command_line(leftover.pid), "the leftover starting")
        (data_dir / "cluster-pids.json").write_text(
            json.dumps({"owner": 999999, "processes": {"etcd": leftover.pid, "kube-apiserver": unrelated.pid}})
        )
        with _running(data_dir) as started:
            assert leftover.wait(timeout=30) == -signal.SIGTERM
            assert unrelated.poll() is None
            started.process.send_signal(signal.SIGTERM)
            _, stderr = started.process.communicate(timeout=60)
        assert f"ended etcd (pid {leftover.pid}), left running by an earlier start" in stderr
    finally:
        for process in (leftover, unrelated):
            process.kill()
            process.wait()


def test_stop_without_a_running_owner_ends_leftovers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    leftover = _leftover(data_dir)
    try:
        eventually(lambda: ClusterDataDir(data_dir).folder_in_command_line(leftover.pid), "the leftover starting")
        (data_dir / "cluster-pids.json").write_text(json.dumps({"owner": 999999, "processes": {"etcd": leftover.pid}}))

        message = ClusterDataDir(data_dir).stop()

        assert message == f"no cluster was running; ended leftovers: etcd (pid {leftover.pid})"
        assert leftover.wait(timeout=30) == -signal.SIGTERM
    finally:
        leftover.kill()
        leftover.wait()
