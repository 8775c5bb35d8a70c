"""The asset catalog: the Asset objects a code location's graph should have, how they differ from the
ones that exist, the graph rebuilt from them, and each asset's materialization state.

The Asset objects *are* the stored graph: jobs, runs and sensors resolve selections against
:func:`graph_from_assets`, so the graph lives in exactly one place in the cluster and a
CodeLocation's status stays small whatever the number of assets.

Sizes to keep in mind: a location may hold 10,000 assets. Desired manifests are plain dicts (a unit test
holds them to the Asset model), and :class:`CatalogMemo` spares the controller rebuilding them for each
reconcile of an unchanged graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from kubeasset.api.asset import Asset, AssetFailure, AssetState, AssetStatus, Materialization
from kubeasset.api.asset import AssetSpec as AssetObjectSpec
from kubeasset.api.base import GROUP_VERSION
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.conditions import MATERIALIZED, ConditionStatus, set_condition
from kubeasset.api.resource import OwnerReference
from kubeasset.api.types import MAX_DESCRIPTION_LENGTH
from kubeasset.errors import InvalidManifestError
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec, frozen_tags, parse_key
from kubeasset.reconcile.naming import COMPONENT_ASSET, asset_object_names, child_labels, owner_reference
from kubeasset.reconcile.plan_items import ObjectId

# --- desired objects and their difference with the existing ones --------------------------------------


def desired_assets(location: CodeLocation, graph: AssetGraph) -> list[dict[str, Any]]:
    """One Asset manifest per asset of ``graph``, in topological order: the spec mirrors the definition
    (description cut to 4096 characters), labels name the location and group, and the CodeLocation owns
    it. Raises InvalidManifestError naming the asset when a definition exceeds what an Asset can hold
    (more than 1000 deps, 64 tags...).

    The manifests are plain dicts, built directly (a unit test checks they are what the Asset model
    writes); the specs are checked against the model's bounds in one pass, without building models: a
    10,000-asset graph costs tens of milliseconds, not a second.
    """
    location_name = location.metadata.name or ""
    namespace = location.metadata.namespace
    owners = [OwnerReference.model_validate(owner_reference(location)).to_json()]
    names = asset_object_names(location_name, graph.topological_order)
    labels_of_group: dict[str, dict[str, str]] = {}
    specs = [asset_spec_json(graph.specs[key], location_name) for key in graph.topological_order]
    _check_specs(graph.topological_order, specs)
    manifests = []
    for key, spec in zip(graph.topological_order, specs, strict=True):
        group = spec["group"]
        labels = labels_of_group.get(group)
        if labels is None:
            labels = labels_of_group[group] = child_labels(COMPONENT_ASSET, code_location=location_name, group=group)
        metadata: dict[str, Any] = {"name": names[key]}
        if namespace is not None:
            metadata["namespace"] = namespace
        # Each manifest gets its own containers (callers may add to them); the strings are shared.
        metadata["labels"] = dict(labels)
        metadata["ownerReferences"] = [dict(owner) for owner in owners]
        manifests.append({"apiVersion": GROUP_VERSION, "kind": Asset.crd.kind, "metadata": metadata, "spec": spec})
    return manifests


def asset_spec_json(spec: AssetSpec, location_name: str) -> dict[str, Any]:
    """The Asset object's spec for a definition, as JSON; empty lists and maps are left out (unchecked:
    :func:`desired_assets` checks it)."""
    description = spec.description
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        description = description[: MAX_DESCRIPTION_LENGTH - 1] + "…"
    candidate: dict[str, Any] = {
        "key": spec.key.to_user_string(),
        "codeLocation": location_name,
        "deps": [dep.to_user_string() for dep in spec.deps] or None,
        "group": spec.group_name,
        "tags": dict(spec.tags) or None,
        "owners": list(spec.owners) or None,
        "kinds": sorted(spec.kinds) or None,
        "description": description,
        "codeVersion": spec.code_version,
    }
    return {field_name: value for field_name, value in candidate.items() if value is not None}


def asset_object_spec(spec: AssetSpec, location_name: str) -> AssetObjectSpec:
    """The Asset object's spec for a definition, as a model; empty lists and maps are left out."""
    return AssetObjectSpec.model_validate(asset_spec_json(spec, location_name))


#: Checks a list of spec dicts against the Asset spec model in one call (no model kept).
_SPECS: Final = TypeAdapter(list[AssetObjectSpec])


def _check_specs(keys: Sequence[AssetKey], specs: list[dict[str, Any]]) -> None:
    try:
        _SPECS.validate_python(specs)
    except ValidationError as error:
        problems: dict[int, list[str]] = {}
        for item in error.errors(include_url=False):
            index, *path = item["loc"]
            problems.setdefault(int(index), []).append(f"{_path(tuple(path))}: {item['msg']}")
        first = min(problems)
        raise InvalidManifestError(
            f"asset {keys[first]} cannot be stored in the catalog: {'; '.join(problems[first])}"
        ) from error


@dataclass(frozen=True)
class CatalogChanges:
    """What to do to the catalog: Asset manifests to create, manifests to apply over existing objects
    whose spec, labels or owner changed (the controller patches spec and metadata, never status), and
    objects to delete (their asset left the code)."""

    create: tuple[dict[str, Any], ...] = ()
    update: tuple[dict[str, Any], ...] = ()
    delete: tuple[ObjectId, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def diff_catalog(desired: Sequence[Mapping[str, Any]], existing: Iterable[Asset]) -> CatalogChanges:
    """Compare desired manifests (:func:`desired_assets`) with the location's existing Asset objects.

    An existing object is updated when its spec differs, when one of kubeasset's labels differs, or when
    it lacks the owner reference (a CodeLocation deleted and re-created under the same name); labels
    people added are left alone. Objects that no desired manifest names are deleted.
    """
    by_name = {asset.metadata.name: asset for asset in existing if asset.metadata.name}
    create, update = [], []
    for manifest in desired:
        name = manifest["metadata"]["name"]
        current = by_name.pop(name, None)
        if current is None:
            create.append(dict(manifest))
        elif _differs(manifest, current):
            update.append(dict(manifest))
    delete = [ObjectId(name, asset.metadata.uid) for name, asset in sorted(by_name.items())]
    return CatalogChanges(create=tuple(create), update=tuple(update), delete=tuple(delete))


def _differs(manifest: Mapping[str, Any], current: Asset) -> bool:
    if _compact(manifest["spec"]) != _compact(current.spec.to_json()):
        return True
    labels = current.metadata.labels or {}
    if any(labels.get(key) != value for key, value in manifest["metadata"].get("labels", {}).items()):
        return True
    owner_uids = {reference.uid for reference in current.metadata.owner_references or ()}
    return any(reference["uid"] not in owner_uids for reference in manifest["metadata"].get("ownerReferences", ()))


def _differs_json(manifest: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """:func:`_differs` for an object as the API server returned it (JSON)."""
    metadata = body.get("metadata") or {}
    if _compact(manifest["spec"]) != _compact(body.get("spec") or {}):
        return True
    labels = metadata.get("labels") or {}
    if any(labels.get(key) != value for key, value in manifest["metadata"].get("labels", {}).items()):
        return True
    owner_uids = {reference.get("uid") for reference in metadata.get("ownerReferences") or ()}
    return any(reference["uid"] not in owner_uids for reference in manifest["metadata"].get("ownerReferences", ()))


class CatalogMemo:
    """What the controller learnt about one location's catalog, kept between its reconciles, so that
    planning it again over the same graph compares resource versions instead of rebuilding and
    comparing every manifest (10,000 of them for a large location).

    It remembers, for one *fingerprint* (location uid, namespace and name, and the graph hash, which
    covers every field of every asset), the resourceVersion at which each Asset object was seen or
    written equal to its desired manifest. A plan whose fingerprint is the same and whose existing
    objects all still have those versions, and are exactly the desired ones, changes nothing; anything
    else (an object edited, deleted or added by someone, a new graph) is planned in full, as without a
    memo. It also remembers the generations the controller itself wrote, so that the watch event of its
    own spec update is not mistaken for someone else's edit.

    Example (what the controller does)::

        memo = CatalogMemo()
        changes = memo.changes(location, graph, graph_hash, existing)   # in the plan
        memo.written(manifest, created)                                 # after each create / update
        memo.status_written(created["metadata"]["resourceVersion"], patched)  # after its status patch
    """

    def __init__(self) -> None:
        self._fingerprint: tuple[str | None, ...] | None = None
        self._names: frozenset[str] = frozenset()
        self._in_sync: dict[str, str] = {}
        self._own_generations: dict[str, int] = {}

    def changes(
        self, location: CodeLocation, graph: AssetGraph, graph_hash: str | None, existing: Sequence[Asset]
    ) -> CatalogChanges:
        """``diff_catalog(desired_assets(location, graph), existing)``, answered from memory when it can
        be (see the class); raises InvalidManifestError as :func:`desired_assets` does."""
        metadata = location.metadata
        fingerprint = (metadata.uid, metadata.namespace, metadata.name, graph_hash)
        if graph_hash is not None and fingerprint == self._fingerprint and self._unchanged(existing):
            return CatalogChanges()
        desired = desired_assets(location, graph)
        changes = diff_catalog(desired, existing)
        if graph_hash is None:
            return changes
        changing = {manifest["metadata"]["name"] for manifest in (*changes.create, *changes.update)}
        changing.update(target.name for target in changes.delete)
        self._fingerprint = fingerprint
        self._names = frozenset(manifest["metadata"]["name"] for manifest in desired)
        self._in_sync = {
            asset.metadata.name: asset.metadata.resource_version
            for asset in existing
            if asset.metadata.name and asset.metadata.resource_version and asset.metadata.name not in changing
        }
        return changes

    def written(self, manifest: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        """The controller created or updated the object of ``manifest``; ``body`` is what the API server
        returned (for a create that found the object already there: that object, maybe different)."""
        metadata = body.get("metadata") or {}
        name, version = metadata.get("name"), metadata.get("resourceVersion")
        # Generation 1 is a create's: its event is never taken for someone else's edit anyway.
        if metadata.get("uid") and (metadata.get("generation") or 0) > 1:
            self._own_generations[metadata["uid"]] = metadata["generation"]
        if name in self._names and version and not _differs_json(manifest, body):
            self._in_sync[name] = version
        elif name:
            self._in_sync.pop(name, None)

    def status_written(self, before: str | None, body: Mapping[str, Any]) -> None:
        """The controller wrote the status of the object whose resourceVersion was ``before``; ``body`` is
        the object returned. A status write changes no spec, label or owner: still in sync if it was."""
        metadata = body.get("metadata") or {}
        name, version = metadata.get("name"), metadata.get("resourceVersion")
        if name and version and before is not None and self._in_sync.get(name) == before:
            self._in_sync[name] = version

    def wrote(self, uid: str, generation: int | None) -> bool:
        """Whether the controller itself wrote generation ``generation`` of the Asset ``uid``."""
        return generation is not None and self._own_generations.get(uid) == generation

    def forget(self, uid: str) -> None:
        """The Asset ``uid`` is gone."""
        self._own_generations.pop(uid, None)

    def _unchanged(self, existing: Sequence[Asset]) -> bool:
        if len(existing) != len(self._names):
            return False
        in_sync = self._in_sync
        # Every existing object is one the memo knows in sync at its current version; there are as many
        # as desired names and the memo only knows desired names, so they are exactly the desired ones.
        return all(
            asset.metadata.name is not None and in_sync.get(asset.metadata.name) == asset.metadata.resource_version
            for asset in existing
        )


def _compact(spec: Mapping[str, Any]) -> dict[str, Any]:
    # An absent list and an empty one mean the same to a reader; compare what a reader sees.
    return {key: value for key, value in spec.items() if value not in (None, [], {})}


def _path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "<spec>"


# --- the graph, from the catalog ------------------------------------------------------------------------


def graph_from_assets(assets: Iterable[Asset], location_name: str) -> AssetGraph:
    """The asset graph of ``location_name`` rebuilt from its Asset objects (others are ignored).

    Raises the graph's errors (UnknownDependencyError...) when the catalog is incomplete, for example
    while Asset objects are being created or after someone deleted one: callers report it and wait.

    Example::

        graph = graph_from_assets(assets, "shop")
        resolve_selection("group:sales", graph)
    """
    keys: dict[str, AssetKey] = {}  # each key is parsed once, though it appears as a dep many times
    specs = [
        spec_from_asset(asset.spec, keys)
        for asset in assets
        if asset.spec.code_location == location_name and asset.metadata.deletion_timestamp is None
    ]
    return AssetGraph(specs, code_location=location_name)


def spec_from_asset(spec: AssetObjectSpec, keys: dict[str, AssetKey] | None = None) -> AssetSpec:
    """The graph's AssetSpec of an Asset object's spec (``keys``: a cache of parsed keys to share)."""
    parsed = keys if keys is not None else {}
    return AssetSpec(
        key=parse_key(spec.key, parsed),
        deps=tuple(parse_key(dep, parsed) for dep in spec.deps or ()),
        group_name=spec.group,
        tags=frozen_tags(spec.tags),
        owners=tuple(spec.owners or ()),
        kinds=frozenset(spec.kinds or ()),
        description=spec.description,
        code_version=spec.code_version,
    )


# --- materialization state ------------------------------------------------------------------------------


def apply_materialization(
    status: AssetStatus | None, outcome: Materialization | AssetFailure, now: datetime
) -> AssetStatus:
    """The Asset's status after a run materialized it (a Materialization) or failed on it (an
    AssetFailure).

    A materialization becomes ``lastMaterialization`` (state Materialized, ``lastFailure`` cleared); a
    failure becomes ``lastFailure`` (state Failed) and keeps ``lastMaterialization``, whose value is
    still in storage. An outcome older than what the status already holds is ignored, so replaying runs
    after a controller restart, or runs finishing out of order, never regress the catalog.
    ``now`` stamps the Materialized condition's transition.
    """
    current = status or AssetStatus()
    latest = max(
        (item.time for item in (current.last_materialization, current.last_failure) if item is not None),
        default=None,
    )
    if latest is not None and outcome.time < latest:
        return current
    if isinstance(outcome, Materialization):
        conditions = set_condition(
            current.conditions,
            MATERIALIZED,
            ConditionStatus.TRUE,
            reason="Materialized",
            message=f"materialized by run {outcome.run_name}",
            now=now,
            observed_generation=current.observed_generation,
        )
        return current.model_copy(
            update={
                "last_materialization": outcome,
                "last_failure": None,
                "state": AssetState.MATERIALIZED,
                "conditions": conditions,
            }
        )
    message = f"failed in run {outcome.run_name}" + (f": {outcome.message}" if outcome.message else "")
    conditions = set_condition(
        current.conditions,
        MATERIALIZED,
        ConditionStatus.FALSE,
        reason="Failed",
        message=message,
        now=now,
        observed_generation=current.observed_generation,
    )
    return current.model_copy(update={"last_failure": outcome, "state": AssetState.FAILED, "conditions": conditions})


def asset_state(
    spec: AssetObjectSpec, status: AssetStatus | None, upstream_statuses: Iterable[AssetStatus | None]
) -> AssetState:
    """The catalog's verdict on an asset.

    Missing: never materialized (nor failed). Failed: the latest attempt failed. Stale: materialized,
    but by another code version than the spec's current one, or before one of its upstreams was
    materialized again. Materialized otherwise.
    """
    materialization = status.last_materialization if status else None
    failure = status.last_failure if status else None
    if failure is not None and (materialization is None or failure.time >= materialization.time):
        return AssetState.FAILED
    if materialization is None:
        return AssetState.MISSING
    if materialization.code_version != spec.code_version:
        return AssetState.STALE
    for upstream in upstream_statuses:
        upstream_materialization = upstream.last_materialization if upstream else None
        if upstream_materialization is not None and upstream_materialization.time > materialization.time:
            return AssetState.STALE
    return AssetState.MATERIALIZED


def refresh_asset_status(
    spec: AssetObjectSpec,
    status: AssetStatus | None,
    upstream_statuses: Iterable[AssetStatus | None],
    *,
    generation: int | None,
    now: datetime,
) -> AssetStatus:
    """The status with ``state`` recomputed (:func:`asset_state`) and the Materialized condition and
    ``observedGeneration`` following it: what the controller writes after a discovery changed specs
    or an upstream was materialized. Unchanged input gives an equal status (no write)."""
    current = status or AssetStatus()
    return _with_state(current, asset_state(spec, current, upstream_statuses), generation, now)


def initial_asset_status(generation: int | None, now: datetime) -> AssetStatus:
    """The status of an Asset nothing was materialized for yet (state Missing): what
    :func:`refresh_asset_status` gives for an Asset without a status, without needing its spec (the
    controller writes it for each new Asset)."""
    return _with_state(AssetStatus(), AssetState.MISSING, generation, now)


def _with_state(current: AssetStatus, state: AssetState, generation: int | None, now: datetime) -> AssetStatus:
    condition_status, reason, message = _MATERIALIZED_CONDITION[state]
    if state == AssetState.FAILED and current.last_failure is not None:
        message = f"failed in run {current.last_failure.run_name}" + (
            f": {current.last_failure.message}" if current.last_failure.message else ""
        )
    elif state == AssetState.MATERIALIZED and current.last_materialization is not None:
        message = f"materialized by run {current.last_materialization.run_name}"
    conditions = set_condition(
        current.conditions,
        MATERIALIZED,
        condition_status,
        reason=reason,
        message=message,
        now=now,
        observed_generation=generation,
    )
    return current.model_copy(update={"state": state, "conditions": conditions, "observed_generation": generation})


_MATERIALIZED_CONDITION: Mapping[AssetState, tuple[ConditionStatus, str, str]] = MappingProxyType(
    {
        AssetState.MISSING: (ConditionStatus.FALSE, "Missing", "never materialized"),
        AssetState.MATERIALIZED: (ConditionStatus.TRUE, "Materialized", "materialized"),
        AssetState.FAILED: (ConditionStatus.FALSE, "Failed", "the latest attempt failed"),
        AssetState.STALE: (
            ConditionStatus.FALSE,
            "Stale",
            "materialized by another code version, or before an upstream asset was materialized again",
        ),
    }
)
