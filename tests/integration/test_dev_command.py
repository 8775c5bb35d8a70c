"""``kubeasset dev examples`` as a person runs it: a second local cluster with the controller and a kubelet,
the examples applied, the shop code location discovered (its PersistentVolumeClaim mounted at /data),
kubectl working beside it with the printed kubeconfig, and Ctrl-C leaving no process behind."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kubeasset.cluster.binaries import ControlPlaneBinaries
from tests.integration.conftest import REPOSITORY, processes_mentioning


def _reader(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.rstrip("\n"))


def test_dev_runs_the_examples_and_stops_cleanly(binaries: ControlPlaneBinaries, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dev.kubeconfig"
    data_dir = tmp_path / "dev-data"
    # KUBEASSET_CACHE_DIR / KUBEBUILDER_ASSETS are inherited: the binaries are found, not built again
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeasset.cli.main", "dev", "examples", "--kubeconfig", str(kubeconfig)]
        + ["--data-dir", str(data_dir)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []

    def wait_for(predicate: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(predicate in line for line in seen):
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"no line with {predicate!r} within {timeout:.0f}s; output:\n" + "\n".join(seen))
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                continue

    try:
        wait_for(f"export KUBECONFIG={kubeconfig}", 120)
        wait_for("codelocation default/shop Ready: 9 assets", 120)
        wait_for("assetjob default/sales-job resolved: 6 assets", 60)
        # The example runs really execute, with per-asset progress on the terminal.
        wait_for("run sales-job-first-run materialized  cleaned_orders", 90)
        wait_for("run sales-job-first-run succeeded: 6 materialized", 60)
        wait_for("run top-customers-adhoc succeeded: 5 materialized", 60)
        # top_customers materialized by a real run triggers the example sensor's marketing run.
        wait_for("(job marketing-job, trigger Sensor)", 60)
        wait_for("succeeded: 3 materialized", 60)
        assert not any("FAILED" in line for line in seen), "\n".join(seen)
        assert not any(line.startswith("error:") for line in seen), "\n".join(seen)
        assert binaries.kubectl is not None
        got = subprocess.run(
            [str(binaries.kubectl), "--kubeconfig", str(kubeconfig), "get", "codelocations"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert got.returncode == 0, got.stderr
        assert "shop" in got.stdout and "True" in got.stdout
        # the claim's folder stands in for the PVC the examples mount at /data
        assert (data_dir / "kubelet" / "volumes" / "default" / "shop-assets").is_dir()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=90) == 0, "\n".join(seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert processes_mentioning(data_dir) == []
