"""Asset: one entry of the asset catalog, created and owned by the controller for each discovered asset.

``kubectl get assets`` is the catalog: the spec mirrors the definition in code, the status holds the
latest materialization. Users do not write Assets; the controller replaces the spec after each discovery
and deletes Assets whose definition disappeared (through the ownerReference to the CodeLocation).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from kubeasset.api.base import KubeModel
from kubeasset.api.common import Metadata, Tags
from kubeasset.api.conditions import Conditions
from kubeasset.api.markers import LIST_SET, cel, validations
from kubeasset.api.resource import AGE_COLUMN, CrdNames, KubeResource, PrinterColumn
from kubeasset.api.types import (
    KIND_PATTERN,
    MAX_DEPS,
    MAX_KINDS,
    MAX_OWNERS,
    OWNER_PATTERN,
    AssetKeyString,
    Description,
    GroupName,
    Message,
    ObjectName,
    ObjectRef,
    ShortString,
    Timestamp,
)

Owner = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=OWNER_PATTERN)]
Kind = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=KIND_PATTERN)]


class AssetState(StrEnum):
    """The catalog's verdict on an asset.

    Missing: never materialized. Materialized: the last run that tried it materialized it, with the
    current code version. Failed: the last run that tried it failed on it. Stale: materialized, but by
    an older code version or before one of its dependencies was materialized again.
    """

    MISSING = "Missing"
    MATERIALIZED = "Materialized"
    FAILED = "Failed"
    STALE = "Stale"


class AssetSpec(KubeModel):
    """The asset's definition, as discovered in code (written by the controller)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.deps) || !self.deps.exists(d, d == self.key)",
                "an asset cannot depend on itself",
                field_path=".deps",
            )
        )
    )

    key: AssetKeyString
    """The asset key, e.g. ``raw/orders``."""
    code_location: ObjectRef
    """The CodeLocation that defines the asset."""
    deps: Annotated[list[AssetKeyString], Field(max_length=MAX_DEPS, json_schema_extra=LIST_SET)] | None = (
        None
    )
    """Keys of the assets this one depends on."""
    group: GroupName = "default"
    """The asset's group."""
    tags: Tags | None = None
    """The asset's tags."""
    owners: Annotated[list[Owner], Field(max_length=MAX_OWNERS)] | None = None
    """Owners: email addresses or ``team:<name>``."""
    kinds: Annotated[list[Kind], Field(max_length=MAX_KINDS, json_schema_extra=LIST_SET)] | None = None
    """Kinds of the asset (python, table, markdown, ...), for display."""
    description: Description | None = None
    """The asset's description (its docstring), truncated to 4096 characters."""
    code_version: ShortString | None = None
    """The code version declared in code; a change marks the asset Stale."""


class Materialization(KubeModel):
    """One materialization of an asset: which run made it, when, and what it reported."""

    run_name: ObjectName
    """The AssetRun that materialized the asset (it may have been deleted since)."""
    time: Timestamp
    """When the materialization finished."""
    metadata: Metadata | None = None
    """The metadata the asset reported."""
    code_version: ShortString | None = None
    """The code version that produced it."""
    data_version: ShortString | None = None
    """The data version the asset reported (or derived from its value)."""


class AssetFailure(KubeModel):
    """The last failed attempt at an asset."""

    run_name: ObjectName
    """The AssetRun in which the asset failed."""
    time: Timestamp
    """When it failed."""
    message: Message | None = None
    """The error, as reported by the run."""


class AssetStatus(KubeModel):
    """The asset's materialization state (written by the controller)."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status describes."""
    conditions: Conditions = Field(default_factory=list)
    """Materialized: True when the latest materialization is current."""
    state: AssetState = AssetState.MISSING
    """Missing, Materialized, Failed or Stale."""
    last_materialization: Materialization | None = None
    """The latest successful materialization."""
    last_failure: AssetFailure | None = None
    """The latest failure, if the asset failed after (or without) a materialization."""


class Asset(KubeResource):
    """Asset is one entry of the asset catalog: an asset's definition and its latest materialization.

    Created and owned by the controller; list the catalog with ``kubectl get assets`` (``kasset``).
    """

    crd: ClassVar[CrdNames] = CrdNames(
        kind="Asset",
        plural="assets",
        short_names=("kasset",),
        printer_columns=(
            PrinterColumn("Key", ".spec.key", description="Asset key"),
            PrinterColumn("Group", ".spec.group", description="Asset group"),
            PrinterColumn("State", ".status.state", description="Missing, Materialized, Failed or Stale"),
            PrinterColumn(
                "Last Materialized", ".status.lastMaterialization.time", "date", "Latest materialization"
            ),
            PrinterColumn("Location", ".spec.codeLocation", description="Code location", priority=1),
            PrinterColumn("Run", ".status.lastMaterialization.runName", description="Run", priority=1),
            AGE_COLUMN,
        ),
    )

    kind: Literal["Asset"] = "Asset"
    spec: AssetSpec
    """The asset's definition."""
    status: AssetStatus | None = None
    """The asset's materialization state."""
