"""The runner wire format: event lines round-trip, the termination summary stays within 4096 bytes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from kubeasset import AssetKey, Definitions, MaterializeResult, MetadataValue, asset, materialize
from kubeasset.errors import ProtocolError
from kubeasset.sdk import AssetsDefinition, ExecutionEvent, RunResult
from kubeasset.sdk.runner_protocol import (
    EVENT_LINE_PREFIX,
    MAX_TRACEBACK_CHARS,
    TERMINATION_MESSAGE_LIMIT,
    build_error_summary,
    build_run_summary,
    format_event_line,
    graph_hash,
    parse_event_line,
    parse_run_summary,
)


@asset
def source() -> int:
    return 1


@asset(code_version="3")
def measured(source: int) -> MaterializeResult:
    return MaterializeResult(
        value=source,
        metadata={"dagster/row_count": 10, "link": MetadataValue.url("https://x"), "nan": float("nan")},
    )


@asset
def broken(source: int) -> int:
    raise ValueError("bad\nmultiline message")


@asset
def downstream(broken: int) -> int:
    return broken


def _payload(line: str) -> dict[str, Any]:
    assert line.startswith(EVENT_LINE_PREFIX)
    return json.loads(line[len(EVENT_LINE_PREFIX) :])  # type: ignore[no-any-return]


def _events() -> list[ExecutionEvent]:
    events: list[ExecutionEvent] = []
    materialize([source, measured, broken, downstream], run_name="r-1", raise_on_error=False, on_event=events.append)
    return events


def test_every_event_round_trips_through_one_line() -> None:
    events = _events()
    assert {type(e).__name__ for e in events} == {
        "RunStarted",
        "AssetStarted",
        "AssetMaterialized",
        "AssetFailed",
        "AssetSkipped",
        "RunFinished",
    }
    for event in events:
        line = format_event_line(event)
        assert line.startswith(EVENT_LINE_PREFIX) and "\n" not in line
        payload = json.loads(line[len(EVENT_LINE_PREFIX) :])
        assert payload["v"] == 1 and payload["type"] == type(event).__name__ and payload["run"] == "r-1"
        assert payload["time"].endswith("Z")
        parsed = parse_event_line(line)
        if type(event).__name__ == "AssetMaterialized" and "nan" in getattr(event, "metadata", {}):
            assert parsed is not None
            continue  # NaN != NaN; checked below
        assert parsed == event


def test_materialized_event_json_fields() -> None:
    event = next(e for e in _events() if type(e).__name__ == "AssetMaterialized" and str(e.asset_key) == "measured")
    payload = _payload(format_event_line(event))
    assert payload["key"] == "measured"
    assert payload["codeVersion"] == "3"
    assert payload["stored"] is True and isinstance(payload["dataVersion"], str)
    assert payload["metadata"]["dagster/row_count"] == {"type": "int", "value": 10}
    assert payload["metadata"]["link"] == {"type": "url", "value": "https://x"}
    assert payload["metadata"]["nan"] == {"type": "float", "value": "NaN"}
    assert isinstance(payload["durationSeconds"], float)


def test_failed_and_skipped_event_json_fields() -> None:
    events = _events()
    failed = _payload(format_event_line(next(e for e in events if type(e).__name__ == "AssetFailed")))
    assert failed["key"] == "broken"
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["message"] == "bad\nmultiline message"
    assert "raise ValueError" in failed["error"]["traceback"]
    skipped = _payload(format_event_line(next(e for e in events if type(e).__name__ == "AssetSkipped")))
    assert skipped["key"] == "downstream"
    assert skipped["upstream"] == ["broken"] and skipped["failedUpstream"] == ["broken"]
    finished = _payload(format_event_line(events[-1]))
    assert finished["success"] is False and finished["canceled"] is False
    assert finished["counts"] == {"total": 4, "materialized": 2, "failed": 1, "skipped": 1, "canceled": 0}


def test_user_output_is_not_an_event_and_a_glued_prefix_is_still_found() -> None:
    event = _events()[0]
    assert parse_event_line("hello from user code") is None
    assert parse_event_line('{"type": "RunStarted"}') is None
    assert parse_event_line("progress 50%" + format_event_line(event)) == event


@pytest.mark.parametrize(
    "line",
    [
        EVENT_LINE_PREFIX + "not json",
        EVENT_LINE_PREFIX + "[1]",
        EVENT_LINE_PREFIX + '{"v": 2, "type": "RunStarted"}',
        EVENT_LINE_PREFIX + '{"v": 1, "type": "Nope"}',
        EVENT_LINE_PREFIX + '{"v": 1, "type": "AssetStarted", "run": "r", "time": "2024-01-01T00:00:00Z"}',
        EVENT_LINE_PREFIX + '{"v": 1, "type": "AssetStarted", "run": "r", "time": "x", "key": "a"}',
        EVENT_LINE_PREFIX
        + '{"v": 1, "type": "AssetStarted", "run": "r", "time": "2024-01-01T00:00:00Z", "key": "a b"}',
    ],
)
def test_malformed_event_lines_raise_protocol_errors(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse_event_line(line)


def test_huge_tracebacks_and_metadata_are_cut_in_the_line() -> None:
    @asset
    def deep() -> int:
        raise RuntimeError("x" * 50_000)

    @asset
    def big_metadata() -> MaterializeResult:
        return MaterializeResult(value=1, metadata={"preview": MetadataValue.md("y" * 100_000), "small": 1})

    events: list[ExecutionEvent] = []
    materialize([deep, big_metadata], raise_on_error=False, on_event=events.append)
    lines = [format_event_line(e) for e in events]
    failed = _payload(next(line for line in lines if '"AssetFailed"' in line))
    assert len(failed["error"]["message"]) <= 8192 and failed["error"]["message"].endswith("…")
    assert len(failed["error"]["traceback"]) <= MAX_TRACEBACK_CHARS
    materialized = _payload(next(line for line in lines if '"big_metadata"' in line and "Materialized" in line))
    assert materialized["metadata"]["preview"]["value"].startswith("(omitted: md value of")
    assert materialized["metadata"]["small"] == {"type": "int", "value": 1}


def _compute(index: int, fails: bool) -> Callable[[], int]:
    def compute() -> int:
        if fails:
            raise RuntimeError(f"asset {index} failed: " + "details " * 100)
        return index

    return compute


def _many_assets(count: int, failing_every: int) -> tuple[list[AssetsDefinition], list[str]]:
    """A chain of ``count`` assets with long keys; every ``failing_every``-th one fails loudly."""
    assets: list[AssetsDefinition] = []
    keys: list[str] = []
    for index in range(count):
        name = f"asset_with_a_rather_long_descriptive_name_{index:04d}"
        fails = index % failing_every == failing_every - 1

        assets.append(asset(key_prefix=["warehouse", "staging"], name=name)(_compute(index, fails)))
        keys.append(f"warehouse/staging/{name}")
    return assets, keys


def test_summary_of_500_assets_with_failures_fits_and_marks_every_asset() -> None:
    assets, keys = _many_assets(500, failing_every=7)
    result = materialize(assets, raise_on_error=False)
    assert len(result.failed_keys) == 71

    text = build_run_summary(result, keys, exit_code=1)
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    summary = parse_run_summary(text)
    assert summary.result == "Failed" and summary.exit_code == 1
    assert summary.counts == {"total": 500, "materialized": 429, "failed": 71, "skipped": 0, "canceled": 0}
    states = summary.states_by_key(keys)
    assert [key for key, state in states.items() if state == "Failed"] == [
        k.to_user_string() for k in result.failed_keys
    ]
    assert sum(state == "Materialized" for state in states.values()) == 429
    # Failed assets come with their error, as many as fit, in execution order; the rest is flagged.
    assert summary.failed[0].key == keys[6]
    assert summary.failed[0].error.startswith("RuntimeError: asset 6 failed")
    assert 0 < len(summary.failed) < 71
    assert summary.truncated


def test_summary_states_follow_the_given_asset_order_and_pending_marks_missing() -> None:
    result = materialize([source, broken, downstream], raise_on_error=False)
    summary = parse_run_summary(build_run_summary(result, ["downstream", "source", "broken", "never_ran"], exit_code=1))
    assert summary.states == "SMFP"
    assert summary.states_by_key(["downstream", "source", "broken", "never_ran"]) == {
        "downstream": "Skipped",
        "source": "Materialized",
        "broken": "Failed",
        "never_ran": "Pending",
    }
    assert summary.failed[0].key == "broken" and not summary.truncated


def test_summary_drops_states_only_when_they_cannot_fit() -> None:
    assets, keys = _many_assets(500, failing_every=100)
    result = materialize(assets, raise_on_error=False)
    text = build_run_summary(result, keys, exit_code=1, limit=400)
    assert len(text) <= 400
    summary = parse_run_summary(text)
    assert summary.states is None and summary.truncated
    assert summary.counts["failed"] == 5
    with pytest.raises(ProtocolError, match="omits per-asset states"):
        summary.states_by_key(keys)


def test_successful_summary() -> None:
    result = materialize([source, measured])
    summary = parse_run_summary(build_run_summary(result, ["source", "measured"], exit_code=0))
    assert (summary.result, summary.exit_code, summary.states, summary.failed, summary.truncated) == (
        "Succeeded",
        0,
        "MM",
        (),
        False,
    )
    assert summary.duration_seconds is not None


def test_error_summary_fits_whatever_the_message() -> None:
    text = build_error_summary("r", error_type="CodeLocationLoadError", message="m" * 100_000, exit_code=2)
    assert len(text) <= TERMINATION_MESSAGE_LIMIT
    summary = parse_run_summary(text)
    assert summary.result == "Error" and summary.exit_code == 2
    assert summary.error is not None and summary.error["type"] == "CodeLocationLoadError"


@pytest.mark.parametrize("text", ["", "nope", "[]", '{"v": 9, "run": "r"}', '{"v": 1, "run": "r"}'])
def test_malformed_summaries_raise_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_run_summary(text)


def test_graph_hash_is_stable_and_sensitive() -> None:
    first = [{"key": "a", "deps": []}, {"key": "b", "deps": ["a"]}]
    assert graph_hash(first) == graph_hash([dict(reversed(list(item.items()))) for item in first])
    assert graph_hash(first) != graph_hash([{"key": "a", "deps": []}])
    assert len(graph_hash(first)) == 16


def test_run_result_counts_match_finished_event() -> None:
    events: list[ExecutionEvent] = []
    result: RunResult = materialize(
        Definitions(assets=[source, broken, downstream]), raise_on_error=False, on_event=events.append
    )
    assert dict(events[-1].counts) == result.counts  # type: ignore[union-attr]
    assert result.asset_result(AssetKey("source")).success


def test_the_graph_hash_is_that_of_the_whole_lists_canonical_json() -> None:
    # Hashed one asset at a time, it must stay the hash of the whole list's JSON: a controller reads the
    # describe documents of images built with other kubeasset versions.
    assets = [
        {"key": "raw/orders", "deps": [], "group": "sales", "tags": {"tier": "gold"}, "metadata": {"é": 1}},
        {"key": "orders", "deps": ["raw/orders"], "group": "sales", "description": "Orders ✓", "codeVersion": None},
    ]
    canonical = json.dumps(assets, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    assert graph_hash(assets) == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert graph_hash([]) == hashlib.sha256(b"[]").hexdigest()[:16]
    assert graph_hash(iter(assets)) == graph_hash(assets)
