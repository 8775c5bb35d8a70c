"""The controller prepares a graph's selection index when it builds the graph, so the first job selection
resolved over it builds nothing (bench/selection.py measures the time)."""

from __future__ import annotations

from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.selection import prepare_index, resolve_selection
from kubeasset.selection.evaluation import GraphIndex, index_of


def test_a_prepared_index_is_complete_and_resolves_as_a_lazy_one() -> None:
    specs = [AssetSpec(AssetKey(f"n{i}"), deps=(AssetKey(f"n{i - 1}"),) if i else (), group_name="g") for i in range(5)]
    prepared, lazy = AssetGraph(specs), AssetGraph(specs)
    prepare_index(prepared)
    built = {name for name, value in vars(GraphIndex).items() if hasattr(value, "func")}
    assert built and built <= set(vars(index_of(prepared)))  # every cached part is there already
    for text in ("key:n2+", "+key:n2", "group:g", "key:n0 or key:n4"):
        assert resolve_selection(text, prepared) == resolve_selection(text, lazy)
