"""``materialize()``: run assets in this process, for tests, notebooks and local development."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kubeasset.errors import EmptySelectionError
from kubeasset.sdk.assets_definition import AssetsDefinition
from kubeasset.sdk.definitions import Definitions
from kubeasset.sdk.executor import EventCallback, RunInfo, execute_assets
from kubeasset.sdk.filesystem_io_manager import FilesystemIOManager
from kubeasset.sdk.io_manager import InMemoryIOManager, IOManager
from kubeasset.sdk.jobs import coerce_selection
from kubeasset.sdk.naming import validate_tags
from kubeasset.sdk.run_result import RunResult
from kubeasset.selection import CoercibleToAssetSelection, resolve_selection


def materialize(
    assets_or_definitions: Definitions | Sequence[AssetsDefinition],
    selection: CoercibleToAssetSelection | None = None,
    *,
    storage: str | os.PathLike[str] | None = None,
    io_manager: IOManager | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    raise_on_error: bool = True,
    on_event: EventCallback | None = None,
) -> RunResult:
    """Materialize assets in this process, in topological order (Dagster's ``materialize``).

    ``selection`` (selection language, keys or an AssetSelection; default: every asset) picks what
    runs; assets passed but not selected are sources: their values are loaded through the IO manager.
    Values are kept in memory unless ``storage`` (a directory or fsspec URL, for a
    :class:`FilesystemIOManager`) or ``io_manager`` is given. ``on_event`` receives every execution
    event as it happens. With ``raise_on_error`` (the default) the first asset exception is re-raised
    once the run is over; otherwise inspect the returned :class:`RunResult`.

    Example::

        result = materialize([raw_orders, orders], storage=tmp_path)
        assert result.success and result.asset_value("orders") == [...]

        # Later: recompute only orders, loading raw_orders from storage.
        materialize([raw_orders, orders], selection="orders", storage=tmp_path)
    """
    if storage is not None and io_manager is not None:
        raise TypeError("materialize() takes storage= or io_manager=, not both")
    definitions = (
        assets_or_definitions
        if isinstance(assets_or_definitions, Definitions)
        else Definitions(assets=list(assets_or_definitions))
    )
    graph = definitions.asset_graph
    if selection is None:
        keys = list(graph.topological_order)
    else:
        asset_selection, text = coerce_selection(selection, owner="materialize()")
        keys = resolve_selection(asset_selection, graph)
        if not keys:
            raise EmptySelectionError(
                f"materialize(): selection {text!r} matched none of the {len(graph)} assets"
            )
    manager: IOManager = io_manager or (
        FilesystemIOManager(storage) if storage is not None else InMemoryIOManager()
    )
    result = execute_assets(
        definitions,
        keys,
        io_manager=manager,
        run=RunInfo(
            run_name=run_name or f"local-{uuid.uuid4().hex[:8]}",
            tags=validate_tags(tags, owner="materialize()"),
            config=dict(run_config or {}),
        ),
        on_event=on_event,
        keep_values=True,
    )
    if result.canceled:
        raise KeyboardInterrupt
    if raise_on_error and result.first_exception is not None:
        raise result.first_exception
    return result
