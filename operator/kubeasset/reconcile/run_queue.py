"""The queue of a job's runs under ``maxConcurrentRuns``: which Pending run may start now, so that every
replan and every controller replica that sees the same runs makes the same choice.

Rules (tests/unit/reconcile/test_asset_run_queue.py):

* a run of the job is *active* while it is Starting or Running (a Running run being canceled still holds
  its slot until its Pod is gone), and while it is Pending with reason CreatingPod (its Pod was asked
  for: creation timestamps have a one-second resolution, so a run created in the same second with a
  smaller name must not take the slot of a run whose Pod is already on its way);
* Pending runs wait in FIFO order by ``(metadata.creationTimestamp, metadata.name)``: a run may create its
  Pod only when ``active + Pending runs ahead of it < maxConcurrentRuns``. Counting the runs ahead (not
  only the active ones) is what keeps two runs planned from the same observation from both starting
  when one slot is free: the later one sees the earlier one ahead of it;
* a Pending run with ``spec.cancel`` or a ``deletionTimestamp`` is not ahead of anyone: it never starts;
* the controller-wide limit (Helm ``controller.maxConcurrentRuns``) is the same rule over every unfinished
  run the controller watches, all jobs, ad-hoc runs and namespaces together (ties broken by namespace, then
  name). A run needs a slot under both limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from kubeasset.api.assetrun import AssetRun
from kubeasset.api.conditions import SUCCEEDED, find_condition
from kubeasset.api.runs import RunPhase
from kubeasset.reconcile.trigger_runs import run_phase

#: The Succeeded condition's reason of a run waiting for a free slot.
WAITING_FOR_CONCURRENCY: Final = "WaitingForConcurrency"
#: The reason of a Pending run whose Pod was asked for (it holds a slot).
CREATING_POD: Final = "CreatingPod"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def queue_order(run: AssetRun) -> tuple[datetime, str, str]:
    """A run's place in the queue: creation time, then namespace and name (unique together, so ties are
    broken the same way everywhere)."""
    return (run.metadata.creation_timestamp or _EPOCH, run.metadata.namespace or "", run.metadata.name or "")


@dataclass(frozen=True)
class ConcurrencyWait:
    """Why a run may not start yet: the limit, the active runs and how many wait ahead of it."""

    limit: int
    active: tuple[str, ...]
    ahead: int
    job_name: str
    controller_wide: bool = False

    @property
    def message(self) -> str:
        """``waiting for a free slot: job 'sales' allows 1 concurrent run (maxConcurrentRuns); see kubectl get
        assetruns -l kubeasset.dev/job=sales``.

        Deliberately the same for every waiting run and every moment: naming the active runs or the place in
        the queue would rewrite the status of every waiting run each time the queue moves (a burst of 500 runs
        then spends its time writing statuses, not starting Pods). The active runs are one kubectl away.
        """
        plural = "run" if self.limit == 1 else "runs"
        if self.controller_wide:
            return (
                f"waiting for a free slot: the controller allows {self.limit} concurrent {plural} in all "
                "(Helm value controller.maxConcurrentRuns); see kubectl get assetruns -A"
            )
        return (
            f"waiting for a free slot: job {self.job_name!r} allows {self.limit} concurrent {plural} "
            f"(maxConcurrentRuns); see kubectl get assetruns -l kubeasset.dev/job={self.job_name}"
        )


def concurrency_wait(
    run: AssetRun,
    *,
    limit: int | None,
    job_name: str,
    job_runs: Sequence[AssetRun],
    controller_wide: bool = False,
) -> ConcurrencyWait | None:
    """None when ``run`` may create its Pod now; else why it waits.

    ``job_runs`` are the runs of the same job as observed (``run`` itself among them or not); with
    ``controller_wide``, every unfinished run the controller watches, and ``limit`` the controller's.

    Example::

        wait = concurrency_wait(run, limit=job.spec.max_concurrent_runs, job_name="sales", job_runs=runs)
        if wait is not None: status.message = wait.message
    """
    if limit is None:
        return None
    me = queue_order(run)
    others = [other for other in job_runs if _identity(other) != _identity(run)]
    active = sorted((other for other in others if holds_slot(other)), key=queue_order)
    ahead = [
        other
        for other in others
        if run_phase(other) == RunPhase.PENDING
        and not holds_slot(other)
        and not other.spec.cancel
        and other.metadata.deletion_timestamp is None
        and queue_order(other) < me
    ]
    if len(active) + len(ahead) < limit:
        return None
    return ConcurrencyWait(
        limit=limit,
        active=tuple(_shown_name(other, controller_wide) for other in active),
        ahead=len(ahead),
        job_name=job_name,
        controller_wide=controller_wide,
    )


def first_waiting(runs: Sequence[AssetRun], count: int) -> list[AssetRun]:
    """The ``count`` runs of ``runs`` that wait for a slot, first in the queue first: the ones a freed slot
    can concern (waking every waiting run would cost a reconcile each, for a burst of hundreds)."""
    waiting = [run for run in runs if waits_for_slot(run)]
    return sorted(waiting, key=queue_order)[:count]


def waits_for_slot(run: AssetRun) -> bool:
    """Whether ``run`` is Pending because of a concurrency limit."""
    if run_phase(run) != RunPhase.PENDING or run.status is None:
        return False
    condition = find_condition(run.status.conditions, SUCCEEDED)
    return condition is not None and condition.reason == WAITING_FOR_CONCURRENCY


def _identity(run: AssetRun) -> tuple[str, str]:
    return (run.metadata.namespace or "", run.metadata.name or "")


def _shown_name(run: AssetRun, qualified: bool) -> str:
    name = run.metadata.name or ""
    return f"{run.metadata.namespace}/{name}" if qualified and run.metadata.namespace else name


def holds_slot(run: AssetRun) -> bool:
    """Whether ``run`` counts against maxConcurrentRuns: Starting, Running, or Pending with its Pod asked for."""
    phase = run_phase(run)
    if phase in (RunPhase.STARTING, RunPhase.RUNNING):
        return True
    if phase != RunPhase.PENDING or run.status is None:
        return False
    condition = find_condition(run.status.conditions, SUCCEEDED)
    return condition is not None and condition.reason == CREATING_POD
