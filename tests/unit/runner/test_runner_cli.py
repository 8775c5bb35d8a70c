"""python -m kubeasset.runner, end to end in a subprocess: describe and execute against a tiny module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeasset.runner.main import main
from kubeasset.sdk import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    ExecutionEvent,
    RunFinished,
    RunStarted,
)
from kubeasset.sdk.runner_protocol import (
    EXIT_ASSETS_FAILED,
    EXIT_COULD_NOT_START,
    EXIT_SUCCESS,
    parse_event_line,
    parse_run_summary,
)

PIPELINE = """
import sys
import time

from kubeasset import AssetExecutionContext, Definitions, MaterializeResult, asset, define_asset_job

print("importing user module")


@asset
def raw() -> list[int]:
    print("user print without newline", end="")
    return [3, 1, 2]


@asset(key_prefix="warehouse", group_name="sales", tags={"tier": "gold"}, owners=["team:sales"],
       kinds={"python"}, code_version="1", metadata={"doc": "https://wiki"})
def orders(context: AssetExecutionContext, raw: list[int]) -> MaterializeResult:
    \"\"\"Sorted orders.\"\"\"
    when = context.scheduled_time.isoformat() if context.scheduled_time else None
    config, tags = dict(context.run_config), dict(context.run_tags)
    print(f"run={context.run_name} scheduled={when} config={config} tags={tags}")
    print("to stderr", file=sys.stderr)
    return MaterializeResult(value=sorted(raw), metadata={"dagster/row_count": len(raw)})


@asset
def broken(raw: list[int]) -> int:
    raise ValueError("boom in broken")


@asset(deps=[broken])
def after_broken() -> int:
    return 1


@asset
def slow() -> int:
    print("slow started", flush=True)
    time.sleep(60)
    return 1


defs = Definitions(
    assets=[raw, orders, broken, after_broken, slow],
    jobs=[
        define_asset_job("sales", "group:sales", tags={"team": "sales"}, description="Sales assets"),
        define_asset_job("listed", ["raw", "warehouse/orders"], config={"limit": 3}),
    ],
)
"""


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    termination: str | None

    @property
    def events(self) -> list[ExecutionEvent]:
        parsed = [parse_event_line(line) for line in self.stdout.splitlines()]
        return [event for event in parsed if event is not None]

    @property
    def user_lines(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if parse_event_line(line) is None]


@pytest.fixture
def location(tmp_path: Path) -> tuple[Path, str]:
    module = f"pipeline_{uuid.uuid4().hex[:8]}"
    code = tmp_path / "code"
    code.mkdir()
    (code / f"{module}.py").write_text(textwrap.dedent(PIPELINE))
    return code, module


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    termination = tmp_path / f"termination-{uuid.uuid4().hex[:6]}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KUBEASSET_")}
    environment["KUBEASSET_TERMINATION_LOG"] = str(termination)
    environment.update(env or {})
    completed = subprocess.run(
        [sys.executable, "-m", "kubeasset.runner", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=60,
    )
    return Outcome(
        completed.returncode,
        completed.stdout,
        completed.stderr,
        termination.read_text() if termination.exists() else None,
    )


def test_describe_prints_one_json_document(tmp_path: Path, location: tuple[Path, str]) -> None:
    code, module = location
    outcome = run(tmp_path, "describe", "--module", module, "--working-directory", str(code))

    assert outcome.code == EXIT_SUCCESS, outcome.stderr
    document = json.loads(outcome.stdout)  # the whole of stdout: user prints went to stderr
    assert "importing user module" in outcome.stderr
    assert (
        document["v"] == 1 and document["kind"] == "CodeLocationDescription" and document["module"] == module
    )
    assets = {entry["key"]: entry for entry in document["assets"]}
    # Topological order, ties broken by key: the same order in every process.
    assert list(assets) == ["raw", "broken", "after_broken", "slow", "warehouse/orders"]
    assert assets["warehouse/orders"] == {
        "key": "warehouse/orders",
        "deps": ["raw"],
        "group": "sales",
        "tags": {"tier": "gold"},
        "owners": ["team:sales"],
        "kinds": ["python"],
        "description": "Sorted orders.",
        "codeVersion": "1",
        "metadata": {"doc": {"type": "text", "value": "https://wiki"}},
    }
    assert assets["after_broken"]["deps"] == ["broken"]
    jobs = {job["name"]: job for job in document["jobs"]}
    assert jobs["sales"] == {
        "name": "sales",
        "selection": "group:sales",
        "description": "Sales assets",
        "tags": {"team": "sales"},
        "config": {},
        "assetKeys": ["warehouse/orders"],
    }
    assert jobs["listed"]["assetKeys"] == ["raw", "warehouse/orders"]
    assert jobs["listed"]["config"] == {"limit": 3}
    assert isinstance(jobs["listed"]["selection"], str)
    assert len(document["graphHash"]) == 16

    assert outcome.termination is not None
    summary = json.loads(outcome.termination)
    assert summary["result"] == "Succeeded" and summary["graphHash"] == document["graphHash"]


def test_describe_load_failure_is_a_json_error_and_exit_1(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "cyclic_defs.py").write_text(
        textwrap.dedent("""
        from kubeasset import Definitions, asset

        @asset(deps=["b"])
        def a() -> int:
            return 1

        @asset(deps=["a"])
        def b() -> int:
            return 1

        defs = Definitions(assets=[a, b])
    """)
    )
    outcome = run(tmp_path, "describe", "--module", "cyclic_defs", "--working-directory", str(code))

    assert outcome.code == 1
    document = json.loads(outcome.stdout)
    error = document["error"]
    assert document["kind"] == "CodeLocationError"
    assert error["type"] == "CodeLocationLoadError" and error["causeType"] == "CycleError"
    assert "dependency cycle: a -> b -> a" in error["message"]
    assert "Traceback" in error["traceback"]
    assert "dependency cycle" in outcome.stderr
    assert "Traceback" not in outcome.stderr  # only with --debug
    assert outcome.termination is not None
    summary = parse_run_summary(outcome.termination)
    assert summary.result == "Error" and summary.error is not None and summary.error["type"] == "CycleError"

    debug = run(tmp_path, "describe", "--module", "cyclic_defs", "--working-directory", str(code), "--debug")
    assert "Traceback" in debug.stderr


def test_describe_missing_module(tmp_path: Path) -> None:
    outcome = run(tmp_path, "describe", "--module", "no_such_module_here")
    assert outcome.code == 1
    assert json.loads(outcome.stdout)["error"]["causeType"] == "ModuleNotFoundError"
    assert "no module named 'no_such_module_here'" in outcome.stderr


def test_execute_streams_events_and_writes_the_summary(tmp_path: Path, location: tuple[Path, str]) -> None:
    code, module = location
    storage = tmp_path / "storage"
    outcome = run(
        tmp_path,
        "execute",
        "--module",
        module,
        "--working-directory",
        str(code),
        "--assets",
        "warehouse/orders,raw",
        "--run",
        "run-1",
        "--storage",
        str(storage),
        "--scheduled-time",
        "2024-05-01T02:00:00Z",
        "--config",
        '{"limit": 3}',
        "--tags",
        '{"team": "sales"}',
    )

    assert outcome.code == EXIT_SUCCESS, outcome.stderr
    events = outcome.events
    assert [type(e).__name__ for e in events] == [
        "RunStarted",
        "AssetStarted",
        "AssetMaterialized",
        "AssetStarted",
        "AssetMaterialized",
        "RunFinished",
    ]
    assert all(e.run_name == "run-1" for e in events)
    started = events[0]
    assert isinstance(started, RunStarted)
    assert [str(k) for k in started.asset_keys] == ["raw", "warehouse/orders"]  # topological order
    orders_event = events[4]
    assert isinstance(orders_event, AssetMaterialized)
    assert orders_event.metadata["dagster/row_count"].value == 3
    assert orders_event.metadata["path"].value == str(storage / "warehouse" / "orders")
    assert orders_event.code_version == "1" and orders_event.data_version
    # User output is untouched, and an unterminated print does not swallow the next event line.
    assert "importing user module" in outcome.user_lines
    assert "user print without newline" in outcome.user_lines
    assert (
        "run=run-1 scheduled=2024-05-01T02:00:00+00:00 config={'limit': 3} tags={'team': 'sales'}"
        in outcome.user_lines
    )
    assert "to stderr" in outcome.stderr
    assert (storage / "warehouse" / "orders").is_file()

    assert outcome.termination is not None
    summary = parse_run_summary(outcome.termination)
    assert (summary.run_name, summary.result, summary.exit_code) == ("run-1", "Succeeded", 0)
    # States follow the --assets order as given.
    assert summary.states_by_key(["warehouse/orders", "raw"]) == {
        "warehouse/orders": "Materialized",
        "raw": "Materialized",
    }


def test_execute_failure_exit_1_with_failed_and_skipped(tmp_path: Path, location: tuple[Path, str]) -> None:
    code, module = location
    outcome = run(
        tmp_path,
        "execute",
        "--module",
        module,
        "--working-directory",
        str(code),
        "--assets",
        "raw,broken,after_broken",
        "--storage",
        str(tmp_path / "s"),
    )

    assert outcome.code == EXIT_ASSETS_FAILED
    failed = [e for e in outcome.events if isinstance(e, AssetFailed)]
    skipped = [e for e in outcome.events if isinstance(e, AssetSkipped)]
    assert [str(e.asset_key) for e in failed] == ["broken"]
    assert failed[0].error.type == "ValueError" and failed[0].error.message == "boom in broken"
    assert 'raise ValueError("boom in broken")' in failed[0].error.traceback
    assert [(str(e.asset_key), [str(k) for k in e.failed_upstream]) for e in skipped] == [
        ("after_broken", ["broken"])
    ]
    finished = outcome.events[-1]
    assert isinstance(finished, RunFinished) and not finished.success
    assert "asset broken failed: ValueError: boom in broken" in outcome.stderr

    assert outcome.termination is not None
    summary = parse_run_summary(outcome.termination)
    assert summary.result == "Failed" and summary.exit_code == 1
    assert summary.states == "MFS"
    assert [(f.key, f.error) for f in summary.failed] == [("broken", "ValueError: boom in broken")]


def test_second_run_loads_upstream_from_storage(tmp_path: Path, location: tuple[Path, str]) -> None:
    code, module = location
    storage = str(tmp_path / "storage")
    common = ("--module", module, "--working-directory", str(code), "--storage", storage)
    assert run(tmp_path, "execute", *common, "--assets", "raw").code == EXIT_SUCCESS

    second = run(tmp_path, "execute", *common, "--assets", "warehouse/orders")
    assert second.code == EXIT_SUCCESS, second.stderr
    assert [str(k) for k in second.events[0].asset_keys] == ["warehouse/orders"]  # type: ignore[union-attr]
    assert "user print without newline" not in second.stdout  # raw was loaded, not recomputed

    fresh = run(
        tmp_path,
        "execute",
        "--module",
        module,
        "--working-directory",
        str(code),
        "--storage",
        str(tmp_path / "empty"),
        "--assets",
        "warehouse/orders",
    )
    assert fresh.code == EXIT_ASSETS_FAILED
    failure = next(e for e in fresh.events if isinstance(e, AssetFailed))
    assert failure.error.type == "kubeasset.errors.StoredValueNotFoundError"
    assert "materialize raw first" in failure.error.message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--assets", "raw,nope,warehouse/missing"), "unknown assets nope, warehouse/missing"),
        (("--assets", "bad key"), "'bad key' is not an asset key"),
        (("--assets", " , "), "names no asset"),
        (("--assets", "raw", "--config", "[1]"), "--config must be a JSON object"),
        (("--assets", "raw", "--scheduled-time", "yesterday"), "not an RFC 3339 time"),
        (("--assets", "raw", "--tags", '{"bad tag": "x"}'), "invalid tag key 'bad tag'"),
        ((), "no assets given"),
    ],
)
def test_execute_could_not_start_exit_2(
    tmp_path: Path,
    location: tuple[Path, str],
    args: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In-process (the same main() the module runs) to keep the many argument cases fast.
    code, module = location
    termination = tmp_path / "termination"
    for variable in [name for name in os.environ if name.startswith("KUBEASSET_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("KUBEASSET_TERMINATION_LOG", str(termination))

    exit_code = main(["execute", "--module", module, "--working-directory", str(code), *args])

    captured = capsys.readouterr()
    assert exit_code == EXIT_COULD_NOT_START
    assert message in captured.err
    assert [line for line in captured.out.splitlines() if parse_event_line(line)] == []
    summary = parse_run_summary(termination.read_text())
    assert summary.result == "Error" and summary.exit_code == 2
    assert summary.error is not None and message in summary.error["message"]


def test_execute_with_unloadable_module_exit_2(tmp_path: Path) -> None:
    outcome = run(tmp_path, "execute", "--module", "no_such_pipeline", "--assets", "a")
    assert outcome.code == EXIT_COULD_NOT_START
    assert outcome.termination is not None
    summary = parse_run_summary(outcome.termination)
    assert summary.error is not None and summary.error["type"] == "ModuleNotFoundError"


def test_bad_command_line_exit_2(tmp_path: Path) -> None:
    outcome = run(tmp_path, "execute")
    assert outcome.code == EXIT_COULD_NOT_START
    assert "KUBEASSET_MODULE" in outcome.stderr
    outcome = run(tmp_path, "frobnicate")
    assert outcome.code == EXIT_COULD_NOT_START and "invalid choice" in outcome.stderr


def test_environment_variables_replace_arguments(tmp_path: Path, location: tuple[Path, str]) -> None:
    code, module = location
    outcome = run(
        tmp_path,
        "execute",
        env={
            "KUBEASSET_MODULE": module,
            "KUBEASSET_WORKING_DIRECTORY": str(code),
            "KUBEASSET_ASSETS": "raw",
            "KUBEASSET_RUN_NAME": "from-env",
            "KUBEASSET_STORAGE_URL": str(tmp_path / "env-storage"),
        },
    )
    assert outcome.code == EXIT_SUCCESS, outcome.stderr
    assert outcome.events[0].run_name == "from-env"
    assert (tmp_path / "env-storage" / "raw").is_file()


def test_sigterm_cancels_the_run(tmp_path: Path, location: tuple[Path, str]) -> None:
    code, module = location
    termination = tmp_path / "termination"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KUBEASSET_")}
    environment["KUBEASSET_TERMINATION_LOG"] = str(termination)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeasset.runner",
            "execute",
            "--module",
            module,
            "--working-directory",
            str(code),
            "--assets",
            "raw,slow",
            "--run",
            "cancel-me",
            "--storage",
            str(tmp_path / "s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.strip() == "slow started":
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    lines.extend(rest.splitlines())

    assert process.returncode == 128 + signal.SIGTERM
    events: list[Any] = [e for e in (parse_event_line(line) for line in lines) if e is not None]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.canceled
    assert dict(finished.counts)["canceled"] == 1
    summary = parse_run_summary(termination.read_text())
    assert summary.result == "Canceled" and summary.exit_code == 143
    assert summary.states_by_key(["raw", "slow"]) == {"raw": "Materialized", "slow": "Canceled"}
