"""What user code imports to define assets and jobs, and to run them in-process (Dagster's names).

Everything here is re-exported by :mod:`kubeasset`; import from there::

    from kubeasset import asset, Definitions, define_asset_job, materialize
"""

from kubeasset.graph import AssetKey, AssetSpec
from kubeasset.sdk.asset_in import AssetIn
from kubeasset.sdk.assets_definition import AssetsDefinition
from kubeasset.sdk.code_location import load_definitions
from kubeasset.sdk.context import AssetExecutionContext, build_asset_context
from kubeasset.sdk.decorators import asset
from kubeasset.sdk.definitions import Definitions
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.events import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    AssetStarted,
    ExecutionEvent,
    RunFinished,
    RunStarted,
    event_from_json,
    event_to_json,
)
from kubeasset.sdk.executor import RunInfo, execute_assets
from kubeasset.sdk.filesystem_io_manager import FilesystemIOManager
from kubeasset.sdk.io_manager import InMemoryIOManager, InputContext, IOManager, OutputContext
from kubeasset.sdk.jobs import AssetJobDefinition, define_asset_job
from kubeasset.sdk.materialize import materialize
from kubeasset.sdk.materialize_result import NO_VALUE, MaterializeResult
from kubeasset.sdk.metadata import ROW_COUNT_METADATA_KEY, MetadataValue
from kubeasset.sdk.run_result import AssetResult, AssetState, RunResult
from kubeasset.selection import AssetSelection, CoercibleToAssetSelection

__all__ = [
    "NO_VALUE",
    "ROW_COUNT_METADATA_KEY",
    "AssetExecutionContext",
    "AssetFailed",
    "AssetIn",
    "AssetJobDefinition",
    "AssetKey",
    "AssetMaterialized",
    "AssetResult",
    "AssetSelection",
    "AssetSkipped",
    "AssetSpec",
    "AssetStarted",
    "AssetState",
    "AssetsDefinition",
    "CoercibleToAssetSelection",
    "Definitions",
    "ErrorInfo",
    "ExecutionEvent",
    "FilesystemIOManager",
    "IOManager",
    "InMemoryIOManager",
    "InputContext",
    "MaterializeResult",
    "MetadataValue",
    "OutputContext",
    "RunFinished",
    "RunInfo",
    "RunResult",
    "RunStarted",
    "asset",
    "build_asset_context",
    "define_asset_job",
    "event_from_json",
    "event_to_json",
    "execute_assets",
    "load_definitions",
    "materialize",
]
