"""Following a run: resumes after disconnects and expired versions, ends on a final phase, a deletion or the
timeout, and gives up after a long outage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kubeasset.api.assetrun import AssetRun
from kubeasset.cli.run_watch import WatchExpired, WatchInterrupted, follow_run
from kubeasset.errors import KubernetesAccessError


def body(version: int, phase: str | None) -> dict[str, Any]:
    return {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {"name": "r", "namespace": "ns", "resourceVersion": str(version)},
        "spec": {"job": "j"},
        **({"status": {"phase": phase}} if phase else {}),
    }


class FakeSource:
    """Plays scripted watch sessions: each is a list of events, or an exception to raise after them."""

    def __init__(self, sessions: list[list[Any]], stored: Mapping[str, Any] | None = None) -> None:
        self.sessions = sessions
        self.stored = stored
        self.watched_from: list[str] = []
        self.reads = 0

    def read(self) -> Mapping[str, Any] | None:
        self.reads += 1
        return self.stored

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Mapping[str, Any]]:
        self.watched_from.append(resource_version)
        for item in self.sessions.pop(0) if self.sessions else []:
            if isinstance(item, Exception):
                raise item
            yield item


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def phases(seen: list[AssetRun]) -> list[str | None]:
    return [run.status.phase.value if run.status and run.status.phase else None for run in seen]


def test_resumes_from_the_last_version_after_a_disconnect_and_ends_on_a_final_phase() -> None:
    source = FakeSource(
        [
            [{"type": "MODIFIED", "object": body(2, "Running")}, WatchInterrupted("connection reset")],
            [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "5"}}}],
            [{"type": "MODIFIED", "object": body(7, "Succeeded")}],
        ]
    )
    seen: list[AssetRun] = []
    outages: list[str] = []
    clock = Clock()
    outcome = follow_run(
        source, body(1, None), seen.append, on_reconnect=outages.append, clock=clock, sleep=clock.sleep
    )
    assert outcome.ending == "finished"
    assert phases(seen) == [None, "Running", "Succeeded"]
    assert source.watched_from == ["1", "2", "5"]
    assert outages == ["connection reset"]


def test_an_expired_version_reads_the_object_again() -> None:
    source = FakeSource([[WatchExpired("too old")]], stored=body(9, "Failed"))
    seen: list[AssetRun] = []
    outcome = follow_run(source, body(1, "Running"), seen.append)
    assert outcome.ending == "finished" and source.reads == 1
    assert phases(seen) == ["Running", "Failed"]


def test_a_deleted_run_ends_following() -> None:
    source = FakeSource([[{"type": "DELETED", "object": body(3, "Running")}]])
    assert follow_run(source, body(1, "Running"), lambda run: None).ending == "deleted"


def test_the_timeout_ends_following_with_the_last_state() -> None:
    clock = Clock()

    class Slow(FakeSource):
        def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Mapping[str, Any]]:
            clock.now += timeout_seconds  # the server ends the watch after the window
            yield {"type": "MODIFIED", "object": body(int(resource_version) + 1, "Running")}

    outcome = follow_run(
        Slow([]), body(1, "Pending"), lambda run: None, timeout_seconds=5, clock=clock, sleep=clock.sleep
    )
    assert outcome.ending == "timeout"
    assert outcome.run.status is not None and outcome.run.status.phase is not None
    assert outcome.run.status.phase.value == "Running"
    assert clock.now <= 6


def test_a_long_outage_is_an_error() -> None:
    clock = Clock()

    class Down(FakeSource):
        def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Mapping[str, Any]]:
            clock.now += 10
            raise WatchInterrupted("connection refused")
            yield {}

    with pytest.raises(KubernetesAccessError, match="lost the API server"):
        follow_run(
            Down([]), body(1, "Running"), lambda run: None, clock=clock, sleep=clock.sleep, max_outage_seconds=30
        )


def test_an_already_finished_run_is_not_watched() -> None:
    source = FakeSource([])
    assert follow_run(source, body(1, "Canceled"), lambda run: None).ending == "finished"
    assert source.watched_from == []
