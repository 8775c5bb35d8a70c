"""kubeasset: define data assets in Python, run them as Kubernetes-native asset jobs.

User code imports everything it needs from here, with Dagster's names::

    from kubeasset import asset, Definitions, define_asset_job

    @asset
    def orders() -> list[int]:
        return [1, 2, 3]

    defs = Definitions(assets=[orders], jobs=[define_asset_job("all_orders", "*")])
"""

from kubeasset.sdk import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    Definitions,
    FilesystemIOManager,
    IOManager,
    MaterializeResult,
    MetadataValue,
    asset,
    build_asset_context,
    define_asset_job,
    materialize,
)

__all__ = [
    "AssetExecutionContext",
    "AssetIn",
    "AssetKey",
    "AssetSelection",
    "AssetSpec",
    "AssetsDefinition",
    "Definitions",
    "FilesystemIOManager",
    "IOManager",
    "MaterializeResult",
    "MetadataValue",
    "asset",
    "build_asset_context",
    "define_asset_job",
    "materialize",
]
