"""The context an asset function receives when its first parameter is named ``context``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from kubeasset.graph import AssetKey, CoercibleToAssetKey
from kubeasset.sdk.metadata import MetadataValue, normalize_metadata


class AssetExecutionContext:
    """Run information for one asset computation (Dagster's ``AssetExecutionContext``, partition-free).

    Example::

        @asset
        def orders(context: AssetExecutionContext, raw_orders: list[dict]) -> list[dict]:
            context.log.info("run %s computing %s", context.run_name, context.asset_key)
            context.add_output_metadata({"dagster/row_count": len(raw_orders)})
            return raw_orders

    ``run_name`` identifies the run (``run_id`` is the same string, for Dagster code); ``run_tags`` and
    ``run_config`` come from the job or the AssetRun; ``scheduled_time`` is set for scheduled runs.
    """

    def __init__(
        self,
        *,
        run_name: str,
        asset_key: AssetKey,
        run_tags: Mapping[str, str] | None = None,
        run_config: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self._run_name = run_name
        self._asset_key = asset_key
        self._run_tags: Mapping[str, str] = MappingProxyType(dict(run_tags or {}))
        self._run_config: Mapping[str, Any] = MappingProxyType(dict(run_config or {}))
        self._scheduled_time = scheduled_time
        self._log = log or logging.getLogger(f"kubeasset.asset.{asset_key.to_user_string()}")
        self._output_metadata: dict[str, MetadataValue] = {}

    @property
    def run_name(self) -> str:
        return self._run_name

    @property
    def run_id(self) -> str:
        """The run's name; kubeasset runs are identified by name (Dagster code reads ``run_id``)."""
        return self._run_name

    @property
    def asset_key(self) -> AssetKey:
        return self._asset_key

    @property
    def run_tags(self) -> Mapping[str, str]:
        return self._run_tags

    @property
    def run_config(self) -> Mapping[str, Any]:
        return self._run_config

    @property
    def scheduled_time(self) -> datetime | None:
        return self._scheduled_time

    @property
    def log(self) -> logging.Logger:
        return self._log

    def add_output_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Attach materialization metadata without returning a MaterializeResult (later keys win)."""
        owner = f"asset {self._asset_key}: add_output_metadata"
        self._output_metadata.update(normalize_metadata(metadata, owner=owner))

    @property
    def output_metadata(self) -> Mapping[str, MetadataValue]:
        """Metadata added so far with :meth:`add_output_metadata`."""
        return MappingProxyType(self._output_metadata)


def build_asset_context(
    asset_key: CoercibleToAssetKey = "asset",
    *,
    run_name: str = "direct-invocation",
    run_tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    scheduled_time: datetime | None = None,
) -> AssetExecutionContext:
    """A context for calling an asset function directly in a unit test (Dagster's name).

    Example::

        assert orders(build_asset_context("orders"), raw_orders=[{"id": 1}]) == [{"id": 1}]
    """
    return AssetExecutionContext(
        run_name=run_name,
        asset_key=AssetKey.coerce(asset_key),
        run_tags=run_tags,
        run_config=run_config,
        scheduled_time=scheduled_time,
    )
