"""Asset jobs: a named selection of assets to run together (Dagster's ``define_asset_job``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kubeasset.errors import DefinitionError, SelectionError, SelectionSyntaxError
from kubeasset.sdk.naming import validate_job_name, validate_tags
from kubeasset.selection import AssetSelection, CoercibleToAssetSelection
from kubeasset.selection import coerce_selection as to_asset_selection


@dataclass(frozen=True)
class AssetJobDefinition:
    """A job defined in code: a name, an asset selection, and the run tags/config it passes on.

    Built with :func:`define_asset_job`; :class:`Definitions` resolves its selection against the graph.
    ``selection_text`` is the selection in the selection language (what ``runner describe`` reports).
    """

    name: str
    selection: AssetSelection
    selection_text: str
    tags: Mapping[str, str]
    config: Mapping[str, Any]
    description: str | None


def define_asset_job(
    name: str,
    selection: CoercibleToAssetSelection = "*",
    *,
    tags: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> AssetJobDefinition:
    """Define a job that materializes a selection of assets (default: all of them).

    ``name``: 1-63 letters, digits, ``_`` or ``-``, starting and ending with a letter or digit (a valid
    Dagster job name and a valid Kubernetes label value). ``selection``: a string in the selection
    language (parsed now: a syntax error raises :class:`kubeasset.errors.SelectionSyntaxError` naming
    the job), a list of keys, or an :class:`AssetSelection`. ``tags`` become run tags; ``config`` is a
    JSON object every asset of the run reads as ``context.run_config``.

    Example::

        daily = define_asset_job("daily_sales", "group:sales", tags={"team": "sales"})
        both = define_asset_job("two", ["raw_orders", "warehouse/orders"])
        gold = define_asset_job("gold", AssetSelection.tag("tier", "gold").downstream())
    """
    job_name = validate_job_name(name)
    owner = f"job {job_name!r}"
    if description is not None and not isinstance(description, str):
        raise DefinitionError(f"{owner}: description must be a str, got {type(description).__name__}")
    asset_selection, text = coerce_selection(selection, owner=owner)
    return AssetJobDefinition(
        name=job_name,
        selection=asset_selection,
        selection_text=text,
        tags=validate_tags(tags, owner=owner),
        config=_validate_config(config, owner=owner),
        description=description,
    )


def coerce_selection(selection: CoercibleToAssetSelection, *, owner: str) -> tuple[AssetSelection, str]:
    """An AssetSelection and its text in the selection language; errors name ``owner``."""
    try:
        asset_selection = to_asset_selection(selection)
        text = selection if isinstance(selection, str) else asset_selection.to_selection_str()
    except SelectionSyntaxError as error:
        raise SelectionSyntaxError(
            f"{owner}: selection {selection!r} does not parse: {error}", text=error.text, column=error.column
        ) from error
    except SelectionError as error:
        raise SelectionError(f"{owner}: {error}") from error
    except DefinitionError as error:  # an invalid key in a list of keys
        raise DefinitionError(f"{owner}: selection: {error}") from error
    return asset_selection, text


def _validate_config(config: Mapping[str, Any] | None, *, owner: str) -> Mapping[str, Any]:
    if config is None:
        return MappingProxyType({})
    if not isinstance(config, Mapping):
        raise DefinitionError(f"{owner}: config must be a dict, got {type(config).__name__}")
    try:
        normalized = json.loads(json.dumps(config, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise DefinitionError(f"{owner}: config must be JSON-serializable: {error}") from error
    return MappingProxyType(normalized)
