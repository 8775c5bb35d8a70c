"""AssetSchedule: start runs of an AssetJob on cron ticks, with CronJob's semantics.

``cron`` is one expression (``cron: "0 6 * * *"``, as in a CronJob) or a list of them. A structural CRD
schema gives every field one type (``oneOf`` of a string and an array is not allowed, and CEL cannot look
into an untyped field), so the field is an untyped node (``x-kubernetes-preserve-unknown-fields``) and the
controller validates it: anything but a non-empty string or a list of 1-16 strings, and any expression
that does not parse, makes the schedule ``Ready=False`` with the field's path and the column of the error
(``spec.cron[1]: invalid cron expression '0 25 * * *': hour field, column 3: ...``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal

from pydantic import Field, StringConstraints

from kubeasset.api.base import KubeModel
from kubeasset.api.common import RunConfig, Tags
from kubeasset.api.conditions import Conditions
from kubeasset.api.markers import LIST_SET
from kubeasset.api.resource import AGE_COLUMN, CrdNames, KubeResource, PrinterColumn, ready_column
from kubeasset.api.runs import HistoryLimit, RunReference
from kubeasset.api.types import (
    MAX_ACTIVE_RUNS,
    MAX_CRON_EXPRESSIONS,
    MAX_TRIGGER_NAME_LENGTH,
    TIMEZONE_PATTERN,
    FreeFormValue,
    ObjectName,
    ObjectRef,
    Timestamp,
)
from kubeasset.errors import CronError

#: The longest cron expression (macros and five fields with lists fit easily).
MAX_CRON_EXPRESSION_LENGTH: Final = 128
#: The most missed ticks one catch-up may start (CronJob gives up after 100 missed schedules).
MAX_CATCH_UP_LIMIT: Final = 100
#: The longest starting deadline: a week.
MAX_STARTING_DEADLINE_SECONDS: Final = 7 * 24 * 3600


class ConcurrencyPolicy(StrEnum):
    """What a tick does while an earlier run of this schedule is still active (as CronJob's)."""

    ALLOW = "Allow"
    """Start the new run anyway."""
    FORBID = "Forbid"
    """Skip the tick."""
    REPLACE = "Replace"
    """Cancel the active run(s) and start the new one."""


class AssetScheduleSpec(KubeModel):
    """When to run a job.

    Example (YAML)::

        spec:
          job: sales-job
          cron: ["0 6 * * *", "0 18 * * 1-5"]   # or one: cron: "0 6 * * *"
          timezone: Europe/Berlin
          concurrencyPolicy: Forbid
          startingDeadlineSeconds: 3600

    Missed ticks (controller down, schedule suspended then resumed) are caught up like CronJob's: only
    ticks within ``startingDeadlineSeconds`` of now are eligible, and of those at most ``catchUpLimit``
    newest ones start (1 by default: one run for a whole outage; 0: never catch up).
    """

    job: ObjectRef
    """The AssetJob to run (same namespace)."""
    cron: FreeFormValue
    """A cron expression (five fields, or @hourly, @daily, ...) or a list of them; a tick of any of them
    starts a run."""
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TIMEZONE_PATTERN)] = "UTC"
    """The IANA time zone the expressions are read in (``Europe/Berlin``); daylight saving is respected."""
    suspend: bool = False
    """Stop starting runs; ticks missed while suspended count as missed (see catchUpLimit)."""
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    """Allow, Forbid or Replace, for a tick while an earlier run of this schedule is active."""
    starting_deadline_seconds: Annotated[int, Field(ge=0, le=MAX_STARTING_DEADLINE_SECONDS)] | None = None
    """A tick more than this late is skipped; unset: no deadline (only catchUpLimit bounds a catch-up)."""
    catch_up_limit: Annotated[int, Field(ge=0, le=MAX_CATCH_UP_LIMIT)] = 1
    """The most missed ticks started at once after a gap (newest first); 0 skips missed ticks."""
    tags: Tags | None = None
    """Tags of the runs this schedule starts (over the job's)."""
    config: RunConfig | None = None
    """Run configuration of the runs this schedule starts (merged over the job's)."""
    successful_runs_history_limit: HistoryLimit = 3
    """How many finished successful runs started by this schedule to keep (CronJob's default)."""
    failed_runs_history_limit: HistoryLimit = 1
    """How many finished failed or canceled runs started by this schedule to keep (CronJob's default)."""

    def cron_expressions(self) -> tuple[tuple[str, str], ...]:
        """``(path, expression)`` for each expression of ``cron`` (one string, or a list of 1-16); raises
        :class:`~kubeasset.errors.CronError` naming ``spec.cron`` when the field has another shape.
        Whether each expression parses is the timetable's business (kubeasset.reconcile.ticks).

        Example::

            AssetScheduleSpec(job="sales", cron="0 6 * * *").cron_expressions()
            # (("spec.cron", "0 6 * * *"),)
        """
        cron = self.cron
        if isinstance(cron, str):
            items: list[tuple[str, object]] = [("spec.cron", cron)]
        elif isinstance(cron, list) and 1 <= len(cron) <= MAX_CRON_EXPRESSIONS:
            items = [(f"spec.cron[{index}]", value) for index, value in enumerate(cron)]
        else:
            raise CronError(
                f"spec.cron must be a cron expression or a list of 1-{MAX_CRON_EXPRESSIONS} of them, "
                f"got {_shown(cron)}",
                expression=_shown(cron),
            )
        for path, value in items:
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_CRON_EXPRESSION_LENGTH:
                raise CronError(
                    f"{path} must be a cron expression (a string of 1-{MAX_CRON_EXPRESSION_LENGTH} characters), "
                    f"got {_shown(value)}",
                    expression=_shown(value),
                )
        return tuple((path, str(value)) for path, value in items)


def _shown(value: object) -> str:
    """A short JSON rendering of what the user wrote, for a message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class AssetScheduleStatus(KubeModel):
    """Ticks and runs of the schedule. ``Ready`` is False for an invalid cron expression or time zone,
    or a missing job."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status describes."""
    conditions: Conditions = Field(default_factory=list)
    """Ready: the expressions and time zone are valid and the job exists."""
    last_schedule_time: Timestamp | None = None
    """The scheduled time of the latest tick that started a run."""
    next_schedule_time: Timestamp | None = None
    """The next tick (unset while suspended)."""
    last_successful_time: Timestamp | None = None
    """When a run of this schedule last succeeded."""
    active_runs: (
        Annotated[list[ObjectName], Field(max_length=MAX_ACTIVE_RUNS, json_schema_extra=LIST_SET)] | None
    ) = None
    """Runs started by this schedule that have not finished."""
    last_run: RunReference | None = None
    """The latest run this schedule started."""


class AssetSchedule(KubeResource):
    """AssetSchedule starts runs of an AssetJob on cron ticks in a time zone, like a CronJob.

    ``kubectl get assetschedules`` (``asched``) shows the last and next tick.
    """

    crd: ClassVar[CrdNames] = CrdNames(
        kind="AssetSchedule",
        plural="assetschedules",
        short_names=("asched",),
        max_name_length=MAX_TRIGGER_NAME_LENGTH,
        printer_columns=(
            PrinterColumn("Job", ".spec.job", description="AssetJob started on each tick"),
            PrinterColumn("Cron", ".spec.cron", description="Cron expressions"),
            PrinterColumn("Timezone", ".spec.timezone", description="IANA time zone"),
            PrinterColumn("Suspend", ".spec.suspend", "boolean", "Whether ticks are suspended"),
            ready_column(priority=1),
            PrinterColumn("Last", ".status.lastScheduleTime", "date", "Latest tick that started a run"),
            # A future time shows as "<invalid>" in a date column, so the next tick is printed as text.
            PrinterColumn("Next", ".status.nextScheduleTime", description="Next tick (UTC)"),
            AGE_COLUMN,
        ),
    )

    kind: Literal["AssetSchedule"] = "AssetSchedule"
    spec: AssetScheduleSpec
    """The job, the cron expressions and the catch-up rules."""
    status: AssetScheduleStatus | None = None
    """Ticks and runs."""
