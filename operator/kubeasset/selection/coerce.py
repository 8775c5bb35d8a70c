"""Everything a caller may pass as a selection (a string, a list of keys or clauses, an
AssetSelection) turned into one AssetSelection, and resolved over a graph: the helpers the SDK, the
runner, the CLI and the controller call."""

from __future__ import annotations

from collections.abc import Sequence

from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph, AssetKey
from kubeasset.selection.expressions import AssetSelection, HasAssetKey, KeysAssetSelection
from kubeasset.selection.parser import parse_selection

#: A selection string, a list of keys (``AssetKey``, ``"a/b"``, an asset definition) or selection
#: clauses, or an AssetSelection.
CoercibleToAssetSelection = str | Sequence[str | AssetKey | HasAssetKey] | AssetSelection


def coerce_selection(selection: CoercibleToAssetSelection) -> AssetSelection:
    """The AssetSelection for any accepted form.

    A list whose items are all plain keys is ``AssetSelection.keys(*items)``; an item that is a
    clause in the selection language (``"*orders"``, ``"group:sales"``) adds that clause, as in
    Dagster, where each list element is one clause.

    Example::

        coerce_selection(["orders", AssetKey(["raw", "orders"])])  # == keys("orders", "raw/orders")
    """
    if isinstance(selection, AssetSelection):
        return selection
    if isinstance(selection, str):
        return parse_selection(selection)
    if not isinstance(selection, Sequence):
        raise SelectionError(
            "a selection must be a string, a list of asset keys or an AssetSelection, "
            f"got {type(selection).__name__}"
        )
    keys: list[AssetKey] = []
    clauses: list[AssetSelection] = []
    for item in selection:
        if isinstance(item, AssetKey):
            keys.append(item)
        elif isinstance(item, str):
            parsed = parse_selection(item)
            if isinstance(parsed, KeysAssetSelection):
                keys.extend(parsed.selected_keys)
            else:
                clauses.append(parsed)
        elif isinstance(item, HasAssetKey):
            keys.append(AssetKey.coerce(item.key))
        else:
            raise SelectionError(
                f"a selection list holds asset keys or selection strings, got {type(item).__name__}: {item!r}"
            )
    parts: list[AssetSelection] = [KeysAssetSelection(tuple(keys))] if keys or not clauses else []
    result = (parts + clauses)[0]
    for clause in (parts + clauses)[1:]:
        result = result | clause
    return result


def resolve_selection(selection: CoercibleToAssetSelection, graph: AssetGraph) -> list[AssetKey]:
    """The keys of ``graph`` that ``selection`` selects, dependencies first.

    Example::

        resolve_selection("group:sales+", graph)  # [AssetKey(['orders']), AssetKey(['revenue'])]
    """
    return coerce_selection(selection).resolve(graph)
