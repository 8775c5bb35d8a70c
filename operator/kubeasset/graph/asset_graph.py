"""The asset graph: asset specs plus their dependency edges, validated once and shared by the SDK,
the selection language, the runner and the controller.

Both the SDK (from ``@asset`` definitions) and the controller (from a discovery Pod's JSON) build the
same :class:`AssetGraph`, so a selection resolves identically in a test, in the runner and in the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import networkx as nx

from kubeasset.errors import CycleError, DuplicateKeyError, UnknownDependencyError
from kubeasset.graph.keys import AssetKey

DEFAULT_GROUP_NAME = "default"


@dataclass(frozen=True)
class AssetSpec:
    """Everything about an asset except how to compute it (Dagster's ``AssetSpec``).

    Example::

        AssetSpec(AssetKey("orders"), deps=(AssetKey("raw_orders"),), group_name="sales",
                  tags={"tier": "gold"}, owners=("team:sales",), kinds=frozenset({"python"}))
    """

    key: AssetKey
    deps: tuple[AssetKey, ...] = ()
    group_name: str = DEFAULT_GROUP_NAME
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
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
    def from_dict(cls, data: Mapping[str, Any]) -> AssetSpec:
        return cls(
            key=AssetKey.from_user_string(data["key"]),
            deps=tuple(AssetKey.from_user_string(dep) for dep in data.get("deps", [])),
            group_name=data.get("group") or DEFAULT_GROUP_NAME,
            tags=MappingProxyType(dict(data.get("tags") or {})),
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

        digraph: nx.DiGraph[AssetKey] = nx.DiGraph()
        digraph.add_nodes_from(by_key)
        for spec in by_key.values():
            for dep in spec.deps:
                if dep not in by_key:
                    raise UnknownDependencyError(
                        f"asset {spec.key} depends on {dep}, which no asset in the definitions has"
                    )
                digraph.add_edge(dep, spec.key)
        _raise_on_cycle(digraph)
        self._digraph = digraph

    @property
    def specs(self) -> Mapping[AssetKey, AssetSpec]:
        return self._specs

    @cached_property
    def keys(self) -> frozenset[AssetKey]:
        return frozenset(self._specs)

    @property
    def digraph(self) -> nx.DiGraph[AssetKey]:
        """Edges point downstream: from a dependency to the asset that depends on it. Do not mutate."""
        return self._digraph

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    @cached_property
    def topological_order(self) -> tuple[AssetKey, ...]:
        """Every key, dependencies first; ties broken by key so the order is stable across processes."""
        return tuple(nx.lexicographical_topological_sort(self._digraph, key=AssetKey.to_user_string))

    @cached_property
    def _position(self) -> Mapping[AssetKey, int]:
        return {key: index for index, key in enumerate(self.topological_order)}

    def toposort(self, keys: Iterable[AssetKey]) -> list[AssetKey]:
        """The given keys in the graph's topological order."""
        position = self._position
        return sorted(set(keys), key=position.__getitem__)

    def parents(self, key: AssetKey) -> Sequence[AssetKey]:
        return list(self._digraph.predecessors(key))

    def children(self, key: AssetKey) -> Sequence[AssetKey]:
        return list(self._digraph.successors(key))

    def to_dict(self) -> dict[str, Any]:
        return {
            "codeLocation": self.code_location,
            "assets": [self._specs[key].to_dict() for key in self.topological_order],
        }


def _raise_on_cycle(digraph: nx.DiGraph[AssetKey]) -> None:
    # find_cycle alone searches from every node and is quadratic on large acyclic graphs; the linear
    # acyclicity test answers the common case, and find_cycle only runs to name a cycle that exists.
    if nx.is_directed_acyclic_graph(digraph):
        return
    try:
        cycle = nx.find_cycle(digraph)
    except nx.NetworkXNoCycle:
        return
    path = [str(edge[0]) for edge in cycle] + [str(cycle[0][0])]
    raise CycleError("dependency cycle: " + " -> ".join(path))
