"""fold_run_progress: a run's per-asset status from its event lines, its summary and its Pod."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeasset import MaterializeResult, MetadataValue, asset, materialize
from kubeasset.api.assetrun import AssetRunState, AssetRunStatus
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import MAX_MESSAGE_LENGTH, MAX_SHORT_STRING
from kubeasset.graph import AssetKey
from kubeasset.reconcile.pod_outcome import PodOutcome, classify_pod
from kubeasset.reconcile.run_catalog import catalog_updates
from kubeasset.reconcile.run_progress import RunProgress, fold_run_progress
from kubeasset.reconcile.status_bounds import OMITTED_METADATA_KEY
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.events import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    AssetStarted,
    ExecutionEvent,
    RunFinished,
    RunStarted,
)
from kubeasset.sdk.runner_protocol import (
    RunSummary,
    build_error_summary,
    build_run_summary,
    format_event_line,
    parse_event_line,
    parse_run_summary,
)
from tests.unit.reconcile import run_pod_states as states

RUN = "shop-run-1"
KEYS = ["raw", "orders", "report"]
T0 = datetime(2025, 3, 2, 5, 0, 4, tzinfo=UTC)
NOW = datetime(2025, 3, 2, 5, 1, tzinfo=UTC)
S, F, C, P, R, M = (
    AssetRunState.SKIPPED,
    AssetRunState.FAILED,
    AssetRunState.CANCELED,
    AssetRunState.PENDING,
    AssetRunState.RUNNING,
    AssetRunState.MATERIALIZED,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def key(text: str) -> AssetKey:
    return AssetKey.from_user_string(text)


def started(name: str, second: float) -> AssetStarted:
    return AssetStarted(run_name=RUN, asset_key=key(name), timestamp=at(second))


def materialized(name: str, second: float, **fields: Any) -> AssetMaterialized:
    fields.setdefault("duration_seconds", 1.0)
    return AssetMaterialized(run_name=RUN, asset_key=key(name), timestamp=at(second), **fields)


def failed(name: str, second: float, message: str = "no rows") -> AssetFailed:
    error = ErrorInfo(type="ValueError", message=message, traceback="Traceback ...")
    return AssetFailed(run_name=RUN, asset_key=key(name), error=error, duration_seconds=0.5, timestamp=at(second))


def skipped(name: str, second: float, origin: str) -> AssetSkipped:
    return AssetSkipped(
        run_name=RUN, asset_key=key(name), upstream=(key(origin),), failed_upstream=(key(origin),), timestamp=at(second)
    )


def outcome(status: dict[str, Any] | None, **pod_options: Any) -> PodOutcome:
    pod = None if status is None else states.pod(status, **pod_options)
    return classify_pod(pod, now=NOW, start_timeout_seconds=None, previously_seen=status is None)


NOT_CREATED = classify_pod(None, now=NOW, start_timeout_seconds=None)


def fold(
    events: Sequence[ExecutionEvent],
    pod: PodOutcome,
    summary: RunSummary | None = None,
    keys: Sequence[str] = KEYS,
    **options: Any,
) -> RunProgress:
    return fold_run_progress(keys, events, summary, pod, NOW, **options)


def states_of(progress: RunProgress) -> list[AssetRunState]:
    return [item.state for item in progress.assets]


def by_key(progress: RunProgress) -> dict[str, Any]:
    return {item.key: item for item in progress.assets}


RUNNING_EVENTS: list[ExecutionEvent] = [
    RunStarted(run_name=RUN, asset_keys=tuple(map(key, KEYS)), timestamp=at(0)),
    started("raw", 0.1),
    materialized(
        "raw",
        1.1,
        metadata={"dagster/row_count": MetadataValue.int(120)},
        code_version="2",
        data_version="9c1e",
        stored=True,
    ),
    started("orders", 1.2),
]


# --- phases ---------------------------------------------------------------------------------------


def test_without_a_pod_the_run_is_pending() -> None:
    progress = fold([], NOT_CREATED)
    assert progress.phase == RunPhase.PENDING
    assert states_of(progress) == [P, P, P]
    assert progress.progress == "0/3"


def test_while_the_pod_is_not_running_the_run_is_starting_with_the_pod_reason() -> None:
    progress = fold([], outcome(states.UNSCHEDULABLE))
    assert (progress.phase, progress.reason) == (RunPhase.STARTING, "Unschedulable")
    assert "3 Insufficient memory" in progress.message
    pulling = fold([], outcome(states.IMAGE_PULL_BACKOFF))
    assert (pulling.phase, pulling.reason) == (RunPhase.STARTING, "ImagePullBackOff")


def test_while_running_assets_show_live_progress() -> None:
    progress = fold(RUNNING_EVENTS, outcome(states.RUNNING))
    assert progress.phase == RunPhase.RUNNING
    assert states_of(progress) == [M, R, P]
    raw, orders, _ = progress.assets
    assert (raw.start_time, raw.end_time, raw.duration_seconds) == (at(0.1), at(1.1), 1.0)
    assert raw.metadata is not None and raw.metadata["dagster/row_count"].value == 120
    assert raw.data_version == "9c1e"
    assert orders.start_time == at(1.2) and orders.end_time is None
    assert progress.message == "1 of 3 assets materialized; running orders"
    assert progress.start_time == datetime(2025, 3, 2, 5, 0, 3, tzinfo=UTC)  # the container's start
    assert progress.completion_time is None
    assert progress.progress == "1/3"


def test_succeeds_only_when_every_asset_materialized_and_the_pod_succeeded() -> None:
    events = [*RUNNING_EVENTS, materialized("orders", 2.2), started("report", 2.3), materialized("report", 3.0)]
    assert fold(events, outcome(states.RUNNING)).phase == RunPhase.RUNNING  # the Pod has not ended yet
    progress = fold(events, outcome(states.SUCCEEDED))
    assert (progress.phase, progress.reason) == (RunPhase.SUCCEEDED, "Succeeded")
    assert states_of(progress) == [M, M, M]
    assert progress.counts.materialized == 3
    assert progress.completion_time == datetime(2025, 3, 2, 5, 0, 15, tzinfo=UTC)


def test_failed_and_skipped_assets_fail_the_run() -> None:
    events = [*RUNNING_EVENTS, failed("orders", 1.7), skipped("report", 1.8, "orders")]
    progress = fold(events, outcome(states.ASSETS_FAILED), parse_run_summary(states.SUMMARY_ASSET_FAILED))
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "AssetsFailed")
    assert states_of(progress) == [M, F, S]
    assets = by_key(progress)
    assert assets["orders"].message == "ValueError: no rows"
    assert assets["report"].message == "not run: upstream orders failed"
    assert progress.message == "1 of 3 assets materialized, 1 failed (orders: ValueError: no rows), 1 skipped"
    assert (progress.counts.failed, progress.counts.skipped) == (1, 1)


# --- never regress ------------------------------------------------------------------------------


def test_a_final_state_never_regresses() -> None:
    events: list[ExecutionEvent] = [
        started("raw", 0),
        materialized("raw", 1, data_version="first"),
        started("raw", 2),  # duplicated, late
        materialized("raw", 3, data_version="second"),  # duplicated
        failed("raw", 4),  # contradicting
    ]
    progress = fold(events, outcome(states.RUNNING))
    raw = by_key(progress)["raw"]
    assert (raw.state, raw.data_version, raw.end_time, raw.message) == (M, "first", at(1), None)


def test_an_event_before_its_start_event_still_counts() -> None:
    progress = fold([materialized("raw", 2.0, duration_seconds=1.5), started("raw", 0.5)], outcome(states.RUNNING))
    raw = by_key(progress)["raw"]
    assert raw.state == M
    assert raw.start_time == at(0.5)  # derived from the duration, and agreeing with the late event


def test_any_order_of_the_same_events_gives_the_same_final_states() -> None:
    events = [*RUNNING_EVENTS, failed("orders", 1.7), skipped("report", 1.8, "orders")]
    expected = states_of(fold(events, outcome(states.RUNNING)))
    shuffler = random.Random(4)
    for _ in range(30):
        shuffled = list(events)
        shuffler.shuffle(shuffled)
        assert states_of(fold(shuffled + shuffled[:3], outcome(states.RUNNING))) == expected


def test_folding_again_from_the_start_gives_the_same_result() -> None:
    events = [*RUNNING_EVENTS, failed("orders", 1.7)]
    assert fold(events, outcome(states.RUNNING)) == fold(list(events), outcome(states.RUNNING))


def test_events_of_other_assets_are_ignored() -> None:
    progress = fold([started("elsewhere", 0), materialized("elsewhere", 1)], outcome(states.RUNNING))
    assert [item.key for item in progress.assets] == KEYS
    assert states_of(progress) == [P, P, P]


# --- a Pod that dies without reporting ----------------------------------------------------------


def test_an_oom_killed_pod_fails_the_running_asset_and_cancels_the_rest() -> None:
    progress = fold(RUNNING_EVENTS, outcome(states.OOM_KILLED))
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "OOMKilled")
    assert states_of(progress) == [M, F, C]
    assets = by_key(progress)
    assert assets["orders"].message == "Pod shop-run-1 was OOMKilled (memory limit 256Mi) after 12s"
    assert assets["orders"].end_time == datetime(2025, 3, 2, 5, 0, 15, tzinfo=UTC)
    assert assets["report"].message == "not run: the Pod was OOMKilled"
    assert progress.message.startswith("Pod shop-run-1 was OOMKilled (memory limit 256Mi) after 12s; ")
    assert "1 of 3 assets materialized, 1 failed" in progress.message


DEATHS = [
    ("evicted", states.EVICTED, {}, "Evicted", "the Pod was evicted"),
    ("deadline", states.DEADLINE_EXCEEDED, {"deadline": 60}, "DeadlineExceeded", "the run timeout was exceeded"),
    ("oom", states.OOM_KILLED, {}, "OOMKilled", "the Pod was OOMKilled"),
    ("crash", states.RUNNER_CRASHED, {}, "Error", "the Pod failed with exit code 3"),
    ("segfault", states.SEGFAULT, {}, "Error", "the Pod failed with exit code 139"),
    ("deleted", states.KILLED_ON_DELETE, {"deleting": True}, "Deleted", "the Pod was deleted"),
    ("node lost", states.NODE_LOST, {}, "NodeLost", "the Pod's node was lost"),
    ("admission", states.OUT_OF_MEMORY, {}, "OutOfmemory", "the Pod ended (OutOfmemory)"),
    ("no python", states.START_ERROR, {}, "ContainerCannotRun", "the container could not run"),
    ("invalid image", states.INVALID_IMAGE_NAME, {}, "InvalidImageName", "the Pod could not start (InvalidImageName)"),
    ("vanished", None, {}, "Deleted", "the Pod was deleted"),
]


@pytest.mark.parametrize(("status", "options", "reason", "cause"), [d[1:] for d in DEATHS], ids=[d[0] for d in DEATHS])
def test_each_pod_death_fails_the_run_with_its_kubernetes_reason(
    status: dict[str, Any] | None, options: dict[str, Any], reason: str, cause: str
) -> None:
    pod = outcome(status, **options)
    progress = fold(RUNNING_EVENTS, pod)
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, reason)
    assert states_of(progress) == [M, F, C]
    assets = by_key(progress)
    assert assets["orders"].message == pod.message
    assert assets["report"].message == f"not run: {cause}"
    assert progress.message.startswith(pod.message)
    assert progress.completion_time is not None


def test_a_pod_that_never_started_cancels_every_asset() -> None:
    progress = fold([], outcome(states.INVALID_IMAGE_NAME))
    assert progress.phase == RunPhase.FAILED
    assert states_of(progress) == [C, C, C]
    assert "repository name must be lowercase" in progress.message


def test_a_start_timeout_fails_the_run() -> None:
    late = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
    pod = classify_pod(states.pod(states.IMAGE_PULL_BACKOFF), now=late, start_timeout_seconds=600)
    progress = fold_run_progress(KEYS, [], None, pod, late)
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "StartTimeout")
    assert by_key(progress)["raw"].message == "not run: the Pod did not start in time"


def test_a_terminating_pod_keeps_the_run_running_until_it_stopped() -> None:
    progress = fold(RUNNING_EVENTS, outcome(states.DRAINED, deleting=True))
    assert (progress.phase, progress.reason) == (RunPhase.RUNNING, "Terminating")
    assert states_of(progress) == [M, R, P]


# --- the summary ------------------------------------------------------------------------------


def test_the_summary_alone_recovers_every_asset_state() -> None:
    progress = fold([], outcome(states.ASSETS_FAILED), parse_run_summary(states.SUMMARY_ASSET_FAILED))
    assert states_of(progress) == [M, F, S]
    assert by_key(progress)["orders"].message == "ValueError: no rows"
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "AssetsFailed")


def test_the_summary_does_not_override_what_events_said() -> None:
    summary = parse_run_summary(states.SUMMARY_ASSET_FAILED)
    events: list[ExecutionEvent] = [started("raw", 0), materialized("raw", 1, metadata={"n": MetadataValue.int(7)})]
    progress = fold(events, outcome(states.ASSETS_FAILED), summary)
    raw = by_key(progress)["raw"]
    assert raw.metadata is not None and raw.metadata["n"].value == 7
    assert raw.end_time == at(1)


def test_a_successful_pod_whose_events_were_lost_materialized_everything() -> None:
    progress = fold([], outcome(states.SUCCEEDED), parse_run_summary(states.SUMMARY_OK))
    assert states_of(progress) == [M, M, M]
    assert progress.phase == RunPhase.SUCCEEDED
    assert progress.message == "3 of 3 assets materialized in 12s"
    without_summary = fold([started("raw", 0)], outcome(states.SUCCEEDED))
    assert states_of(without_summary) == [M, M, M]  # exit 0 says so


def test_a_run_that_could_not_start_says_why() -> None:
    text = build_error_summary(RUN, error_type="ModuleNotFoundError", message="No module named 'shop'", exit_code=2)
    pod = outcome(states.terminated(2, "Error", message=text))
    progress = fold([], pod, parse_run_summary(text))
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "CouldNotStart")
    assert progress.message == "the run could not start: ModuleNotFoundError: No module named 'shop'"
    assert states_of(progress) == [C, C, C]
    assert (
        by_key(progress)["raw"].message
        == "not run: the run could not start (ModuleNotFoundError: No module named 'shop')"
    )


def test_a_summary_of_another_asset_list_is_reported_not_trusted() -> None:
    summary = parse_run_summary(states.SUMMARY_ASSET_FAILED)  # three states
    progress = fold([], outcome(states.ASSETS_FAILED), summary, keys=["raw", "orders"])
    assert "the termination summary does not match" in progress.message
    assert by_key(progress)["orders"].state == F  # named in the summary's failed list


def test_a_summary_without_states_still_names_the_failed_assets() -> None:
    summary = parse_run_summary(
        '{"v":1,"run":"shop-run-1","result":"Failed","exitCode":1,"counts":{"total":3,"materialized":2,'
        '"failed":1,"skipped":0,"canceled":0},"durationSeconds":4.2,"truncated":true,'
        '"failed":[{"key":"orders","error":"ValueError: no rows"}]}'
    )
    progress = fold([started("raw", 0), materialized("raw", 1)], outcome(states.ASSETS_FAILED), summary)
    assert states_of(progress) == [M, F, C]
    assert by_key(progress)["report"].message == "no result reported: its event line was not read (see the Pod log)"


def test_an_interrupted_run_cancels_what_did_not_finish() -> None:
    events: list[ExecutionEvent] = [
        *RUNNING_EVENTS,
        RunFinished(run_name=RUN, success=False, canceled=True, counts={}, duration_seconds=11.0, timestamp=at(11)),
    ]
    pod = outcome(states.KILLED_ON_DELETE, deleting=True)
    progress = fold(events, pod, parse_run_summary(pod.termination_message or ""))
    assert states_of(progress) == [M, C, C]
    assert by_key(progress)["orders"].message == "canceled: the run was interrupted while this asset ran"
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "Deleted")  # nobody asked for a cancel


# --- cancel ---------------------------------------------------------------------------------------


def test_a_canceled_run_without_pod_is_canceled_at_once() -> None:
    progress = fold([], NOT_CREATED, cancel_requested=True)
    assert (progress.phase, progress.reason) == (RunPhase.CANCELED, "Canceled")
    assert states_of(progress) == [C, C, C]
    assert by_key(progress)["raw"].message == "not run: the run was canceled"


def test_a_canceled_run_waits_for_its_pod_to_stop() -> None:
    assert fold(RUNNING_EVENTS, outcome(states.DRAINED, deleting=True), cancel_requested=True).phase == RunPhase.RUNNING
    pod = outcome(states.KILLED_ON_DELETE, deleting=True)
    progress = fold(RUNNING_EVENTS, pod, parse_run_summary(pod.termination_message or ""), cancel_requested=True)
    assert (progress.phase, progress.reason) == (RunPhase.CANCELED, "Canceled")
    assert states_of(progress) == [M, C, C]
    assert progress.message == "canceled: 1 of 3 assets materialized, 2 canceled"


# --- size bounds ----------------------------------------------------------------------------------


def test_five_hundred_assets_stay_in_order_and_bounded() -> None:
    keys = [f"group_{index // 50}/table_{index:03d}" for index in range(500)]
    preview = MetadataValue.md("| a | b |\n" + "| 1 | 2 |\n" * 300)
    events: list[ExecutionEvent] = []
    for index, name in enumerate(keys):
        events.append(started(name, index))
        events.append(
            materialized(
                name, index + 0.5, metadata={"dagster/row_count": MetadataValue.int(index), "preview": preview}
            )
        )
    progress = fold(events, outcome(states.SUCCEEDED), keys=keys)
    assert [item.key for item in progress.assets] == keys
    assert progress.phase == RunPhase.SUCCEEDED and progress.progress == "500/500"
    first = progress.assets[0]
    assert first.metadata is not None
    assert first.metadata["dagster/row_count"].value == 0  # small entries survive
    assert "preview" not in first.metadata
    assert first.metadata[OMITTED_METADATA_KEY].value == "1 of 2 entries omitted (size limit)"
    status = AssetRunStatus(assets=list(progress.assets), summary=progress.counts, progress=progress.progress)
    assert len(json.dumps(status.to_json())) < 600_000
    # The catalog keeps the full metadata of each materialization.
    updates = catalog_updates(progress, run_name=RUN)
    assert len(updates) == 500
    assert updates[0].materialization is not None and updates[0].materialization.metadata is not None
    assert "preview" in updates[0].materialization.metadata


def test_messages_fit_the_status() -> None:
    events: list[ExecutionEvent] = [started("orders", 0), failed("orders", 1, message="x" * 20_000)]
    progress = fold(events, outcome(states.ASSETS_FAILED))
    assert len(by_key(progress)["orders"].message) == MAX_MESSAGE_LENGTH
    assert len(progress.message) <= MAX_MESSAGE_LENGTH
    AssetRunStatus(assets=list(progress.assets), message=progress.message)  # validates


def test_unreadable_event_lines_are_mentioned() -> None:
    progress = fold(RUNNING_EVENTS, outcome(states.RUNNING), unreadable_lines=2)
    assert progress.message.endswith("; 2 unreadable event lines (see the Pod log)")


# --- catalog ---------------------------------------------------------------------------------------


def test_catalog_updates_record_materializations_and_failures_in_run_order() -> None:
    long_version = "v" * 300
    events: list[ExecutionEvent] = [
        *RUNNING_EVENTS[:2],
        materialized("raw", 1.1, code_version="2", data_version=long_version, metadata={"n": MetadataValue.int(1)}),
        started("orders", 1.2),
    ]
    progress = fold(events, outcome(states.OOM_KILLED))
    raw, orders = catalog_updates(progress, run_name=RUN)
    assert raw.key == "raw" and raw.failure is None and raw.materialization is not None
    assert (raw.materialization.run_name, raw.materialization.time) == (RUN, at(1.1))
    assert raw.materialization.code_version == "2"
    assert raw.materialization.data_version is not None
    assert raw.materialization.data_version.startswith("sha256:")
    assert len(raw.materialization.data_version) <= MAX_SHORT_STRING
    assert raw.materialization.metadata is not None and raw.materialization.metadata["n"].value == 1
    assert orders.key == "orders" and orders.materialization is None and orders.failure is not None
    assert orders.failure.message == "Pod shop-run-1 was OOMKilled (memory limit 256Mi) after 12s"
    assert orders.failure.run_name == RUN


# --- the real runner's output --------------------------------------------------------------------


def test_events_and_summary_of_a_real_run_fold_into_its_result() -> None:
    @asset
    def raw() -> list[int]:
        return [1, 2, 3]

    @asset
    def orders(raw: list[int]) -> MaterializeResult:
        raise ValueError("no rows")

    @asset
    def report(orders: list[int]) -> int:
        return len(orders)

    lines: list[str] = []
    result = materialize(
        [raw, orders, report],
        run_name=RUN,
        raise_on_error=False,
        on_event=lambda event: lines.append(format_event_line(event)),
    )
    events = [event for line in ["user print", *lines] if (event := parse_event_line(line)) is not None]
    summary = parse_run_summary(build_run_summary(result, KEYS, exit_code=1))
    full = fold(events, outcome(states.ASSETS_FAILED), summary)
    assert states_of(full) == [M, F, S]
    assert by_key(full)["orders"].message == "ValueError: no rows"
    assert by_key(full)["raw"].data_version is not None
    # The same run after losing its event lines (log rotation) agrees on every state.
    assert states_of(fold([], outcome(states.ASSETS_FAILED), summary)) == states_of(full)


def test_a_run_that_finished_before_its_cancel_took_effect_succeeded() -> None:
    events = [*RUNNING_EVENTS, materialized("orders", 2.2), started("report", 2.3), materialized("report", 3.0)]
    progress = fold(events, outcome(states.SUCCEEDED), cancel_requested=True)
    assert (progress.phase, states_of(progress)) == (RunPhase.SUCCEEDED, [M, M, M])


def test_a_run_that_could_not_start_and_lost_its_summary_shows_the_log_tail() -> None:
    log_tail = "ModuleNotFoundError: No module named 'shop'\n"
    progress = fold([], outcome(states.terminated(2, "Error", message=log_tail)))
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "CouldNotStart")
    assert "No module named 'shop'" in progress.message
    assert by_key(progress)["raw"].message == "not run: the run could not start (see the Pod log)"


def test_a_materialization_known_only_from_the_summary_takes_the_definition_code_version() -> None:
    progress = fold([], outcome(states.SUCCEEDED), parse_run_summary(states.SUMMARY_OK))
    assert [record.reported for record in progress.materializations] == [False, False, False]
    updates = catalog_updates(progress, run_name=RUN, code_versions={"raw": "7"})
    assert updates[0].materialization is not None
    assert updates[0].materialization.code_version == "7"
    assert updates[0].materialization.metadata is None
    assert updates[0].materialization.time == datetime(2025, 3, 2, 5, 0, 15, tzinfo=UTC)  # the Pod's end


@pytest.mark.parametrize("count", [10, 500, 1001, 5000])
def test_the_status_of_the_largest_runs_stays_within_etcd_limits(count: int) -> None:
    keys = [f"warehouse/staging/table_{index:05d}" for index in range(count)]
    events: list[ExecutionEvent] = []
    for index, name in enumerate(keys):
        events.append(started(name, index))
        events.append(failed(name, index + 0.5, message="could not connect to the warehouse: " + "x" * 5000))
    progress = fold(events, outcome(states.ASSETS_FAILED), keys=keys)
    status = AssetRunStatus(assets=list(progress.assets), summary=progress.counts, message=progress.message)
    size = len(json.dumps(status.to_json(), separators=(",", ":")))
    assert size < 1_000_000  # leaves room for managedFields under etcd's 1.5 MiB
    first = progress.assets[0]
    assert first.message is not None and first.message.startswith("ValueError: could not connect")
    assert (first.start_time is not None) == (count <= 1000)
    assert first.duration_seconds == 0.5
    # The catalog keeps the whole error.
    failure = catalog_updates(progress, run_name=RUN)[0].failure
    assert failure is not None and failure.message is not None
    assert len(failure.message) == MAX_MESSAGE_LENGTH


def test_a_pod_that_exits_zero_after_a_failed_asset_does_not_succeed() -> None:
    events = [*RUNNING_EVENTS, failed("orders", 1.7), materialized("report", 3.0)]
    progress = fold(events, outcome(states.SUCCEEDED))
    assert states_of(progress) == [M, F, M]
    assert (progress.phase, progress.reason) == (RunPhase.FAILED, "AssetsFailed")


def test_what_was_written_before_stands_when_its_events_are_gone() -> None:
    """A controller restarted after the Pod (and its log) vanished keeps the assets it had seen finish;
    only the unfinished ones take the Pod's fate."""
    before = fold(RUNNING_EVENTS, outcome(states.RUNNING))
    vanished = classify_pod(None, now=NOW, start_timeout_seconds=None, previously_seen=True)
    progress = fold([], vanished, previous=before.assets)
    raw, orders, report = progress.assets
    assert raw.state == M and raw.metadata is not None and raw.metadata["dagster/row_count"].value == 120
    assert raw.end_time == at(1.1)
    assert orders.state == AssetRunState.FAILED and orders.start_time == at(1.2)
    assert report.state == AssetRunState.CANCELED
    assert progress.phase == RunPhase.FAILED


def test_events_read_again_agree_with_what_was_written() -> None:
    before = fold(RUNNING_EVENTS, outcome(states.RUNNING))
    again = fold(RUNNING_EVENTS, outcome(states.RUNNING), previous=before.assets)
    assert again.assets == before.assets
