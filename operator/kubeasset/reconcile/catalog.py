"""The asset catalog: the Asset objects a code location's graph should have, how they differ from the
ones that exist, the graph rebuilt from them, and each asset's materialization state.

The Asset objects *are* the stored graph: jobs, runs and sensors resolve selections against
:func:`graph_from_assets`, so the graph lives in exactly one place in the cluster and a
CodeLocation's status stays small whatever the number of assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from kubeasset.api.asset import Asset, AssetFailure, AssetState, AssetStatus, Materialization
from kubeasset.api.asset import AssetSpec as AssetObjectSpec
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.conditions import MATERIALIZED, ConditionStatus, set_condition
from kubeasset.api.resource import ObjectMeta, OwnerReference
from kubeasset.api.types import MAX_DESCRIPTION_LENGTH
from kubeasset.errors import InvalidManifestError
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.reconcile.naming import COMPONENT_ASSET, asset_object_names, child_labels, owner_reference
from kubeasset.reconcile.plan_items import ObjectId

# --- desired objects and their difference with the existing ones --------------------------------------


def desired_assets(location: CodeLocation, graph: AssetGraph) -> list[dict[str, Any]]:
    """One Asset manifest per asset of ``graph``, in topological order: the spec mirrors the definition
    (description cut to 4096 characters), labels name the location and group, and the CodeLocation owns
    it. Raises InvalidManifestError naming the asset when a definition exceeds what an Asset can hold
    (more than 1000 deps, 64 tags...)."""
    location_name = location.metadata.name or ""
    owner = OwnerReference.model_validate(owner_reference(location))
    names = asset_object_names(location_name, graph.topological_order)
    manifests = []
    for key in graph.topological_order:
        spec = graph.specs[key]
        try:
            asset = Asset(
                metadata=ObjectMeta(
                    name=names[key],
                    namespace=location.metadata.namespace,
                    labels=child_labels(COMPONENT_ASSET, code_location=location_name, group=spec.group_name),
                    owner_references=[owner],
                ),
                spec=asset_object_spec(spec, location_name),
            )
        except ValidationError as error:
            problems = "; ".join(f"{_path(item['loc'])}: {item['msg']}" for item in error.errors(include_url=False))
            raise InvalidManifestError(f"asset {key} cannot be stored in the catalog: {problems}") from error
        manifests.append(asset.to_json())
    return manifests


def asset_object_spec(spec: AssetSpec, location_name: str) -> AssetObjectSpec:
    """The Asset object's spec for a definition; empty lists and maps are left out."""
    description = spec.description
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        description = description[: MAX_DESCRIPTION_LENGTH - 1] + "…"
    return AssetObjectSpec.model_validate(
        {
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
    )


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
    cache = keys if keys is not None else {}

    def key_of(text: str) -> AssetKey:
        key = cache.get(text)
        if key is None:
            key = cache[text] = AssetKey.from_user_string(text)
        return key

    return AssetSpec(
        key=key_of(spec.key),
        deps=tuple(key_of(dep) for dep in spec.deps or ()),
        group_name=spec.group,
        tags=MappingProxyType(dict(spec.tags or {})),
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
    state = asset_state(spec, current, upstream_statuses)
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
