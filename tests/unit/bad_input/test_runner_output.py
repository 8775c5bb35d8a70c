"""Bad runner output, one table row each: what a run Pod's log and termination message may hold besides
well-formed event lines (user prints, garbage, truncated or hostile JSON, megabytes of metadata, bytes that
are not UTF-8, keys with path characters), read the way the controller reads them (read_event_line,
parse_run_summary) and planned by plan_asset_run.

Each row shows what the user sees in the run's status message, and that nothing else broke: no exception
escapes the reader or the planner, the run reaches a final phase, its status validates (the driver writes
it back through the API models) and the results of the other assets are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from kubeasset.api.assetrun import AssetRunState, AssetRunStatus
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import MAX_MESSAGE_LENGTH
from kubeasset.controller.run_logs import read_event_line
from kubeasset.errors import InvalidAssetKeyError, ProtocolError
from kubeasset.graph import AssetKey
from kubeasset.reconcile.asset_run import RunPlan
from kubeasset.reconcile.discovery_result import parse_discovery
from kubeasset.reconcile.run_events import MAX_EVENT_MESSAGE
from kubeasset.reconcile.status_bounds import (
    CATALOG_METADATA_BYTES,
    OMITTED_METADATA_KEY,
    AssetStatusBudget,
)
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.events import ExecutionEvent
from kubeasset.sdk.io_manager import InMemoryIOManager
from kubeasset.sdk.run_result import AssetResult, AssetState, RunResult
from kubeasset.sdk.runner_protocol import (
    EVENT_LINE_PREFIX,
    TERMINATION_MESSAGE_LIMIT,
    build_error_summary,
    build_run_summary,
    format_event_line,
    parse_run_summary,
)
from tests.unit.reconcile import run_pod_states as states
from tests.unit.reconcile.asset_run_builders import (
    KEYS,
    Driver,
    at,
    exited,
    failed,
    materialized,
    observe,
    pod_of,
    run,
    started,
)

RUN = "sales-1"
TIME = at(1).isoformat().replace("+00:00", "Z")
#: What every row's log starts with: two assets that materialized, reported by well-formed lines.
GOOD = [
    format_event_line(started(RUN, "raw/customers", 0)),
    format_event_line(materialized(RUN, "raw/customers", 1)),
    format_event_line(started(RUN, "raw/orders", 1)),
    format_event_line(materialized(RUN, "raw/orders", 2)),
]
KEPT = ("raw/customers", "raw/orders")


def event_json(kind: str = "AssetMaterialized", **fields: Any) -> dict[str, Any]:
    """A well-formed event object for ``orders`` (its fields replaced by ``fields``)."""
    data: dict[str, Any] = {"v": 1, "type": kind, "time": TIME, "run": RUN, "key": "orders", "durationSeconds": 0.5}
    data.update(fields)
    return data


def line(data: dict[str, Any] | str) -> str:
    return EVENT_LINE_PREFIX + (data if isinstance(data, str) else json.dumps(data))


@dataclass(frozen=True)
class Row:
    """Raw log lines after GOOD, and the fragment the run's message must show ("" for none)."""

    lines: Sequence[bytes | str]
    message: str
    unreadable: int = 0


def _bytes(item: bytes | str) -> bytes:
    return item if isinstance(item, bytes) else item.encode()


GARBAGE_ROWS = {
    "prefix with garbage": Row([line("this is not json")], "1 unreadable event line", 1),
    "truncated JSON": Row([GOOD[1][: len(GOOD[1]) // 2]], "1 unreadable event line", 1),
    "JSON array, not an object": Row([line("[1, 2, 3]")], "1 unreadable event line", 1),
    "nested 100,000 deep": Row([line("[" * 100_000)], "1 unreadable event line", 1),
    "an integer of 5,000 digits": Row([line('{"v": ' + "9" * 5000 + "}")], "1 unreadable event line", 1),
    "NaN duration": Row([line(json.dumps(event_json()).replace("0.5", "NaN"))], "1 unreadable event line", 1),
    "infinite duration": Row([line(json.dumps(event_json()).replace("0.5", "1e400"))], "1 unreadable event line", 1),
    "duration of 1e300 seconds": Row([line(event_json(durationSeconds=1e300))], "1 unreadable event line", 1),
    "negative duration": Row([line(event_json(durationSeconds=-3))], "1 unreadable event line", 1),
    "time without offset": Row([line(event_json(time="2025-03-02T05:00:04"))], "1 unreadable event line", 1),
    "time in year 1": Row([line(event_json(time="0001-01-01T00:00:00+01:00"))], "1 unreadable event line", 1),
    "time not a string": Row([line(event_json(time=12))], "1 unreadable event line", 1),
    "other protocol version": Row([line(event_json(v=2))], "1 unreadable event line", 1),
    "unknown event type": Row([line(event_json(kind="AssetExploded"))], "1 unreadable event line", 1),
    "counts of 1e400": Row(
        [line(json.dumps(event_json("RunFinished", success=True, counts={"m": 1})).replace(": 1}", ": 1e400}"))],
        "1 unreadable event line",
        1,
    ),
    "codeVersion an object": Row([line(event_json(codeVersion={"a": 1}))], "1 unreadable event line", 1),
    "dataVersion a number": Row([line(event_json(dataVersion=7))], "1 unreadable event line", 1),
    "metadata of an unknown type": Row(
        [line(event_json(metadata={"rows": {"type": "nope", "value": 1}}))], "1 unreadable event line", 1
    ),
    "metadata not a mapping": Row([line(event_json(metadata=[1, 2]))], "1 unreadable event line", 1),
    "error not an object": Row([line(event_json("AssetFailed", error="boom"))], "1 unreadable event line", 1),
    "key ../etc": Row([line(event_json(key="../etc"))], "1 unreadable event line", 1),
    "key /etc/passwd": Row([line(event_json(key="/etc/passwd"))], "1 unreadable event line", 1),
    "key a//b": Row([line(event_json(key="a//b"))], "1 unreadable event line", 1),
    "key with NUL": Row([line(event_json(key="orders\x00"))], "1 unreadable event line", 1),
    "key not ASCII": Row([line(event_json(key="bestellungen/äpfel"))], "1 unreadable event line", 1),
    "key of 10 KB": Row([line(event_json(key="a" * 10_000))], "1 unreadable event line", 1),
    "key a number": Row([line(event_json(key=5))], "1 unreadable event line", 1),
    "three bad lines": Row([line("{"), line("}"), line("null")], "3 unreadable event lines", 3),
    "event for an asset not in the run": Row(
        [line(event_json(key="nope")), line(event_json("AssetStarted", key="nope/deeper"))],
        "ignored events for 2 assets not in this run (nope, nope/deeper)",
    ),
    "user output that is not UTF-8": Row([b"\xff\xfe\xfd binary \x00 junk", b"\xc3\x28"], ""),
    "a user line of 4 MB": Row(["x" * 4_000_000], ""),
    "an event line after user text without newline": Row(
        ["progress 50%" + format_event_line(failed(RUN, "orders", 3))], ""
    ),
}


def plan_log(rows_lines: Sequence[bytes | str], *, exit_code: int = 0) -> tuple[Driver, RunPlan, int]:
    """Read GOOD + ``rows_lines`` as the controller does, then plan the run whose Pod exited with ``exit_code``
    (no termination summary: the events decide)."""
    events: list[ExecutionEvent] = []
    unreadable = 0
    for raw in [*GOOD, *rows_lines]:
        try:
            event = read_event_line(_bytes(raw))
        except ProtocolError as error:
            assert len(str(error)) < 2000, "a reader's message must stay short"
            unreadable += 1
            continue
        if event is not None:
            events.append(event)
    the_run = run(RUN)
    driver = Driver.of(the_run)
    pod = pod_of(the_run, exited(exit_code))
    plan = driver.steady(observe(pod=pod, pod_seen=True, events=events, unreadable_lines=unreadable))
    return driver, plan, unreadable


def states_of(status: AssetRunStatus) -> dict[str, AssetRunState]:
    return {asset.key: asset.state for asset in status.assets or ()}


@pytest.mark.parametrize("row", GARBAGE_ROWS.values(), ids=GARBAGE_ROWS.keys())
def test_bad_log_lines_are_reported_and_the_other_results_kept(row: Row) -> None:
    driver, plan, unreadable = plan_log(row.lines, exit_code=1)

    assert unreadable == row.unreadable
    status = driver.status()
    assert status.phase == RunPhase.FAILED  # exit 1: the runner says an asset failed or went unreported
    assert row.message in driver.message()
    if not row.message:
        assert "unreadable" not in driver.message() and "ignored" not in driver.message()
    found = states_of(status)
    assert all(found[key] == AssetRunState.MATERIALIZED for key in KEPT)
    assert not {AssetRunState.PENDING, AssetRunState.RUNNING} & set(found.values())
    assert [update.key for update in plan.catalog if update.materialization is not None][:2] == list(KEPT)
    assert len(driver.message()) <= MAX_MESSAGE_LENGTH


def test_garbage_does_not_hide_success() -> None:
    # The runner exited 0 (every listed asset materialized) though a user printed a fake event line.
    driver, _, _ = plan_log([line("{oops"), b"\xff\xfe"], exit_code=0)

    assert driver.phase() == RunPhase.SUCCEEDED
    assert driver.message() == "5 of 5 assets materialized; 1 unreadable event line (see the Pod log)"
    assert set(states_of(driver.status()).values()) == {AssetRunState.MATERIALIZED}


def test_bytes_that_are_not_utf8_inside_an_event_line_are_replaced_not_fatal() -> None:
    raw = _bytes(line(event_json(metadata={"note": {"type": "text", "value": "caf\x00"}}))).replace(b"\\u0000", b"\xe9")
    driver, _, unreadable = plan_log([raw], exit_code=1)

    assert unreadable == 0
    entry = next(asset for asset in driver.status().assets or () if asset.key == "orders")
    assert entry.state == AssetRunState.MATERIALIZED
    assert (entry.to_json().get("metadata") or {})["note"]["value"] == "caf\ufffd"


HUGE = 5 * 1024 * 1024


@pytest.mark.parametrize(
    "metadata",
    [
        {"preview": {"type": "md", "value": "x" * HUGE}, "rows": {"type": "int", "value": 3}},
        {f"column_{n}": {"type": "text", "value": "y" * 1000} for n in range(5000)},
    ],
    ids=["one entry of 5 MB", "5,000 entries of 1 KB"],
)
def test_megabytes_of_metadata_are_bounded_in_the_status_and_the_catalog(metadata: dict[str, Any]) -> None:
    # Sent raw, as a runner of another version (or a hand-written one) could: the reader must bound it.
    driver, plan, _ = plan_log([line(event_json(metadata=metadata))], exit_code=0)

    assert driver.phase() == RunPhase.SUCCEEDED
    entry = next(asset for asset in driver.status().assets or () if asset.key == "orders").to_json()
    kept = entry["metadata"]
    assert len(json.dumps(kept, separators=(",", ":"))) <= AssetStatusBudget.for_run(len(KEYS)).metadata_bytes
    assert OMITTED_METADATA_KEY in kept
    catalog = next(u.materialization for u in plan.catalog if u.key == "orders" and u.materialization is not None)
    assert len(json.dumps(catalog.to_json().get("metadata") or {}, separators=(",", ":"))) <= CATALOG_METADATA_BYTES
    assert len(json.dumps(driver.status().to_json())) < 1024 * 1024


def test_an_error_message_of_a_megabyte_is_cut_in_the_status_and_the_events() -> None:
    error = {"type": "ValueError", "message": "bad row " * 200_000, "traceback": "Traceback\n" * 50_000}
    driver, _, _ = plan_log([line(event_json("AssetFailed", error=error))], exit_code=1)

    entry = next(asset for asset in driver.status().assets or () if asset.key == "orders")
    assert entry.state == AssetRunState.FAILED
    assert (entry.message or "").startswith("ValueError: bad row bad row")
    assert len(entry.message or "") <= MAX_MESSAGE_LENGTH
    assert len(driver.message()) <= MAX_MESSAGE_LENGTH
    assert driver.events and all(len(item.message) <= MAX_EVENT_MESSAGE for item in driver.events)
    assert "AssetFailed" in driver.reasons


# --- the termination summary ---------------------------------------------------------------------------


def _result(failures: int, message: str) -> RunResult:
    keys = [AssetKey.from_user_string(f"asset_{n}") for n in range(failures)]
    results = [
        AssetResult(key=key, state=AssetState.FAILED, error=ErrorInfo("ValueError", message, "tb")) for key in keys
    ]
    return RunResult(
        run_name=RUN,
        asset_results=results,
        events=(),
        duration_seconds=1.0,
        canceled=False,
        io_manager=InMemoryIOManager(),
    )


def _cut_by_kubernetes(text: str) -> str:
    """What the kubelet keeps of a termination message: its first 4096 bytes."""
    return text.encode()[:TERMINATION_MESSAGE_LIMIT].decode(errors="ignore")


def summary_json(**fields: Any) -> str:
    return json.dumps({"v": 1, "run": RUN, "result": "Failed", "exitCode": 1, **fields})


SUMMARY_ROWS: dict[str, Callable[[], str]] = {
    "over the size limit, cut by Kubernetes": lambda: _cut_by_kubernetes(
        build_run_summary(_result(300, "e" * 150), [f"asset_{n}" for n in range(300)], exit_code=1, limit=10**6)
    ),
    "not JSON (the log tail of FallbackToLogsOnError)": lambda: "Traceback (most recent call last):\n  boom",
    "nested too deep": lambda: "[" * 50_000,
    "states of unknown codes": lambda: summary_json(states="MMXQZ"),
    "states not a string": lambda: summary_json(states=5),
    "exit code of 1e400": lambda: '{"v":1,"run":"r","result":"Failed","exitCode":1e400}',
    "duration NaN": lambda: '{"v":1,"run":"r","result":"Failed","exitCode":1,"durationSeconds":NaN}',
    "failed entries not objects": lambda: summary_json(failed=[1]),
    "failed entry without error": lambda: summary_json(failed=[{"key": "orders"}]),
    "other protocol version": lambda: summary_json(v=9),
}


@pytest.mark.parametrize("make", SUMMARY_ROWS.values(), ids=SUMMARY_ROWS.keys())
def test_unreadable_summaries_raise_protocol_error_and_the_events_decide(make: Callable[[], str]) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_run_summary(make())
    assert len(str(raised.value)) < 2000
    # The controller plans without the summary it could not read: the events' results stand.
    driver, _, _ = plan_log([format_event_line(failed(RUN, "orders", 3))], exit_code=1)
    found = states_of(driver.status())
    assert [found[key] for key in (*KEPT, "orders")] == [AssetRunState.MATERIALIZED] * 2 + [AssetRunState.FAILED]
    assert driver.phase() == RunPhase.FAILED


def test_the_runner_keeps_its_summary_within_the_limit_however_many_failures() -> None:
    assets = [f"asset_{n}" for n in range(5000)]
    text = build_run_summary(_result(5000, "no rows " * 100), assets, exit_code=1)

    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    summary = parse_run_summary(text)
    assert summary.truncated and summary.counts["failed"] == 5000


def test_a_summary_for_other_assets_is_noted_and_does_not_replace_the_events() -> None:
    # A summary whose states do not match the run's keys (and names keys with path characters).
    summary = parse_run_summary(
        json.dumps(
            {
                "v": 1,
                "run": RUN,
                "result": "Failed",
                "exitCode": 1,
                "states": "FF",
                "failed": [{"key": "../etc", "error": "x"}, {"key": "a/b", "error": "y"}],
            }
        )
    )
    events = [read_event_line(_bytes(item)) for item in GOOD]
    the_run = run(RUN)
    driver = Driver.of(the_run)
    pod = pod_of(the_run, exited(1))
    driver.steady(observe(pod=pod, pod_seen=True, events=[e for e in events if e is not None], summary=summary))

    assert "the termination summary does not match the run's assets" in driver.message()
    found = states_of(driver.status())
    assert all(found[key] == AssetRunState.MATERIALIZED for key in KEPT)
    assert set(found) == set(KEYS)  # no entry for "../etc" or "a/b"


def test_a_could_not_start_summary_with_a_huge_message_stays_bounded() -> None:
    text = build_error_summary(RUN, error_type="CodeLocationLoadError", message="no module " * 100_000, exit_code=2)
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    the_run = run(RUN)
    driver = Driver.of(the_run)
    pod = pod_of(the_run, states.terminated(2, "Error", message=text))
    driver.steady(observe(pod=pod, pod_seen=True, summary=parse_run_summary(text)))

    assert driver.phase() == RunPhase.FAILED
    assert driver.message().startswith("the run could not start: CodeLocationLoadError: no module no module")
    assert len(driver.message()) <= MAX_MESSAGE_LENGTH
    assert set(states_of(driver.status()).values()) == {AssetRunState.CANCELED}


TAILS = {
    "deeply nested": "[" * 50_000,
    "an integer of 5,000 digits": "9" * 5000,
    "not UTF-8 replaced": "Traceback\n  \ufffd\ufffd boom",
    "NaN": '{"v":1,"run":"r","result":"Failed","exitCode":NaN}',
}


@pytest.mark.parametrize("tail", TAILS.values(), ids=TAILS.keys())
def test_a_log_tail_in_the_termination_message_never_breaks_the_plan(tail: str) -> None:
    # FallbackToLogsOnError: a runner that died before its summary leaves its last log lines there.
    the_run = run(RUN)
    driver = Driver.of(the_run)
    pod = pod_of(the_run, states.terminated(3, "Error", message=tail))
    events = [read_event_line(_bytes(item)) for item in GOOD]

    driver.steady(observe(pod=pod, pod_seen=True, events=[e for e in events if e is not None]))

    assert driver.phase() == RunPhase.FAILED
    assert len(driver.message()) <= MAX_MESSAGE_LENGTH
    found = states_of(driver.status())
    assert all(found[key] == AssetRunState.MATERIALIZED for key in KEPT)
    assert not {AssetRunState.PENDING, AssetRunState.RUNNING} & set(found.values())


@pytest.mark.parametrize(
    "line",
    [
        '{"v": 1, "kind": "CodeLocationDescription", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"v": 1, "kind": "CodeLocationDescription", "x": ' + "9" * 5000 + "}",
    ],
    ids=["nested-100000-deep", "integer-of-5000-digits"],
)
def test_a_discovery_log_with_hostile_json_is_a_clear_failure_not_a_crash(line: str) -> None:
    result = parse_discovery(line, line, 0, location_name="shop")
    assert not result.ok and result.failure is not None
    assert "no complete describe document" in result.failure.message
    assert len(result.failure.message) <= 2000  # the tail of the log, cut to the message budget


def test_an_invalid_key_of_10_kb_gives_a_short_message() -> None:
    with pytest.raises(InvalidAssetKeyError) as raised:
        AssetKey("x" * 10_000 + "!")
    assert len(str(raised.value)) < 300 and "10003 characters" in str(raised.value)
