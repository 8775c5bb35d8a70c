"""The controller as a separate process, started the way the Helm chart's Deployment starts it (same
arguments, same environment from the chart's default values), so the benchmarks measure what a user runs
and can read its memory from /proc."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubeasset.cluster.processes import free_loopback_port

#: The chart's default values (helm/kubeasset/values.yaml) as the Deployment passes them, by variable.
CHART_ENVIRONMENT = {
    "KUBEASSET_LOG_LEVEL": "INFO",
    "KUBEASSET_LOG_JSON": "false",
    "KUBEASSET_WORKERS": "8",
    "KUBEASSET_MAX_CONCURRENT_RUNS": "0",
    "KUBEASSET_RUN_POD_RESOURCES": json.dumps(
        {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    ),
    "KUBEASSET_RUN_POD_IMAGE_PULL_POLICY": "",
    "KUBEASSET_RUN_POD_TERMINATION_GRACE_PERIOD_SECONDS": "30",
    "KUBEASSET_RUN_POD_PIN_IMAGE_DIGEST": "true",
    "KUBEASSET_DISCOVERY_ACTIVE_DEADLINE_SECONDS": "600",
    "KUBEASSET_DISCOVERY_POD_RESOURCES": json.dumps(
        {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    ),
    "KUBEASSET_POD_CLEANUP_SUCCEEDED_SECONDS": "3600",
    "KUBEASSET_POD_CLEANUP_FAILED_SECONDS": "86400",
}

#: How the benchmarks' figures describe the controller they measured.
CONTROLLER_DESCRIPTION = (
    "python -m kubeasset.controller --all-namespaces --leader-elect, the Helm chart's default environment (workers 8)"
)


class ControllerProcess:
    """``python -m kubeasset.controller --all-namespaces --leader-elect ...`` with the chart's environment;
    its log goes to ``log_file``.

    Example::

        with ControllerProcess(kubeconfig, folder / "controller.log") as controller:
            print(controller.rss_bytes())
    """

    def __init__(
        self, kubeconfig: Path, log_file: Path, extra_env: dict[str, str] | None = None, *, leader_elect: bool = True
    ) -> None:
        self.kubeconfig = kubeconfig
        self.leader_elect = leader_elect
        #: Set over the chart's environment (what ``controller.extraEnv`` of the chart would add).
        self.extra_env = dict(extra_env or {})
        self.log_file = log_file
        self.health_port = free_loopback_port()
        self.metrics_port = free_loopback_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kubeasset.controller",
            "--all-namespaces",
            f"--kubeconfig={self.kubeconfig}",  # in a Pod: in-cluster; here: the admin kubeconfig
            *(
                ["--leader-elect", "--leader-election-namespace=default", "--leader-election-id=kubeasset-controller"]
                if self.leader_elect
                else ["--no-leader-elect"]  # the chart's leaderElection.enabled=false
            ),
        ]

    @property
    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            **CHART_ENVIRONMENT,
            "POD_NAME": "kubeasset-bench-controller",
            "POD_NAMESPACE": "default",
            "KUBEASSET_HEALTH_PORT": str(self.health_port),
            "KUBEASSET_METRICS_PORT": str(self.metrics_port),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the controller is not started")
        return self._process.pid

    def start(self) -> ControllerProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(self.argv, env=self.environment, stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (as Kubernetes stops a Pod), then SIGKILL after ``timeout``."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def raise_if_exited(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"the controller exited with code {self._process.returncode}; its log ends with:\n{self.log_tail()}"
            )

    def rss_bytes(self) -> int:
        """VmRSS of the controller process, from /proc/<pid>/status."""
        self.raise_if_exited()
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the controller has used so far; RuntimeError with its log once it exited."""
        self.raise_if_exited()
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_leading(self, timeout: float = 60.0) -> None:
        """Wait for the log line saying the controller holds the leader-election Lease (its watches start then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the controller exited; its log ends with:\n{self.log_tail()}")
            text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            if "became leader" in text or (not self.leader_elect and "Initial authentication has finished" in text):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the controller did not start within {timeout:.0f}s; its log:\n{self.log_tail()}")

    def __enter__(self) -> ControllerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
