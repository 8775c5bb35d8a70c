"""AssetRun: one execution of a selection of assets in one Pod, and its live per-asset results.

Two forms, exactly one per run (a CEL rule on the spec enforces it; the model checks it too):

* ``job: sales-job`` runs an AssetJob (its code location, selection, tags, config and Pod settings);
  ``selection`` may narrow it to part of the job's assets (re-running one asset of a job, as Dagster's
  launchpad does, with the job's settings);
* ``codeLocation: shop`` + ``selection: 1+key:top_customers`` is an ad-hoc run, with no job.

A run's identity (job, code location, selection, config, trigger) is immutable, as a Pod's spec is:
transition rules reject changes, so a status always describes what the spec says. ``cancel`` may change
only from false to true. ``tags`` stay editable, as Dagster lets tags be added to a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from kubeasset.api.base import KubeModel
from kubeasset.api.common import Metadata, RunConfig, Tags
from kubeasset.api.conditions import Conditions
from kubeasset.api.markers import cel, immutable, list_map, validations
from kubeasset.api.resource import AGE_COLUMN, CrdNames, KubeResource, PrinterColumn
from kubeasset.api.runs import RunPhase
from kubeasset.api.types import (
    MAX_ASSETS,
    AssetKeyString,
    Message,
    NonEmptyShortString,
    ObjectName,
    ObjectRef,
    Selection,
    ShortString,
    Timestamp,
)

#: The annotation holding a scheduled run's scheduled time (RFC 3339), also given to its Pod's env.
SCHEDULED_TIME_ANNOTATION: Final = "kubeasset.dev/scheduled-time"


class TriggerType(StrEnum):
    """What created a run."""

    MANUAL = "Manual"
    SCHEDULE = "Schedule"
    SENSOR = "Sensor"
    RETRY = "Retry"


class RunTrigger(KubeModel):
    """Why the run exists: a person (Manual), a schedule tick, a sensor, or a retry of a failed run.

    The fields that name the cause are set exactly for their type: ``schedule`` and ``scheduledTime``
    for Schedule, ``sensor`` for Sensor, ``retryOf`` for Retry.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.type == 'Schedule' ? (has(self.schedule) && has(self.scheduledTime))"
                " : !(has(self.schedule) || has(self.scheduledTime))",
                "schedule and scheduledTime are set exactly when type is Schedule",
            ),
            cel("(self.type == 'Sensor') == has(self.sensor)", "sensor is set exactly when type is Sensor"),
            cel("(self.type == 'Retry') == has(self.retryOf)", "retryOf is set exactly when type is Retry"),
        )
    )

    type: TriggerType = TriggerType.MANUAL
    """Manual, Schedule, Sensor or Retry."""
    schedule: ObjectRef | None = None
    """The AssetSchedule whose tick created the run."""
    scheduled_time: Timestamp | None = None
    """The tick's time (the run may start later)."""
    sensor: ObjectRef | None = None
    """The AssetSensor that created the run."""
    retry_of: ObjectName | None = None
    """The failed AssetRun this run retries."""

    @model_validator(mode="after")
    def _cause_matches_type(self) -> RunTrigger:
        # The same rules as the CEL rules above, so that code building runs fails before the API server.
        has_schedule = self.schedule is not None or self.scheduled_time is not None
        if (self.type == TriggerType.SCHEDULE) != has_schedule or (
            has_schedule and (self.schedule is None or self.scheduled_time is None)
        ):
            raise ValueError("schedule and scheduledTime are set exactly when type is Schedule")
        if (self.type == TriggerType.SENSOR) != (self.sensor is not None):
            raise ValueError("sensor is set exactly when type is Sensor")
        if (self.type == TriggerType.RETRY) != (self.retry_of is not None):
            raise ValueError("retryOf is set exactly when type is Retry")
        return self


_RUN_FORM_MESSAGE: Final = (
    "set exactly one of job (run an AssetJob) or codeLocation with selection (an ad-hoc run)"
)
_AD_HOC_SELECTION_MESSAGE: Final = "an ad-hoc run (codeLocation) needs a selection of the assets to run"


class AssetRunSpec(KubeModel):
    """What to run.

    Example (YAML)::

        spec:
          job: sales-job
          tags: {requested-by: alice}
          config: {report_currency: EUR}
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.job) != has(self.codeLocation)", _RUN_FORM_MESSAGE),
            cel(
                "!has(self.codeLocation) || has(self.selection)",
                _AD_HOC_SELECTION_MESSAGE,
                field_path=".selection",
                reason="FieldValueRequired",
            ),
            cel(
                "has(self.job) == has(oldSelf.job)"
                " && has(self.codeLocation) == has(oldSelf.codeLocation)"
                " && has(self.selection) == has(oldSelf.selection)"
                " && has(self.config) == has(oldSelf.config)",
                "job, codeLocation, selection and config cannot be added or removed after creation: "
                "create a new AssetRun",
            ),
        )
    )

    job: Annotated[ObjectRef | None, Field(json_schema_extra=immutable("job"))] = None
    """The AssetJob to run (same namespace)."""
    code_location: Annotated[ObjectRef | None, Field(json_schema_extra=immutable("codeLocation"))] = None
    """For an ad-hoc run: the CodeLocation whose assets to run."""
    selection: Annotated[Selection | None, Field(json_schema_extra=immutable("selection"))] = None
    """The assets to run: required with codeLocation; with job, narrows the job's assets."""
    tags: Tags | None = None
    """Tags of the run, over the job's (and the schedule's or sensor's)."""
    config: Annotated[RunConfig | None, Field(json_schema_extra=immutable("config"))] = None
    """Run configuration, merged over the job's."""
    cancel: Annotated[
        bool,
        Field(
            json_schema_extra=validations(
                cel("self || !oldSelf", "cancel cannot be undone: a canceled run stays canceled")
            )
        ),
    ] = False
    """Set to true to stop the run: its Pod is deleted and unfinished assets become Canceled."""
    trigger: Annotated[RunTrigger, Field(json_schema_extra=immutable("trigger"))] = RunTrigger()
    """What created the run (Manual when a person did)."""

    @model_validator(mode="after")
    def _one_form(self) -> AssetRunSpec:
        if (self.job is None) == (self.code_location is None):
            raise ValueError(_RUN_FORM_MESSAGE)
        if self.code_location is not None and self.selection is None:
            raise ValueError(_AD_HOC_SELECTION_MESSAGE)
        return self


class AssetRunState(StrEnum):
    """Where one asset of a run is."""

    PENDING = "Pending"
    RUNNING = "Running"
    MATERIALIZED = "Materialized"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    """Not run because an upstream asset of the run failed."""
    CANCELED = "Canceled"
    """Not finished because the run was canceled or its Pod died."""


class RunAssetStatus(KubeModel):
    """The latest result of one asset in the run (results are replaced, never appended: bounded status)."""

    key: AssetKeyString
    """The asset's key."""
    state: AssetRunState = AssetRunState.PENDING
    """Pending, Running, Materialized, Failed, Skipped or Canceled."""
    start_time: Timestamp | None = None
    """When the asset started."""
    end_time: Timestamp | None = None
    """When it finished."""
    duration_seconds: Annotated[float, Field(ge=0)] | None = None
    """How long it ran, as the runner measured it."""
    metadata: Metadata | None = None
    """The metadata it reported when materialized."""
    data_version: ShortString | None = None
    """The data version it reported, if any."""
    message: Message | None = None
    """Why it failed, was skipped or canceled (the error, or the Kubernetes reason for a dead Pod)."""


class RunSummary(KubeModel):
    """Counts of the run's assets by state, for ``kubectl get`` and for health checks."""

    total: Annotated[int, Field(ge=0)] = 0
    """Assets in the run."""
    materialized: Annotated[int, Field(ge=0)] = 0
    """Assets materialized."""
    failed: Annotated[int, Field(ge=0)] = 0
    """Assets that failed."""
    skipped: Annotated[int, Field(ge=0)] = 0
    """Assets skipped because an upstream asset failed."""
    canceled: Annotated[int, Field(ge=0)] = 0
    """Assets canceled."""

    @classmethod
    def of(cls, assets: Iterable[RunAssetStatus]) -> RunSummary:
        """Count ``assets`` by state: ``RunSummary.of(status.assets)``."""
        states = [asset.state for asset in assets]
        return cls(
            total=len(states),
            materialized=states.count(AssetRunState.MATERIALIZED),
            failed=states.count(AssetRunState.FAILED),
            skipped=states.count(AssetRunState.SKIPPED),
            canceled=states.count(AssetRunState.CANCELED),
        )

    @property
    def progress(self) -> str:
        """``materialized/total``, the value of ``status.progress``: ``"3/9"``."""
        return f"{self.materialized}/{self.total}"


Progress = Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9]+/[0-9]+$")]


class AssetRunStatus(KubeModel):
    """Progress and outcome of the run.

    The ``Succeeded`` condition is Unknown while the run is Pending, Starting or Running, True when it
    succeeded and False when it failed or was canceled (reason Canceled), as Tekton's; so
    ``kubectl wait --for=condition=Succeeded`` waits for success and fails fast on failure.
    """

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status describes."""
    conditions: Conditions = Field(default_factory=list)
    """Succeeded: Unknown while running, then True or False."""
    phase: RunPhase | None = None
    """Pending, Starting, Running, Succeeded, Failed or Canceled."""
    message: Message | None = None
    """Why the run is in its phase, for a person (e.g. "Pod OOMKilled", "2 of 9 assets failed")."""
    pod_name: ObjectName | None = None
    """The run's Pod."""
    image: NonEmptyShortString | None = None
    """The image the Pod runs (by digest when the code location discovered one)."""
    start_time: Timestamp | None = None
    """When the Pod started running."""
    completion_time: Timestamp | None = None
    """When the run reached a final phase."""
    attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    """The attempt this run is in its retry chain: 1 for an original run, retryOf's attempts + 1 for a
    retry (the job's retry.maxRetries is compared with it)."""
    assets: (
        Annotated[list[RunAssetStatus], Field(max_length=MAX_ASSETS, json_schema_extra=list_map("key"))]
        | None
    ) = None
    """Per asset, in execution order: state, times, metadata, error."""
    summary: RunSummary | None = None
    """Counts of ``assets`` by state."""
    progress: Progress | None = None
    """``materialized/total``, for ``kubectl get assetruns``."""


class AssetRun(KubeResource):
    """AssetRun is one execution of a job (or an ad-hoc selection) in one Pod, with per-asset results.

    ``kubectl get assetruns`` (``arun``) shows phase and progress; set ``spec.cancel: true`` to stop one.
    """

    crd: ClassVar[CrdNames] = CrdNames(
        kind="AssetRun",
        plural="assetruns",
        short_names=("arun",),
        printer_columns=(
            PrinterColumn("Job", ".spec.job", description="AssetJob run (empty for an ad-hoc run)"),
            PrinterColumn(
                "Location", ".spec.codeLocation", description="Code location of an ad-hoc run", priority=1
            ),
            PrinterColumn(
                "Phase",
                ".status.phase",
                description="Pending, Starting, Running, Succeeded, Failed, Canceled",
            ),
            PrinterColumn("Done", ".status.progress", description="Materialized assets / total"),
            PrinterColumn("Failed", ".status.summary.failed", "integer", "Failed assets", priority=1),
            PrinterColumn("Trigger", ".spec.trigger.type", description="Manual, Schedule, Sensor or Retry"),
            PrinterColumn("Started", ".status.startTime", "date", "When the Pod started", priority=1),
            AGE_COLUMN,
        ),
    )

    kind: Literal["AssetRun"] = "AssetRun"
    spec: AssetRunSpec
    """What to run."""
    status: AssetRunStatus | None = None
    """Progress and outcome."""
