"""The asset graph's order and adjacency, checked against networkx on generated graphs: dependencies first,
the smallest key first among those ready (networkx's lexicographical topological sort, which the graph hash
of a describe document depends on), parents and children as the specs declare them, and a cycle named the
same way whatever the order of the specs."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeasset.errors import CycleError
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec


@st.composite
def acyclic_specs(draw: st.DrawFn) -> list[AssetSpec]:
    """Up to 40 assets whose deps point only to assets defined before them, listed in a shuffled order."""
    size = draw(st.integers(min_value=1, max_value=40))
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=size, max_size=size, unique=True)
    )
    keys = [AssetKey(name) for name in names]
    specs = []
    for index, key in enumerate(keys):
        deps = draw(st.lists(st.sampled_from(keys[:index]), max_size=4)) if index else []
        specs.append(AssetSpec(key, deps=tuple(deps)))
    return draw(st.permutations(specs))


@settings(max_examples=200, deadline=None)
@given(acyclic_specs())
def test_the_order_is_networkx_lexicographical_topological_sort(specs: list[AssetSpec]) -> None:
    graph = AssetGraph(specs)
    reference = nx.DiGraph()
    reference.add_nodes_from(spec.key for spec in specs)
    reference.add_edges_from((dep, spec.key) for spec in specs for dep in spec.deps)

    assert graph.topological_order == tuple(nx.lexicographical_topological_sort(reference, key=str))
    for spec in specs:
        assert graph.parents(spec.key) == list(reference.predecessors(spec.key))
        assert sorted(graph.children(spec.key)) == sorted(reference.successors(spec.key))


@pytest.mark.parametrize(
    "order",
    [["a", "b", "c", "d"], ["d", "c", "b", "a"], ["c", "a", "d", "b"]],
)
def test_a_cycle_is_named_from_its_smallest_key_in_dependency_order(order: list[str]) -> None:
    deps = {"a": ("c",), "b": ("a",), "c": ("b",), "d": ("c",)}  # a <- b <- c <- a, and d after c
    specs = [AssetSpec(AssetKey(name), deps=tuple(AssetKey(dep) for dep in deps[name])) for name in order]

    with pytest.raises(CycleError) as raised:
        AssetGraph(specs)

    assert str(raised.value) == "dependency cycle: a -> b -> c -> a"


def test_parents_and_children_of_an_unknown_key_are_a_key_error() -> None:
    graph = AssetGraph([AssetSpec(AssetKey("a"))])

    with pytest.raises(KeyError):
        graph.parents(AssetKey("x"))
    with pytest.raises(KeyError):
        graph.children(AssetKey("x"))
