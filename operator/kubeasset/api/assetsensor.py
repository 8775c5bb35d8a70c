"""AssetSensor: start runs of an AssetJob when watched assets are materialized (Dagster's asset sensor).

The cursor in the status records, per watched asset, the last materialization already consumed, so each
upstream materialization triggers at most once, across controller restarts and replicas.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Final, Literal

from pydantic import Field

from kubeasset.api.base import KubeModel
from kubeasset.api.common import RunConfig, Tags
from kubeasset.api.conditions import Conditions
from kubeasset.api.markers import list_map
from kubeasset.api.resource import AGE_COLUMN, CrdNames, KubeResource, PrinterColumn, ready_column
from kubeasset.api.runs import HistoryLimit, RunReference
from kubeasset.api.types import (
    MAX_ASSETS,
    MAX_TRIGGER_NAME_LENGTH,
    AssetKeyString,
    ObjectName,
    ObjectRef,
    Selection,
    Timestamp,
)

#: Dagster's default minimum interval between two evaluations of a sensor.
DEFAULT_MINIMUM_INTERVAL_SECONDS: Final = 30


class SensorTrigger(StrEnum):
    """When the sensor fires, counting materializations since its last trigger."""

    ANY = "any"
    """As soon as any watched asset was materialized."""
    ALL = "all"
    """Once every watched asset was materialized (at least once each)."""


class AssetSensorSpec(KubeModel):
    """Which assets to watch and which job to run.

    Example (YAML)::

        spec:
          job: marketing-job
          selection: key:top_customers or key:raw/campaigns
          trigger: all
          minimumIntervalSeconds: 60
    """

    job: ObjectRef
    """The AssetJob to run (same namespace)."""
    selection: Selection
    """The watched assets, in the selection language, evaluated in the job's code location."""
    trigger: SensorTrigger = SensorTrigger.ANY
    """``any``: fire when any watched asset was materialized since the last trigger; ``all``: when
    each was."""
    minimum_interval_seconds: Annotated[int, Field(ge=0, le=86400)] = DEFAULT_MINIMUM_INTERVAL_SECONDS
    """At most one trigger per this many seconds; materializations in between are batched into one run."""
    suspend: bool = False
    """Stop triggering; materializations while suspended still count when it resumes."""
    tags: Tags | None = None
    """Tags of the runs this sensor starts (over the job's)."""
    config: RunConfig | None = None
    """Run configuration of the runs this sensor starts (merged over the job's)."""
    successful_runs_history_limit: HistoryLimit = 3
    """How many finished successful runs started by this sensor to keep."""
    failed_runs_history_limit: HistoryLimit = 1
    """How many finished failed or canceled runs started by this sensor to keep."""


class SensorCursorEntry(KubeModel):
    """The last materialization of one watched asset the sensor has consumed."""

    key: AssetKeyString
    """The watched asset's key."""
    time: Timestamp
    """The consumed materialization's time."""
    run_name: ObjectName | None = None
    """The run that made the consumed materialization."""


class SensorTriggerRecord(KubeModel):
    """One firing of the sensor."""

    time: Timestamp
    """When the sensor fired."""
    run_name: ObjectName
    """The run it created."""
    assets: Annotated[list[AssetKeyString], Field(max_length=MAX_ASSETS)] | None = None
    """The watched assets whose new materializations caused it."""


class AssetSensorStatus(KubeModel):
    """What the sensor has seen and done. ``Ready`` is False for a selection that does not parse or a
    missing job."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status describes."""
    conditions: Conditions = Field(default_factory=list)
    """Ready: the selection resolves and the job exists."""
    cursor: (
        Annotated[list[SensorCursorEntry], Field(max_length=MAX_ASSETS, json_schema_extra=list_map("key"))]
        | None
    ) = None
    """Per watched asset, the last materialization consumed by a trigger."""
    last_evaluation_time: Timestamp | None = None
    """When the sensor last looked at the catalog."""
    last_trigger: SensorTriggerRecord | None = None
    """The sensor's latest firing."""
    last_run: RunReference | None = None
    """The latest run this sensor started, with its outcome."""


class AssetSensor(KubeResource):
    """AssetSensor starts runs of an AssetJob when watched assets are materialized.

    ``kubectl get assetsensors`` (``asensor``) shows the last trigger.
    """

    crd: ClassVar[CrdNames] = CrdNames(
        kind="AssetSensor",
        plural="assetsensors",
        short_names=("asensor",),
        max_name_length=MAX_TRIGGER_NAME_LENGTH,
        printer_columns=(
            PrinterColumn("Job", ".spec.job", description="AssetJob started on a trigger"),
            PrinterColumn("Trigger", ".spec.trigger", description="any or all of the watched assets"),
            PrinterColumn("Suspend", ".spec.suspend", "boolean", "Whether the sensor is suspended"),
            ready_column(priority=1),
            PrinterColumn("Last", ".status.lastTrigger.time", "date", "Latest trigger"),
            PrinterColumn(
                "Last Run", ".status.lastTrigger.runName", description="Run of the latest trigger", priority=1
            ),
            AGE_COLUMN,
        ),
    )

    kind: Literal["AssetSensor"] = "AssetSensor"
    spec: AssetSensorSpec
    """The watched assets and the job to run."""
    status: AssetSensorStatus | None = None
    """Cursor and last trigger."""
