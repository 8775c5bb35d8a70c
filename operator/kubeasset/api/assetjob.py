"""AssetJob: a named selection of assets of one code location, and how its runs are made."""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from kubeasset.api.base import KubeModel
from kubeasset.api.common import RunConfig, Tags
from kubeasset.api.conditions import Conditions
from kubeasset.api.markers import LIST_ATOMIC, cel, validations
from kubeasset.api.pod import PodSettings
from kubeasset.api.resource import (
    AGE_COLUMN,
    CrdNames,
    KubeResource,
    PrinterColumn,
    ready_column,
    reason_column,
)
from kubeasset.api.runs import HistoryLimit, RetryPolicy, RunReference
from kubeasset.api.types import (
    CODE_JOB_NAME_PATTERN,
    MAX_ASSETS,
    MAX_NAME_LENGTH,
    AssetKeyString,
    ObjectRef,
    Selection,
    ShortString,
)

#: The longest run timeout: a week; longer work belongs in several assets.
MAX_RUN_TIMEOUT_SECONDS = 7 * 24 * 3600
_JOB_FORM_MESSAGE: Final = (
    "set exactly one of selection (the assets to run) or codeJob (a job defined in the code location's Definitions)"
)
#: The name of a job defined in code with ``define_asset_job`` (``sales_job``).
CodeJobName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=CODE_JOB_NAME_PATTERN)]


class AssetJobSpec(KubeModel):
    """What a run of the job materializes and how its Pod runs, like Dagster's ``define_asset_job``.

    Example (YAML)::

        spec:
          codeLocation: shop
          selection: group:sales
          tags: {team: sales}
          pod:
            env: [{name: REPORT_CURRENCY, value: EUR}]
            resources: {requests: {cpu: 500m, memory: 512Mi}}
          retry: {maxRetries: 2}
          runTimeoutSeconds: 3600
          maxConcurrentRuns: 1

    Environment variables of the runs go in ``pod.env`` (merged by name over the code location's),
    so that all Pod settings live in one place with one merge rule.

    A job defined in the code location's ``Definitions`` (``define_asset_job("sales_job", ...)``) is used
    by name with ``codeJob: sales_job`` instead of ``selection``: its selection follows the code.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(cel("has(self.selection) != has(self.codeJob)", _JOB_FORM_MESSAGE))
    )

    code_location: ObjectRef
    """The CodeLocation whose assets the job runs (same namespace)."""
    selection: Selection | None = None
    """The assets to run, in the selection language (``group:sales``, ``1+key:top_customers``, ``*``)."""
    code_job: CodeJobName | None = None
    """Instead of ``selection``: the name of a job defined in the code location's ``Definitions``
    (``define_asset_job``), whose selection the job then uses, as discovered."""
    tags: Tags | None = None
    """Tags of every run of the job (a run's own tags win on conflict)."""
    config: RunConfig | None = None
    """Run configuration of every run (a run's own config is merged over it)."""
    pod: PodSettings | None = None
    """Pod settings of the runs, laid over the code location's (env, resources, node selection, ...)."""
    retry: RetryPolicy | None = None
    """Retries of failed runs; unset: no retries."""
    run_timeout_seconds: Annotated[int, Field(ge=1, le=MAX_RUN_TIMEOUT_SECONDS)] | None = None
    """Fail a run still running this long after its Pod started; unset: no limit."""
    start_timeout_seconds: Annotated[int, Field(ge=1, le=MAX_RUN_TIMEOUT_SECONDS)] | None = None
    """Fail a run whose Pod has not started running this long after the run was created (unschedulable,
    image pull errors); unset: no limit."""
    max_concurrent_runs: Annotated[int, Field(ge=1, le=1000)] | None = None
    """At most this many runs of the job are Starting or Running; more wait as Pending. Unset: no limit."""
    successful_runs_history_limit: HistoryLimit = 10
    """How many finished successful runs of the job to keep (older ones are deleted with their Pods).
    It prunes the runs kubeasset made (``kubeasset launch``, schedules, sensors, retries: labelled
    ``kubeasset.dev/job``); a run applied without that label, e.g. from a GitOps repository, is never
    deleted, since the tool would apply it again. A schedule's or sensor's own limits also prune its runs."""
    failed_runs_history_limit: HistoryLimit = 10
    """How many finished failed or canceled runs of the job to keep (the same runs as above)."""

    @model_validator(mode="after")
    def _one_form(self) -> AssetJobSpec:
        if (self.selection is None) == (self.code_job is None):
            raise ValueError(_JOB_FORM_MESSAGE)
        return self


class AssetJobStatus(KubeModel):
    """The job's resolved asset list. ``Ready`` is False when the code location is not ready, the
    selection does not parse, or it matches no asset."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status describes."""
    conditions: Conditions = Field(default_factory=list)
    """Ready: the selection resolved to at least one asset of a ready code location."""
    assets: Annotated[list[AssetKeyString], Field(max_length=MAX_ASSETS, json_schema_extra=LIST_ATOMIC)] | None = None
    """The selected asset keys, dependencies first (the order runs execute them in)."""
    asset_count: Annotated[int, Field(ge=0)] | None = None
    """How many assets the selection resolved to."""
    graph_hash: ShortString | None = None
    """The code location's graphHash the list was resolved against."""
    last_run: RunReference | None = None
    """The job's most recently created run."""


class AssetJob(KubeResource):
    """AssetJob is a named selection of assets of one code location, with the settings of its runs.

    ``kubectl get assetjobs`` (``ajob``) shows each job's resolved asset count and last run.
    """

    crd: ClassVar[CrdNames] = CrdNames(
        kind="AssetJob",
        plural="assetjobs",
        short_names=("ajob",),
        max_name_length=MAX_NAME_LENGTH,
        printer_columns=(
            PrinterColumn("Location", ".spec.codeLocation", description="Code location"),
            PrinterColumn("Selection", ".spec.selection", description="Asset selection", priority=1),
            PrinterColumn("Assets", ".status.assetCount", "integer", "Number of selected assets"),
            ready_column(),
            reason_column(),
            PrinterColumn("Last Run", ".status.lastRun.name", description="Most recent run"),
            PrinterColumn("Last Phase", ".status.lastRun.phase", description="Phase of the last run", priority=1),
            AGE_COLUMN,
        ),
    )

    kind: Literal["AssetJob"] = "AssetJob"
    spec: AssetJobSpec
    """The job's selection and run settings."""
    status: AssetJobStatus | None = None
    """The resolved selection."""
