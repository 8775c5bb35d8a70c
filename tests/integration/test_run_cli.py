"""`kubeasset launch` and `kubeasset runs` against the real API server, with no controller: the test plays
the controller by writing the run's status step by step and checks what a person sees and the exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.operator import ControllerOptions, ControllerThread
from kubeasset.reconcile.discovery import DiscoveryDefaults
from tests.integration.conftest import eventually
from tests.integration.controller.conftest import code_location

GROUP, VERSION = "kubeasset.dev", "v1alpha1"
JOB = "sales-job"

# Runs the command through cli/main.py's main(), as the `kubeasset` script does; registers launch/runs only
# while main.py does not register them yet.
_ENTRY = (
    "import sys\n"
    "from kubeasset.cli.main import cli, main\n"
    "from kubeasset.cli.run_commands import launch, runs\n"
    "for command in (launch, runs):\n"
    "    cli.commands.setdefault(str(command.name), command)\n"
    "sys.exit(main())\n"
)


def kubeasset_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", _ENTRY, *args]


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    env.update(extra)
    return env


def kubeasset(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kubeasset_argv(*args), capture_output=True, text=True, timeout=60, check=False, env=env or environment()
    )


class Follower:
    """`kubeasset launch --wait` running in the background; its stdout lines collected as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            kubeasset_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def sees(self, line: str) -> None:
        eventually(lambda: line in self.lines, f"the line {line!r} (so far: {self.lines})", timeout=30)

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def custom(api_client: client.ApiClient, crds: list[dict[str, Any]]) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def job(custom: client.CustomObjectsApi, namespace: str) -> str:
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "assetjobs",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AssetJob",
            "metadata": {"name": JOB},
            "spec": {"codeLocation": "shop", "selection": "group:sales"},
        },
    )
    return JOB


@pytest.fixture
def follower() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for one in started:
        one.kill()


def as_dict(body: object) -> dict[str, Any]:
    assert isinstance(body, dict)
    return body


def set_status(custom: client.CustomObjectsApi, namespace: str, name: str, status: dict[str, Any]) -> None:
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, "assetruns", name, {"status": status})


def wait_for_run(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def exists() -> bool:
        items = as_dict(custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "assetruns"))["items"]
        found.update(next((item for item in items if item["metadata"]["name"] == name), {}))
        return bool(found)

    eventually(exists, f"AssetRun {name} being created", timeout=30)
    return found


def test_launch_wait_prints_each_asset_and_exits_0_when_the_run_succeeds(
    custom: client.CustomObjectsApi, namespace: str, job: str, kubeconfig: Path, follower: list[Follower]
) -> None:
    run = Follower(
        "launch",
        job,
        "-n",
        namespace,
        "--kubeconfig",
        str(kubeconfig),
        "--name",
        "ok-1",
        "--tag",
        "requested-by=alice",
        "--config",
        '{"currency": "EUR"}',
        "--wait",
        "--timeout",
        "120",
    )
    follower.append(run)
    created = wait_for_run(custom, namespace, "ok-1")
    spec = created["spec"]
    assert (spec["job"], spec["trigger"], spec["tags"], spec["config"]) == (
        job,
        {"type": "Manual"},
        {"requested-by": "alice"},
        {"currency": "EUR"},
    )
    assert created["metadata"]["labels"]["kubeasset.dev/job"] == job
    run.sees("ok-1")

    set_status(custom, namespace, "ok-1", {"phase": "Starting", "podName": "ok-1"})
    run.sees("run ok-1 Starting: pod ok-1")
    set_status(
        custom,
        namespace,
        "ok-1",
        {
            "phase": "Running",
            "startTime": "2026-01-01T00:00:00Z",
            "assets": [{"key": "raw/orders", "state": "Running"}, {"key": "top_customers", "state": "Pending"}],
        },
    )
    run.sees("run ok-1 Running: 2 asset(s)")
    run.sees("  started       raw/orders")
    set_status(
        custom,
        namespace,
        "ok-1",
        {
            "assets": [
                {
                    "key": "raw/orders",
                    "state": "Materialized",
                    "durationSeconds": 1.25,
                    "metadata": {"rows": {"type": "int", "value": 500}},
                },
                {"key": "top_customers", "state": "Running"},
            ]
        },
    )
    run.sees("  materialized  raw/orders in 1.25s  rows=500")
    set_status(
        custom,
        namespace,
        "ok-1",
        {
            "phase": "Succeeded",
            "completionTime": "2026-01-01T00:00:04Z",
            "progress": "2/2",
            "summary": {"total": 2, "materialized": 2},
            "assets": [
                {
                    "key": "raw/orders",
                    "state": "Materialized",
                    "durationSeconds": 1.25,
                    "metadata": {"rows": {"type": "int", "value": 500}},
                },
                {"key": "top_customers", "state": "Materialized", "durationSeconds": 2.0},
            ],
        },
    )
    code, err = run.finish()
    assert code == 0, err
    assert run.lines[0] == "ok-1"
    assert run.lines.count("  started       raw/orders") == 1  # each transition once
    assert "  materialized  top_customers in 2.00s" in run.lines
    assert run.lines[-1] == "run ok-1 succeeded: 2 materialized, 0 failed, 0 skipped of 2 in 4.00s"
    assert any(line.split()[:3] == ["top_customers", "Materialized", "2.00s"] for line in run.lines)


def test_launch_wait_exits_1_with_the_runs_message_when_it_fails(
    custom: client.CustomObjectsApi, namespace: str, job: str, kubeconfig: Path, follower: list[Follower]
) -> None:
    run = Follower("launch", job, "-n", namespace, "--kubeconfig", str(kubeconfig), "--name", "bad-1", "--wait")
    follower.append(run)
    wait_for_run(custom, namespace, "bad-1")
    run.sees("bad-1")
    set_status(
        custom,
        namespace,
        "bad-1",
        {
            "phase": "Running",
            "assets": [{"key": "cleaned_orders", "state": "Running"}, {"key": "top_customers", "state": "Pending"}],
        },
    )
    run.sees("  started       cleaned_orders")
    set_status(
        custom,
        namespace,
        "bad-1",
        {
            "phase": "Failed",
            "message": "1 of 2 assets failed",
            "assets": [
                {
                    "key": "cleaned_orders",
                    "state": "Failed",
                    "durationSeconds": 0.5,
                    "message": "ValueError: bad row 3",
                },
                {"key": "top_customers", "state": "Skipped", "message": "upstream cleaned_orders did not materialize"},
            ],
        },
    )
    code, err = run.finish()
    assert code == 1, err
    assert "  failed        cleaned_orders in 0.50s: ValueError: bad row 3" in run.lines
    assert "  skipped       top_customers: upstream cleaned_orders did not materialize" in run.lines
    assert run.lines[-1].startswith("run bad-1 FAILED: 1 of 2 assets failed; 0 materialized, 1 failed, 1 skipped")


def test_launch_wait_timeout_exits_3_and_leaves_the_run(
    custom: client.CustomObjectsApi, namespace: str, job: str, kubeconfig: Path
) -> None:
    outcome = kubeasset(
        "launch", job, "-n", namespace, "--kubeconfig", str(kubeconfig), "--name", "slow-1", "--timeout", "2"
    )
    assert outcome.returncode == 3, outcome.stderr
    assert "run slow-1 is still Pending after 2s; it goes on" in outcome.stderr
    assert "kubectl patch assetrun slow-1" in outcome.stderr
    assert custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "assetruns", "slow-1")


def test_launch_of_a_missing_job_exits_2_naming_the_jobs_that_exist(namespace: str, job: str, kubeconfig: Path) -> None:
    outcome = kubeasset("launch", "no-such-job", "-n", namespace, "--kubeconfig", str(kubeconfig), "--wait")
    assert outcome.returncode == 2
    assert outcome.stderr.strip() == (
        f"error: AssetJob 'no-such-job' not found in namespace '{namespace}' (the AssetJobs there are: {job}); "
        "check the name and namespace (-n), or create the job first (kubectl get assetjobs -A lists them all)"
    )
    assert outcome.stdout == ""


def test_runs_lists_newest_first_and_shows_one_run_using_the_kubeconfig_namespace(
    custom: client.CustomObjectsApi, namespace: str, job: str, kubeconfig: Path, tmp_path: Path
) -> None:
    # A kubeconfig whose context names the namespace, passed through KUBECONFIG: no -n needed, as with kubectl.
    document = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    for context in document["contexts"]:
        context["context"]["namespace"] = namespace
    scoped = tmp_path / "scoped.kubeconfig"
    scoped.write_text(yaml.safe_dump(document), encoding="utf-8")
    env = environment(KUBECONFIG=str(scoped))

    first = kubeasset("launch", job, env=env)
    assert first.returncode == 0, first.stderr
    older = first.stdout.strip()
    assert older.startswith(f"{job}-")
    newer = kubeasset("launch", job, "--select", "key:top_customers", "--name", "newer-1", env=env)
    assert newer.returncode == 0, newer.stderr
    set_status(
        custom,
        namespace,
        "newer-1",
        {
            "phase": "Failed",
            "message": "Pod OOMKilled",
            "summary": {"total": 1, "failed": 1},
            "assets": [{"key": "top_customers", "state": "Failed", "message": "Pod OOMKilled"}],
        },
    )

    listed = kubeasset("runs", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "JOB", "PHASE", "DONE"]
    assert [line.split()[0] for line in lines[1:]] == ["newer-1", older]
    assert lines[1].split()[1:5] == [job, "Failed", "0/1", "1"]

    none = kubeasset("runs", "--job", "other-job", env=env)
    assert none.returncode == 0 and none.stdout == "" and "no AssetRuns of job 'other-job'" in none.stderr

    shown = kubeasset("runs", "newer-1", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Selection:" in shown.stdout and "key:top_customers" in shown.stdout
    assert "Message:\n  Pod OOMKilled" in shown.stdout
    assert any(line.split()[:2] == ["top_customers", "Failed"] for line in shown.stdout.splitlines())

    everywhere = kubeasset("runs", "-A", "--kubeconfig", str(kubeconfig))
    assert any(line.split()[:2] == [namespace, "newer-1"] for line in everywhere.stdout.splitlines())


def test_ctrl_c_while_waiting_leaves_the_run_and_says_how_to_follow_or_cancel_it(
    custom: client.CustomObjectsApi, namespace: str, job: str, kubeconfig: Path, follower: list[Follower]
) -> None:
    run = Follower("launch", job, "-n", namespace, "--kubeconfig", str(kubeconfig), "--name", "int-1", "--wait")
    follower.append(run)
    wait_for_run(custom, namespace, "int-1")
    set_status(custom, namespace, "int-1", {"phase": "Running", "assets": [{"key": "a", "state": "Running"}]})
    run.sees("  started       a")
    run.process.send_signal(signal.SIGINT)
    code, err = run.finish()
    assert code == 130
    assert f"run int-1 goes on: follow it with `kubeasset runs int-1 -n {namespace}`" in err
    assert "Traceback" not in err
    assert (
        as_dict(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "assetruns", "int-1"))["spec"]["cancel"]
        is False
    )


# --- end to end: with the controller and a kubelet ------------------------------------------------------

CLI_NODE = "kubeasset-run-cli-tests"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUN_CODE = Path(__file__).resolve().parent / "controller" / "run_code"


@pytest.fixture
def live_cluster(
    control_plane: ControlPlane, kubeconfig: Path, crds: list[dict[str, Any]], namespace: str, tmp_path: Path
) -> Iterator[None]:
    """A kubelet on a node of this module's own and a controller watching only the test's namespace (the
    other tests of this module play the controller themselves)."""
    options = ControllerOptions(
        namespaces=[namespace], kubeconfig=kubeconfig, discovery=DiscoveryDefaults(poll_seconds=1.0, retry_seconds=5.0)
    )
    with (
        LocalKubelet(control_plane.admin.kubeconfig, tmp_path / "kubelet", CLI_NODE, restart_backoff_seconds=0.5),
        ControllerThread(options),
    ):
        yield


def _location(name: str, module: str, folder: Path, storage: Path) -> dict[str, Any]:
    return code_location(name, module, folder, node=CLI_NODE, storage={"url": str(storage)})


def test_launch_wait_follows_a_real_run_to_success_and_exits_1_for_a_failing_job(
    custom: client.CustomObjectsApi, namespace: str, job: str, kubeconfig: Path, tmp_path: Path, live_cluster: None
) -> None:
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "codelocations", _location("shop", "shop", EXAMPLES, tmp_path / "storage")
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "codelocations", _location("cases", "run_cases", RUN_CODE, tmp_path / "storage")
    )
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "assetjobs",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AssetJob",
            "metadata": {"name": "failing-job"},
            "spec": {"codeLocation": "cases", "selection": "group:failing"},
        },
    )

    def jobs_ready() -> bool:
        listed = as_dict(custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "assetjobs"))["items"]
        return len(listed) == 2 and all(
            any(
                c["type"] == "Ready" and c["status"] == "True" for c in (item.get("status") or {}).get("conditions", [])
            )
            for item in listed
        )

    eventually(jobs_ready, "both AssetJobs Ready", timeout=90)
    base = ("-n", namespace, "--kubeconfig", str(kubeconfig), "--wait", "--timeout", "90")

    good = subprocess.run(
        kubeasset_argv("launch", job, "--name", "real-1", *base),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment(),
    )
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    assert lines[0] == "real-1"
    for key in ("cleaned_orders", "daily_revenue", "customer_lifetime_value", "top_customers"):
        assert any(line.startswith(f"  materialized  {key} in ") for line in lines), lines
    assert any(line.startswith("run real-1 succeeded: 6 materialized, 0 failed, 0 skipped of 6") for line in lines), (
        lines
    )

    bad = subprocess.run(
        kubeasset_argv("launch", "failing-job", "--name", "real-2", *base),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment(),
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert any(
        line.startswith("  failed        report in ") and "no template" in line for line in bad.stdout.splitlines()
    )
    assert any(line.startswith("run real-2 FAILED:") for line in bad.stdout.splitlines()), bad.stdout

    listed = kubeasset("runs", "-n", namespace, "--kubeconfig", str(kubeconfig))
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in listed.stdout.splitlines()[1:]}
    assert rows["real-1"] == [job, "Succeeded", "6/6"]
    assert rows["real-2"][:2] == ["failing-job", "Failed"]
