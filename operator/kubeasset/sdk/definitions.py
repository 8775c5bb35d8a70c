"""``Definitions``: the one object a code location exposes, holding its assets, jobs and asset graph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from kubeasset.errors import (
    DefinitionError,
    DuplicateKeyError,
    EmptySelectionError,
    SelectionError,
    UnknownJobError,
)
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.sdk.assets_definition import AssetsDefinition
from kubeasset.sdk.jobs import AssetJobDefinition
from kubeasset.selection import resolve_selection


class Definitions:
    """All assets and jobs of a code location; building it validates them as a whole.

    Raises one :mod:`kubeasset.errors` error naming the problem: a duplicate asset key
    (:class:`DuplicateKeyError`, naming both functions), a dependency on an unknown key
    (:class:`UnknownDependencyError`), a cycle (:class:`CycleError`, naming it), two jobs with one name
    (:class:`DefinitionError`), or a job selecting nothing (:class:`EmptySelectionError`, naming the job
    and its selection).

    Example::

        defs = Definitions(assets=[raw_orders, orders], jobs=[define_asset_job("daily", "*")])
        defs.resolve_job_assets("daily")  # [AssetKey(['raw_orders']), AssetKey(['orders'])]
    """

    __slots__ = ("_assets", "_by_key", "_graph", "_jobs", "_job_assets")
    _assets: tuple[AssetsDefinition, ...]
    _by_key: Mapping[AssetKey, AssetsDefinition]
    _graph: AssetGraph
    _jobs: tuple[AssetJobDefinition, ...]
    _job_assets: Mapping[str, tuple[AssetKey, ...]]

    def __init__(
        self,
        assets: Iterable[AssetsDefinition] | None = None,
        jobs: Iterable[AssetJobDefinition] | None = None,
    ) -> None:
        assets_defs = _unique_assets(assets or ())
        by_key = {assets_def.key: assets_def for assets_def in assets_defs}
        graph = AssetGraph(assets_def.spec for assets_def in assets_defs)

        jobs_by_name: dict[str, AssetJobDefinition] = {}
        for job in jobs or ():
            if not isinstance(job, AssetJobDefinition):
                raise DefinitionError(
                    f"Definitions(jobs=...) takes jobs made by define_asset_job, got {type(job).__name__}"
                )
            if job.name in jobs_by_name and jobs_by_name[job.name] is not job:
                raise DefinitionError(f"two jobs are named {job.name!r}: job names must be unique")
            jobs_by_name[job.name] = job
        job_assets = {name: _resolve_job(job, graph) for name, job in jobs_by_name.items()}

        object.__setattr__(self, "_assets", tuple(assets_defs))
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_jobs", tuple(jobs_by_name.values()))
        object.__setattr__(self, "_job_assets", MappingProxyType(job_assets))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Definitions is immutable; build a new one")

    @property
    def assets(self) -> tuple[AssetsDefinition, ...]:
        return self._assets

    @property
    def jobs(self) -> tuple[AssetJobDefinition, ...]:
        return self._jobs

    @property
    def asset_graph(self) -> AssetGraph:
        return self._graph

    @property
    def assets_by_key(self) -> Mapping[AssetKey, AssetsDefinition]:
        return self._by_key

    def get_job(self, name: str) -> AssetJobDefinition:
        for job in self.jobs:
            if job.name == name:
                return job
        defined = ", ".join(job.name for job in self.jobs) or "none"
        raise UnknownJobError(f"no job named {name!r} in the definitions (jobs: {defined})")

    def resolve_job_assets(self, name: str) -> list[AssetKey]:
        """The job's assets in topological order."""
        self.get_job(name)
        return list(self._job_assets[name])

    def get_assets_def(self, key: AssetKey | str) -> AssetsDefinition:
        asset_key = AssetKey.coerce(key)
        try:
            return self.assets_by_key[asset_key]
        except KeyError:
            raise DefinitionError(f"no asset {asset_key} in the definitions") from None

    def __repr__(self) -> str:
        return f"<Definitions: {len(self.assets)} assets, {len(self.jobs)} jobs>"


def _unique_assets(assets: Iterable[Any]) -> list[AssetsDefinition]:
    if isinstance(assets, AssetsDefinition):
        raise DefinitionError("Definitions(assets=...) takes a list of assets, got a single asset")
    result: list[AssetsDefinition] = []
    seen: dict[AssetKey, AssetsDefinition] = {}
    for position, item in enumerate(assets):
        if isinstance(item, AssetSpec):
            raise DefinitionError(
                f"Definitions(assets=...) item {position} is an AssetSpec ({item.key}); external assets "
                "are not supported: define it with @asset, or drop it and depend on it with deps="
            )
        if not isinstance(item, AssetsDefinition):
            what = getattr(item, "__qualname__", type(item).__name__)
            hint = "; decorate it with @asset" if callable(item) else ""
            raise DefinitionError(
                f"Definitions(assets=...) item {position} ({what}) is not an asset definition{hint}"
            )
        previous = seen.get(item.key)
        if previous is item:
            continue  # the same definition listed twice is harmless
        if previous is not None:
            raise DuplicateKeyError(
                f"duplicate asset key {item.key}: defined by {previous.function_name} and "
                f"{item.function_name}"
            )
        seen[item.key] = item
        result.append(item)
    return result


def _resolve_job(job: AssetJobDefinition, graph: AssetGraph) -> tuple[AssetKey, ...]:
    try:
        keys = resolve_selection(job.selection, graph)
    except EmptySelectionError as error:
        raise EmptySelectionError(f"job {job.name!r}: {error}") from error
    except SelectionError as error:
        raise SelectionError(f"job {job.name!r}: selection {job.selection_text!r}: {error}") from error
    if not keys:
        raise EmptySelectionError(
            f"job {job.name!r} selects no asset: selection {job.selection_text!r} matched none of the "
            f"{len(graph)} assets"
        )
    return tuple(keys)
