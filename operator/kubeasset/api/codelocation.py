"""CodeLocation: where asset code lives (an image and a Python module) and the graph found in it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from kubeasset.api.base import KubeModel
from kubeasset.api.conditions import Conditions
from kubeasset.api.markers import list_map
from kubeasset.api.pod import PodSettings
from kubeasset.api.resource import (
    AGE_COLUMN,
    CrdNames,
    KubeResource,
    PrinterColumn,
    ready_column,
    reason_column,
)
from kubeasset.api.types import (
    CODE_JOB_NAME_PATTERN,
    MAX_CODE_JOBS,
    MAX_GROUPS,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    PYTHON_MODULE_PATTERN,
    Description,
    GroupName,
    NonEmptyShortString,
    PathString,
    ShortString,
    Timestamp,
)

#: Bounds of the periodic re-discovery interval: often enough for ``:latest`` images, rarely enough
#: not to flood the cluster with discovery Pods.
MIN_REFRESH_INTERVAL_SECONDS = 60
MAX_REFRESH_INTERVAL_SECONDS = 7 * 24 * 3600


class StorageSettings(KubeModel):
    """Where asset values are stored between runs."""

    url: PathString | None = None
    """An fsspec URL or path (``s3://bucket/shop``, ``file:///data/shop``); unset: a path inside the
    Pod, which only lives as long as the Pod (use a volume or an object store to keep values between
    runs)."""


class RefreshPolicy(KubeModel):
    """When the controller re-runs discovery. Any change of the spec (a new image, another module)
    always triggers one; this adds periodic refreshes for mutable image tags such as ``:latest``."""

    interval_seconds: (
        Annotated[int, Field(ge=MIN_REFRESH_INTERVAL_SECONDS, le=MAX_REFRESH_INTERVAL_SECONDS)] | None
    ) = None
    """Re-discover this often even if the spec did not change; unset: only on spec changes."""


class CodeLocationSpec(KubeModel):
    """What to run: a container image holding Python code with one ``Definitions`` object.

    Example (YAML)::

        spec:
          image: kubeasset-example:latest
          module: shop
          pod:
            env: [{name: SHOP_REGION, value: eu}]
          storage: {url: "s3://shop-assets/prod"}
    """

    image: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^\S+$")]
    """The container image with the code and kubeasset installed (``python -m kubeasset.runner``)."""
    module: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=PYTHON_MODULE_PATTERN)]
    """The Python module holding the ``Definitions`` object, e.g. ``shop`` or ``company.pipelines``."""
    working_directory: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH, pattern=r"^/")] | None
    ) = None
    """Absolute directory the module is imported from (added to sys.path); unset: the image's WORKDIR."""
    pod: PodSettings | None = None
    """Settings of the discovery and run Pods: env, resources, service account, volumes, ..."""
    storage: StorageSettings | None = None
    """Where asset values are stored."""
    refresh: RefreshPolicy | None = None
    """When discovery runs again without a spec change."""


class AssetsSummary(KubeModel):
    """The discovered asset graph in brief; one Asset object per asset holds the details."""

    count: Annotated[int, Field(ge=0)] = 0
    """How many assets the code defines."""
    groups: Annotated[list[GroupName], Field(max_length=MAX_GROUPS)] = Field(default_factory=list)
    """The asset groups, sorted."""
    graph_hash: ShortString | None = None
    """A hash of the whole graph (keys, deps, code versions): it changes exactly when the graph does."""


class CodeJob(KubeModel):
    """A job defined in code with ``define_asset_job`` (an AssetJob can mirror it)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=CODE_JOB_NAME_PATTERN)]
    """The job's name in code, e.g. ``sales_job``."""
    selection: Annotated[str, StringConstraints(max_length=4096)] | None = None
    """The job's selection as text, when the code gave one as text."""
    description: Description | None = None
    """The job's description."""


class CodeLocationStatus(KubeModel):
    """What the last discovery found. ``Ready`` is False with a clear message when the module fails to
    import or the graph is invalid (a cycle, an unknown dependency); the previous graph is then kept."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the status describes."""
    conditions: Conditions = Field(default_factory=list)
    """Ready: the code was discovered and its graph is valid."""
    assets: AssetsSummary | None = None
    """The asset graph in brief."""
    jobs: (
        Annotated[list[CodeJob], Field(max_length=MAX_CODE_JOBS, json_schema_extra=list_map("name"))] | None
    ) = None
    """The jobs the code defines."""
    last_discovery_time: Timestamp | None = None
    """When discovery last succeeded."""
    image_id: NonEmptyShortString | None = None
    """The image digest the last discovery Pod ran (its containerStatuses imageID), so runs can use the
    exact code that was discovered even with a mutable tag."""


class CodeLocation(KubeResource):
    """CodeLocation is a container image and Python module holding asset definitions, and what they define.

    ``kubectl get codelocations`` (``codeloc``) shows the asset count and whether discovery succeeded.
    """

    crd: ClassVar[CrdNames] = CrdNames(
        kind="CodeLocation",
        plural="codelocations",
        short_names=("codeloc",),
        max_name_length=MAX_NAME_LENGTH,
        printer_columns=(
            PrinterColumn("Image", ".spec.image", description="Container image of the code"),
            PrinterColumn(
                "Module", ".spec.module", description="Python module with the Definitions", priority=1
            ),
            PrinterColumn("Assets", ".status.assets.count", "integer", "Number of assets discovered"),
            ready_column(),
            reason_column(),
            PrinterColumn("Discovered", ".status.lastDiscoveryTime", "date", "Last discovery", priority=1),
            AGE_COLUMN,
        ),
    )

    kind: Literal["CodeLocation"] = "CodeLocation"
    spec: CodeLocationSpec
    """Where the code is and how to run its Pods."""
    status: CodeLocationStatus | None = None
    """What the controller discovered."""
