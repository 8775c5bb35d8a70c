"""Leader election's one decision, kept pure so every case is unit-testable: given the coordination.k8s.io/v1
Lease as last read, who we are and the time, should this replica create the Lease, take it over, renew it,
or wait (and how long)? The result carries the Lease body to write, guarded by the observed resourceVersion,
so two replicas deciding on the same copy cannot both win: the API server accepts only the first write.

The rules are client-go's (k8s.io/client-go/tools/leaderelection): a Lease held by someone else is free once
``renewTime + leaseDurationSeconds`` has passed or when its holder is empty (a clean release); taking it over
counts one more ``leaseTransitions``; renewing keeps ``acquireTime``. One addition against clock skew, also
client-go's: ``observed_at``, the local time this exact version of the Lease was first seen, caps the holder's
``renewTime``, so a holder whose clock runs ahead cannot stretch its lease beyond what we watched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from kubeasset.errors import ControllerError

API_VERSION: Final = "coordination.k8s.io/v1"
KIND: Final = "Lease"


@dataclass(frozen=True)
class LeaseTiming:
    """How long a Lease lasts, how long the leader keeps trying to renew it, how often anyone tries.

    The defaults are client-go's (15 s, 10 s, 2 s): a standby takes over at most about 17 s after the leader
    died; a leader that could not renew for 10 s stops acting 5 s before anyone else may start.

    Example::

        LeaseTiming(lease_duration_seconds=3, renew_deadline_seconds=2.0, retry_period_seconds=0.5)  # tests
    """

    lease_duration_seconds: int = 15
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ControllerError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period_seconds}s, {self.renew_deadline_seconds}s, {self.lease_duration_seconds}s"
            )


class LeaseAction(StrEnum):
    CREATE = "Create"  # there is no Lease: POST one naming us
    TAKE_OVER = "TakeOver"  # someone else's Lease expired or was released: PUT it naming us
    RENEW = "Renew"  # we hold it: PUT a fresh renewTime
    WAIT = "Wait"  # someone else holds a live one


@dataclass(frozen=True)
class LeaseDecision:
    """What to do with the Lease. ``lease``: the body to write (POST for CREATE, PUT for TAKE_OVER and RENEW,
    carrying the observed ``metadata.resourceVersion``); None for WAIT. ``holder``: who holds the Lease when
    the write succeeds (us), or who holds it now (WAIT; None when unknown). ``wait_seconds``: for WAIT, how
    long until the Lease could expire."""

    action: LeaseAction
    lease: dict[str, Any] | None
    holder: str | None
    wait_seconds: float = 0.0

    @property
    def leading(self) -> bool:
        """The write, when it succeeds, makes (or keeps) us the leader."""
        return self.action is not LeaseAction.WAIT


def format_micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: ``2026-11-24T10:00:00.000000Z`` (``moment`` must be timezone-aware)."""
    if moment.tzinfo is None:
        raise ControllerError(f"a Lease time must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: object) -> datetime | None:
    """A Lease's MicroTime (RFC 3339, any fraction, ``Z`` or an offset) as an aware UTC datetime; None when it
    is absent or not such a time."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def lease_holder(lease: Mapping[str, Any] | None) -> str | None:
    """Who holds the Lease: its ``spec.holderIdentity``, None when nobody (absent, empty or not a string)."""
    holder = _spec(lease).get("holderIdentity")
    return holder if isinstance(holder, str) and holder else None


def lease_expiry(
    lease: Mapping[str, Any], *, timing: LeaseTiming, observed_at: datetime | None = None
) -> datetime | None:
    """When the Lease stops protecting its holder: ``renewTime`` (capped at ``observed_at``) plus its
    ``leaseDurationSeconds`` (ours when it has none). None: nothing says the holder is alive (no valid
    renewTime and no ``observed_at``), so it may be taken."""
    spec = _spec(lease)
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        duration = timing.lease_duration_seconds
    renewed = parse_micro_time(spec.get("renewTime"))
    if observed_at is not None:
        renewed = observed_at if renewed is None else min(renewed, observed_at)
    if renewed is None:
        return None
    return renewed + timedelta(seconds=duration)


def decide_lease(
    observed: Mapping[str, Any] | None,
    *,
    identity: str,
    namespace: str,
    name: str,
    now: datetime,
    timing: LeaseTiming = LeaseTiming(),
    observed_at: datetime | None = None,
) -> LeaseDecision:
    """Decide about the Lease ``namespace/name`` as last read (None: it does not exist).

    Example::

        decision = decide_lease(None, identity="pod-a_1a2b3c4d", namespace="kubeasset", name="kubeasset-controller",
                                now=datetime.now(UTC))
        assert decision.action is LeaseAction.CREATE and decision.lease["spec"]["leaseTransitions"] == 0
    """
    stamp = format_micro_time(now)
    if observed is None:
        body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace}}
        new_spec = _our_spec(identity, timing, acquired=stamp, renewed=stamp, transitions=0)
        return LeaseDecision(LeaseAction.CREATE, {**body, "spec": new_spec}, identity)

    holder = lease_holder(observed)
    spec = _spec(observed)
    if holder == identity:
        # Ours, even when it looks expired (we were cut off a while): nobody else wrote it meanwhile, else
        # the holder would differ, so renewing it is safe; the resourceVersion makes sure of "meanwhile".
        acquired = str(spec["acquireTime"]) if parse_micro_time(spec.get("acquireTime")) else stamp
        transitions = _transitions(spec)
        return LeaseDecision(
            LeaseAction.RENEW,
            _rewrite(observed, _our_spec(identity, timing, acquired=acquired, renewed=stamp, transitions=transitions)),
            identity,
        )

    expiry = None if holder is None else lease_expiry(observed, timing=timing, observed_at=observed_at)
    if expiry is not None and now < expiry:
        return LeaseDecision(LeaseAction.WAIT, None, holder, (expiry - now).total_seconds())
    transitions = _transitions(spec) + 1
    return LeaseDecision(
        LeaseAction.TAKE_OVER,
        _rewrite(observed, _our_spec(identity, timing, acquired=stamp, renewed=stamp, transitions=transitions)),
        identity,
    )


def release_lease(observed: Mapping[str, Any] | None, *, identity: str, now: datetime) -> dict[str, Any] | None:
    """The Lease to write when the leader stops cleanly: no holder and a one-second duration, so a standby
    takes over at its next try instead of waiting out the lease (client-go's ReleaseOnCancel). None when we
    do not hold it (nothing to release)."""
    if observed is None or lease_holder(observed) != identity:
        return None
    spec = _spec(observed)
    released = {
        key: value for key, value in spec.items() if key not in ("holderIdentity", "leaseDurationSeconds", "renewTime")
    }
    released |= {"leaseDurationSeconds": 1, "renewTime": format_micro_time(now), "leaseTransitions": _transitions(spec)}
    return _rewrite(observed, released)


def _spec(lease: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec = (lease or {}).get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _transitions(spec: Mapping[str, Any]) -> int:
    count = spec.get("leaseTransitions")
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0


def _our_spec(identity: str, timing: LeaseTiming, *, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": timing.lease_duration_seconds,
        "acquireTime": acquired,
        "renewTime": renewed,
        "leaseTransitions": transitions,
    }


def _rewrite(observed: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The observed Lease with ``spec`` replaced: its metadata (name, labels, resourceVersion for the
    compare-and-swap) and any spec field we do not manage (newer API fields) are kept as read."""
    metadata = observed.get("metadata")
    kept = {key: value for key, value in _spec(observed).items() if key not in _MANAGED}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": copy.deepcopy(dict(metadata)) if isinstance(metadata, Mapping) else {},
        "spec": {**copy.deepcopy(kept), **spec},
    }


_MANAGED: Final = frozenset({"holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions"})
