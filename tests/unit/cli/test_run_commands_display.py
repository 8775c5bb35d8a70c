"""What `kubeasset launch --wait` and `kubeasset runs` print for AssetRuns read from the API server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeasset.api.assetrun import AssetRun
from kubeasset.cli.run_display import (
    Reported,
    asset_rows,
    describe_run,
    final_report,
    human_duration,
    newest_first,
    progress_lines,
    runs_table,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def run(phase: str | None = None, assets: list[dict[str, Any]] | None = None, **status: Any) -> AssetRun:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {"name": "sales-1", "namespace": "shop", "creationTimestamp": "2026-11-24T11:55:00Z"},
        "spec": {"job": "sales-job"},
    }
    if phase is not None or assets is not None or status:
        body["status"] = {"phase": phase, "assets": assets, **status}
    return AssetRun.model_validate(body)


def test_each_transition_is_printed_once_even_when_the_same_status_is_seen_again() -> None:
    starting = run("Starting", podName="sales-1")
    running = run("Running", [{"key": "raw/orders", "state": "Running"}, {"key": "top", "state": "Pending"}])
    lines1, reported = progress_lines(Reported(), starting)
    lines2, reported = progress_lines(reported, running)
    lines3, reported = progress_lines(reported, running)
    assert lines1 == ["run sales-1 Starting: pod sales-1"]
    assert lines2 == ["run sales-1 Running: 2 asset(s)", "  started       raw/orders"]
    assert lines3 == []


def test_finished_assets_show_duration_metadata_or_error() -> None:
    done = run(
        "Running",
        [
            {
                "key": "raw/orders",
                "state": "Materialized",
                "durationSeconds": 1.5,
                "metadata": {"rows": {"type": "int", "value": 500}},
            },
            {"key": "cleaned", "state": "Failed", "durationSeconds": 0.25, "message": "ValueError: bad row 3"},
            {"key": "top", "state": "Skipped", "message": "upstream cleaned did not materialize"},
        ],
    )
    lines, _ = progress_lines(Reported(phase=done.status.phase if done.status else None), done)
    assert lines == [
        "  materialized  raw/orders in 1.50s  rows=500",
        "  failed        cleaned in 0.25s: ValueError: bad row 3",
        "  skipped       top: upstream cleaned did not materialize",
    ]


def test_a_traceback_message_is_shown_as_its_exception_line() -> None:
    failed = run(
        "Running",
        [{"key": "a", "state": "Failed", "message": 'Traceback (most recent call last):\n  File "x"\nKeyError: 3'}],
    )
    lines, _ = progress_lines(Reported(phase=failed.status.phase if failed.status else None), failed)
    assert lines == ["  failed        a: KeyError: 3"]


def test_a_final_phase_prints_no_phase_line_but_its_last_asset_transitions() -> None:
    final = run("Succeeded", [{"key": "a", "state": "Materialized"}])
    lines, _ = progress_lines(Reported(phase=None), final)
    assert lines == ["  materialized  a"]


def test_final_report_has_the_asset_table_and_a_verdict_with_the_message() -> None:
    failed = run(
        "Failed",
        [
            {"key": "a", "state": "Materialized", "durationSeconds": 2},
            {"key": "b", "state": "Failed", "message": "boom"},
        ],
        message="1 of 2 assets failed",
        startTime="2026-11-24T11:56:00Z",
        completionTime="2026-11-24T11:56:30Z",
    )
    report = final_report(failed, NOW)
    assert "ASSET   STATE" in report
    assert report.splitlines()[-1] == (
        "run sales-1 FAILED: 1 of 2 assets failed; 1 materialized, 1 failed, 0 skipped of 2 in 30.00s"
    )


def test_asset_rows_without_duration_show_a_dash() -> None:
    rows = asset_rows(run("Running", [{"key": "a", "state": "Pending"}]))
    assert rows == [["a", "Pending", "-", ""]]


def test_human_duration_matches_kubectl() -> None:
    assert [human_duration(s) for s in (5, 119, 200, 600, 3 * 3600 + 600, 30 * 3600, 3 * 86400 + 3600)] == [
        "5s",
        "119s",
        "3m20s",
        "10m",
        "3h10m",
        "30h",
        "3d1h",
    ]


def test_runs_table_is_newest_first_with_progress_and_ages() -> None:
    older = run(
        "Succeeded",
        [{"key": "a", "state": "Materialized"}],
        startTime="2026-11-24T11:55:10Z",
        completionTime="2026-11-24T11:55:40Z",
    )
    newer = AssetRun.model_validate(
        {
            **older.to_json(),
            "metadata": {"name": "sales-2", "namespace": "shop", "creationTimestamp": "2026-11-24T11:59:00Z"},
            "status": {
                "phase": "Running",
                "startTime": "2026-11-24T11:59:30Z",
                "assets": [{"key": "a", "state": "Failed"}, {"key": "b", "state": "Running"}],
            },
        }
    )
    table = runs_table([older, newer], NOW).splitlines()
    assert table[0].split() == ["NAME", "JOB", "PHASE", "DONE", "FAILED", "TRIGGER", "STARTED", "DURATION", "AGE"]
    assert table[1].split() == [
        "sales-2",
        "sales-job",
        "Running",
        "0/2",
        "1",
        "Manual",
        "2026-11-24T11:59:30Z",
        "30s",
        "60s",
    ]
    assert table[2].split() == [
        "sales-1",
        "sales-job",
        "Succeeded",
        "1/1",
        "0",
        "Manual",
        "2026-11-24T11:55:10Z",
        "30s",
        "5m",
    ]
    assert [r.metadata.name for r in newest_first([older, newer])] == ["sales-2", "sales-1"]
    assert runs_table([older], NOW, with_namespace=True).splitlines()[1].startswith("shop ")


def test_describe_run_shows_facts_assets_message_and_conditions() -> None:
    failed = run(
        "Failed",
        [{"key": "a", "state": "Failed", "message": "boom"}],
        message="Pod OOMKilled",
        conditions=[
            {
                "type": "Succeeded",
                "status": "False",
                "reason": "PodFailed",
                "message": "Pod OOMKilled",
                "lastTransitionTime": "2026-11-24T11:58:00Z",
            }
        ],
    )
    text = describe_run(failed, NOW)
    assert "Job:" in text and "sales-job" in text and "Phase:" in text
    assert "Message:\n  Pod OOMKilled" in text
    assert any(line.split() == ["a", "Failed", "-", "boom"] for line in text.splitlines())
    assert "Succeeded   False    PodFailed" in text
