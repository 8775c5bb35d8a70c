"""The asset graph: asset specs plus their dependency edges, validated once and shared by the SDK,
the selection language, the runner and the controller.

Both the SDK (from ``@asset`` definitions) and the controller (from a discovery Pod's JSON) build the
same :class:`AssetGraph`, so a selection resolves identically in a test, in the runner and in the cluster.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import networkx as nx

from kubeasset.errors import CycleError, DuplicateKeyError, UnknownDependencyError
from kubeasset.graph.keys import AssetKey, parse_key

DEFAULT_GROUP_NAME = "default"
#: The tags of every spec without tags (one shared, read-only mapping instead of one per spec).
NO_TAGS: Mapping[str, str] = MappingProxyType({})


def frozen_tags(tags: Mapping[str, str] | None) -> Mapping[str, str]:
    """A read-only copy of ``tags``; :data:`NO_TAGS` when there are none."""
    return MappingProxyType(dict(tags)) if tags else NO_TAGS


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """Everything about an asset except how to compute it (Dagster's ``AssetSpec``).

    Example::

        AssetSpec(AssetKey("orders"), deps=(AssetKey("raw_orders"),), group_name="sales",
                  tags={"tier": "gold"}, owners=("team:sales",), kinds=frozenset({"python"}))
    """

    key: AssetKey
    deps: tuple[AssetKey, ...] = ()
    group_name: str = DEFAULT_GROUP_NAME
    tags: Mapping[str, str] = field(default_factory=lambda: NO_TAGS)
    owners: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()
    description: str | None = None
    code_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``runner describe`` and by the controller's discovery."""
        return {
            "key": self.key.to_user_string(),
            "deps": [dep.to_user_string() for dep in self.deps],
            "group": self.group_name,
            "tags": dict(self.tags),
            "owners": list(self.owners),
            "kinds": sorted(self.kinds),
            "description": self.description,
            "codeVersion": self.code_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], keys: dict[str, AssetKey] | None = None) -> AssetSpec:
        """The spec of its JSON form; ``keys``: parsed keys to share between the specs of one graph (each
        key is then one object, however many assets depend on it)."""
        parsed = keys if keys is not None else {}
        return cls(
            key=parse_key(data["key"], parsed),
            deps=tuple(parse_key(dep, parsed) for dep in data.get("deps", [])),
            group_name=data.get("group") or DEFAULT_GROUP_NAME,
            tags=frozen_tags(data.get("tags")),
            owners=tuple(data.get("owners") or ()),
            kinds=frozenset(data.get("kinds") or ()),
            description=data.get("description"),
            code_version=data.get("codeVersion"),
        )


class AssetGraph:
    """A validated, immutable dependency graph of asset specs.

    Construction raises :class:`DuplicateKeyError`, :class:`UnknownDependencyError` or
    :class:`CycleError` with a message naming the offending keys.

    Example::

        graph = AssetGraph([AssetSpec(AssetKey("a")), AssetSpec(AssetKey("b"), deps=(AssetKey("a"),))])
        graph.toposort(graph.keys)  # [AssetKey(['a']), AssetKey(['b'])]
    """

    def __init__(self, specs: Iterable[AssetSpec], *, code_location: str | None = None) -> None:
        by_key: dict[AssetKey, AssetSpec] = {}
        for spec in specs:
            if spec.key in by_key:
                raise DuplicateKeyError(f"duplicate asset key {spec.key}: defined more than once")
            by_key[spec.key] = spec
        self._specs: Mapping[AssetKey, AssetSpec] = MappingProxyType(by_key)
        self.code_location = code_location

        for spec in by_key.values():
            for dep in spec.deps:
                if dep not in by_key:
                    raise UnknownDependencyError(
                        f"asset {spec.key} depends on {dep}, which no asset in the definitions has"
                    )
        # The graph keeps plain tuples: a controller holds graphs of 10,000 assets for its lifetime, and a
        # networkx DiGraph's per-node and per-edge dicts were two thirds of such a graph's memory (and most
        # of the memory peak of building one: bench/README.md, memory).
        self._topological_order: tuple[AssetKey, ...] = _lexicographic_order(by_key)
        children: dict[AssetKey, list[AssetKey]] = {}
        for spec in by_key.values():
            for dep in dict.fromkeys(spec.deps):
                children.setdefault(dep, []).append(spec.key)
        self._children: Mapping[AssetKey, tuple[AssetKey, ...]] = {key: tuple(found) for key, found in children.items()}

    @property
    def specs(self) -> Mapping[AssetKey, AssetSpec]:
        return self._specs

    @cached_property
    def keys(self) -> frozenset[AssetKey]:
        return frozenset(self._specs)

    @property
    def digraph(self) -> nx.DiGraph[AssetKey]:
        """A new networkx DiGraph of the graph, for graph algorithms: edges point downstream, from a
        dependency to the asset that depends on it."""
        digraph: nx.DiGraph[AssetKey] = nx.DiGraph()
        digraph.add_nodes_from(self._specs)
        digraph.add_edges_from((dep, spec.key) for spec in self._specs.values() for dep in spec.deps)
        return digraph

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    @property
    def topological_order(self) -> tuple[AssetKey, ...]:
        """Every key, dependencies first; ties broken by key so the order is stable across processes."""
        return self._topological_order

    @cached_property
    def _position(self) -> Mapping[AssetKey, int]:
        return {key: index for index, key in enumerate(self.topological_order)}

    def toposort(self, keys: Iterable[AssetKey]) -> list[AssetKey]:
        """The given keys in the graph's topological order."""
        position = self._position
        return sorted(set(keys), key=position.__getitem__)

    def parents(self, key: AssetKey) -> Sequence[AssetKey]:
        """The assets ``key`` depends on, in the order its spec lists them (KeyError for an unknown key)."""
        return list(dict.fromkeys(self._specs[key].deps))

    def children(self, key: AssetKey) -> Sequence[AssetKey]:
        """The assets that depend on ``key`` (KeyError for an unknown key)."""
        if key not in self._specs:
            raise KeyError(key)
        return list(self._children.get(key, ()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "codeLocation": self.code_location,
            "assets": [self._specs[key].to_dict() for key in self.topological_order],
        }


def _lexicographic_order(by_key: Mapping[AssetKey, AssetSpec]) -> tuple[AssetKey, ...]:
    """Every key, dependencies first, and among the keys ready at each step the smallest user string first
    (networkx's lexicographical topological sort); raises CycleError naming a cycle. The standard library's
    graphlib keeps a small record per node, where a networkx DiGraph keeps three dicts per node and one per
    edge."""
    sorter = graphlib.TopologicalSorter({spec.key: spec.deps for spec in by_key.values()})
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise CycleError("dependency cycle: " + " -> ".join(map(str, _from_smallest(error.args[1])))) from None
    ready = [(key.to_user_string(), key) for key in sorter.get_ready()]
    heapq.heapify(ready)
    order = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(key)
        sorter.done(key)
        for follower in sorter.get_ready():
            heapq.heappush(ready, (follower.to_user_string(), follower))
    return tuple(order)


def _from_smallest(cycle: list[AssetKey]) -> list[AssetKey]:
    """graphlib's cycle (first node repeated last, each a dependency of the next) rotated to start at its
    smallest key, so the same cycle is always named the same way."""
    nodes = cycle[:-1]
    start = min(range(len(nodes)), key=lambda index: nodes[index].to_user_string())
    rotated = nodes[start:] + nodes[:start]
    return [*rotated, rotated[0]]
