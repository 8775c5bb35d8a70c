"""The asset selection language: Dagster's current selection syntax, its legacy bare-key form and the
``AssetSelection`` Python API, evaluated over an :class:`~kubeasset.graph.AssetGraph`.

Example::

    from kubeasset.selection import AssetSelection, parse_selection, resolve_selection

    resolve_selection('group:sales+ and not tag:"tier"="bronze"', graph)
    parse_selection("*orders") == AssetSelection.keys("orders").upstream()

The syntax reference, and where kubeasset differs from Dagster, is docs/selection.md.
"""

from kubeasset.selection.attributes import SUPPORTED_FILTERS, UNSUPPORTED_FILTERS
from kubeasset.selection.coerce import CoercibleToAssetSelection, coerce_selection, resolve_selection
from kubeasset.selection.evaluation import prepare_index
from kubeasset.selection.expressions import (
    AllSelection,
    AndAssetSelection,
    AssetSelection,
    CodeLocationAssetSelection,
    DownstreamAssetSelection,
    GroupsAssetSelection,
    GroupWildCardAssetSelection,
    HasAssetKey,
    KeyPrefixesAssetSelection,
    KeysAssetSelection,
    KeyWildCardAssetSelection,
    KindAssetSelection,
    OrAssetSelection,
    OwnerAssetSelection,
    RootsAssetSelection,
    SinksAssetSelection,
    SubtractAssetSelection,
    TagAssetSelection,
    UpstreamAssetSelection,
)
from kubeasset.selection.parser import MAX_NESTING, parse_selection

__all__ = [
    "MAX_NESTING",
    "prepare_index",
    "SUPPORTED_FILTERS",
    "UNSUPPORTED_FILTERS",
    "AllSelection",
    "AndAssetSelection",
    "AssetSelection",
    "CodeLocationAssetSelection",
    "CoercibleToAssetSelection",
    "DownstreamAssetSelection",
    "GroupWildCardAssetSelection",
    "GroupsAssetSelection",
    "HasAssetKey",
    "KeyPrefixesAssetSelection",
    "KeyWildCardAssetSelection",
    "KeysAssetSelection",
    "KindAssetSelection",
    "OrAssetSelection",
    "OwnerAssetSelection",
    "RootsAssetSelection",
    "SinksAssetSelection",
    "SubtractAssetSelection",
    "TagAssetSelection",
    "UpstreamAssetSelection",
    "coerce_selection",
    "parse_selection",
    "resolve_selection",
]
