"""The leader-election decision: who may write the Lease, what they write, and how long a standby waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kubeasset.errors import ControllerError
from kubeasset.reconcile.leader_lease import (
    LeaseAction,
    LeaseTiming,
    decide_lease,
    format_micro_time,
    lease_expiry,
    parse_micro_time,
    release_lease,
)

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
US, THEM = "pod-a_1a2b3c4d", "pod-b_5e6f7a8b"


def lease(holder: str | None, renewed: datetime | str | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "holderIdentity": holder,
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-24T09:00:00.000000Z",
        "renewTime": format_micro_time(renewed) if isinstance(renewed, datetime) else renewed,
        "leaseTransitions": 4,
    }
    body.update(spec)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "kubeasset-controller", "namespace": "kubeasset", "resourceVersion": "812"},
        "spec": {key: value for key, value in body.items() if value is not None},
    }


def decide(observed: dict[str, Any] | None, now: datetime = NOW, **options: Any) -> Any:
    return decide_lease(observed, identity=US, namespace="kubeasset", name="kubeasset-controller", now=now, **options)


def test_no_lease_is_created_naming_us_with_zero_transitions() -> None:
    decision = decide(None)
    assert decision.action is LeaseAction.CREATE and decision.leading and decision.holder == US
    assert decision.lease == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "kubeasset-controller", "namespace": "kubeasset"},
        "spec": {
            "holderIdentity": US,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-11-24T10:00:00.000000Z",
            "renewTime": "2026-11-24T10:00:00.000000Z",
            "leaseTransitions": 0,
        },
    }


def test_our_lease_is_renewed_keeping_acquire_time_and_transitions_guarded_by_resource_version() -> None:
    decision = decide(lease(US, NOW - timedelta(seconds=2)), now=NOW.replace(microsecond=250))
    assert decision.action is LeaseAction.RENEW
    spec = decision.lease["spec"]
    assert spec["renewTime"] == "2026-11-24T10:00:00.000250Z"
    assert spec["acquireTime"] == "2026-11-24T09:00:00.000000Z"
    assert spec["leaseTransitions"] == 4
    assert decision.lease["metadata"]["resourceVersion"] == "812"


def test_our_own_expired_lease_is_renewed_not_taken_over() -> None:
    # We were cut off for a minute, but nobody wrote the Lease meanwhile (the holder is still us).
    decision = decide(lease(US, NOW - timedelta(minutes=1)))
    assert decision.action is LeaseAction.RENEW
    assert decision.lease["spec"]["leaseTransitions"] == 4


def test_a_live_lease_of_someone_else_makes_us_wait_until_it_could_expire() -> None:
    decision = decide(lease(THEM, NOW - timedelta(seconds=5)))
    assert decision.action is LeaseAction.WAIT and not decision.leading
    assert decision.lease is None and decision.holder == THEM
    assert decision.wait_seconds == pytest.approx(10.0)


def test_the_lease_duration_written_in_the_lease_counts_not_ours() -> None:
    decision = decide(lease(THEM, NOW - timedelta(seconds=5), leaseDurationSeconds=60))
    assert decision.wait_seconds == pytest.approx(55.0)


def test_an_expired_lease_of_someone_else_is_taken_over_counting_one_more_transition() -> None:
    decision = decide(lease(THEM, NOW - timedelta(seconds=15)))
    assert decision.action is LeaseAction.TAKE_OVER and decision.holder == US
    spec = decision.lease["spec"]
    assert spec["holderIdentity"] == US
    assert spec["acquireTime"] == spec["renewTime"] == "2026-11-24T10:00:00.000000Z"
    assert spec["leaseTransitions"] == 5
    assert decision.lease["metadata"]["resourceVersion"] == "812"


def test_a_released_lease_is_taken_over_at_once() -> None:
    for released in (lease(None, NOW, leaseDurationSeconds=1), lease("", NOW, leaseDurationSeconds=1)):
        decision = decide(released)
        assert decision.action is LeaseAction.TAKE_OVER
        assert decision.lease["spec"]["leaseDurationSeconds"] == 15


def test_the_lease_duration_of_the_timing_is_written() -> None:
    timing = LeaseTiming(lease_duration_seconds=3, renew_deadline_seconds=2.0, retry_period_seconds=0.5)
    assert decide(None, timing=timing).lease["spec"]["leaseDurationSeconds"] == 3


def test_a_holder_clock_running_ahead_cannot_stretch_its_lease_beyond_what_we_watched() -> None:
    ahead = lease(THEM, NOW + timedelta(hours=1))
    assert decide(ahead).action is LeaseAction.WAIT  # without our observation: trust renewTime
    first_seen = NOW - timedelta(seconds=16)
    assert decide(ahead, observed_at=first_seen).action is LeaseAction.TAKE_OVER
    assert decide(ahead, observed_at=NOW - timedelta(seconds=4)).wait_seconds == pytest.approx(11.0)
    # A renewTime before our first sighting is the holder's word and counts as such.
    assert decide(lease(THEM, NOW - timedelta(seconds=14)), observed_at=NOW).wait_seconds == pytest.approx(1.0)


def test_malformed_lease_fields_fall_back_to_safe_values() -> None:
    garbled = lease(THEM, "yesterday", leaseDurationSeconds="fifteen", leaseTransitions=-3)
    # No readable renewTime: only our own observation says how long the holder has had.
    waiting = decide(garbled, observed_at=NOW - timedelta(seconds=5))
    assert waiting.action is LeaseAction.WAIT and waiting.wait_seconds == pytest.approx(10.0)
    taken = decide(garbled, observed_at=NOW - timedelta(seconds=15))
    assert taken.action is LeaseAction.TAKE_OVER and taken.lease["spec"]["leaseTransitions"] == 1
    # Nothing at all says the holder is alive.
    assert decide(garbled).action is LeaseAction.TAKE_OVER
    no_spec = {"metadata": {"name": "kubeasset-controller", "resourceVersion": "9"}}
    assert decide(no_spec).action is LeaseAction.TAKE_OVER
    ours_without_acquire_time = lease(US, NOW, acquireTime=None, leaseTransitions=True)
    renewed = decide(ours_without_acquire_time).lease["spec"]
    assert renewed["acquireTime"] == "2026-11-24T10:00:00.000000Z" and renewed["leaseTransitions"] == 0


def test_labels_and_unmanaged_spec_fields_survive_a_write() -> None:
    observed = lease(THEM, NOW - timedelta(minutes=1), strategy="OldestEmulationVersion")
    observed["metadata"]["labels"] = {"team": "data"}
    written = decide(observed).lease
    assert written["metadata"]["labels"] == {"team": "data"}
    assert written["spec"]["strategy"] == "OldestEmulationVersion"
    written["metadata"]["labels"]["team"] = "changed"
    assert observed["metadata"]["labels"] == {"team": "data"}  # the observation is not touched


def test_release_clears_the_holder_and_shortens_the_lease() -> None:
    released = release_lease(lease(US, NOW - timedelta(seconds=1)), identity=US, now=NOW)
    assert released is not None
    assert "holderIdentity" not in released["spec"]
    assert released["spec"]["leaseDurationSeconds"] == 1
    assert released["spec"]["leaseTransitions"] == 4
    assert released["metadata"]["resourceVersion"] == "812"
    # A standby reading it takes it over at once.
    assert decide_lease(released, identity=THEM, namespace="kubeasset", name="x", now=NOW).action is (
        LeaseAction.TAKE_OVER
    )


def test_release_of_a_lease_we_do_not_hold_writes_nothing() -> None:
    assert release_lease(lease(THEM, NOW), identity=US, now=NOW) is None
    assert release_lease(None, identity=US, now=NOW) is None


def test_micro_times_round_trip_and_bad_ones_are_none() -> None:
    assert format_micro_time(datetime(2026, 11, 24, 11, 0, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-11-24T10:00:00.000000Z"
    )
    assert parse_micro_time("2026-11-24T10:00:00.123456Z") == NOW.replace(microsecond=123456)
    assert parse_micro_time("2026-11-24T10:00:00Z") == NOW
    assert parse_micro_time("2026-11-24T11:00:00+01:00") == NOW
    for bad in ("2026-11-24T10:00:00", "soon", 1764000000, None):
        assert parse_micro_time(bad) is None
    with pytest.raises(ControllerError):
        format_micro_time(datetime(2026, 11, 24, 10, 0))


def test_lease_expiry_uses_its_own_duration() -> None:
    timing = LeaseTiming()
    assert lease_expiry(lease(THEM, NOW, leaseDurationSeconds=40), timing=timing) == NOW + timedelta(seconds=40)
    assert lease_expiry(lease(THEM, NOW, leaseDurationSeconds=0), timing=timing) == NOW + timedelta(seconds=15)


@pytest.mark.parametrize(("duration", "deadline", "retry"), [(10, 10.0, 2.0), (15, 10.0, 0.0), (15, 1.0, 2.0)])
def test_timings_that_cannot_work_are_refused(duration: int, deadline: float, retry: float) -> None:
    with pytest.raises(ControllerError, match="retry period < renew deadline < lease duration"):
        LeaseTiming(lease_duration_seconds=duration, renew_deadline_seconds=deadline, retry_period_seconds=retry)
