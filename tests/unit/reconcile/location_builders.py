"""Builders of CodeLocation, Asset and graph objects shared by the catalog, discovery and job tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubeasset.api import Asset, CodeLocation
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
LOCATION_UID = "0b9e6f1c-1111-4222-8333-444455556666"


def make_location(
    name: str = "shop",
    *,
    spec: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
    generation: int = 1,
    uid: str = LOCATION_UID,
) -> CodeLocation:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "CodeLocation",
        "metadata": {"name": name, "namespace": "data", "uid": uid, "generation": generation},
        "spec": {"image": "registry.example/shop:1.0", "module": "shop", **(spec or {})},
    }
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    if status is not None:
        body["status"] = dict(status)
    return CodeLocation.model_validate(body)


def spec(
    key: str,
    deps: Sequence[str] = (),
    *,
    group: str = "default",
    code_version: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> AssetSpec:
    return AssetSpec(
        key=AssetKey.from_user_string(key),
        deps=tuple(AssetKey.from_user_string(dep) for dep in deps),
        group_name=group,
        code_version=code_version,
        description=description,
        tags=dict(tags or {}),
    )


def shop_graph() -> AssetGraph:
    """raw/orders -> orders -> revenue (group sales); raw/customers (group raw) -> customers."""
    return AssetGraph(
        [
            spec("raw/orders", group="raw", code_version="1"),
            spec("raw/customers", group="raw"),
            spec("orders", ["raw/orders"], group="sales", code_version="2", description="Sorted orders."),
            spec("revenue", ["orders"], group="sales", tags={"tier": "gold"}),
            spec("customers", ["raw/customers", "orders"], group="sales"),
        ],
        code_location="shop",
    )


def wide_graph(count: int, *, code_location: str | None = None) -> AssetGraph:
    """``count`` assets in 100 groups, each depending on up to three earlier ones (a realistic DAG)."""
    specs = []
    for index in range(count):
        deps = sorted({f"layer{(index - step) // 100}/asset_{index - step}" for step in (1, 7, 31) if index >= step})
        specs.append(spec(f"layer{index // 100}/asset_{index}", deps, group=f"group_{index % 100}"))
    return AssetGraph(specs, code_location=code_location)


def as_assets(manifests: Sequence[Mapping[str, Any]], *, uid_prefix: str = "asset-uid") -> list[Asset]:
    """Manifests as the API server would return them: parsed, with uids."""
    assets = []
    for index, manifest in enumerate(manifests):
        body = {**manifest, "metadata": {**manifest["metadata"], "uid": f"{uid_prefix}-{index}"}}
        assets.append(Asset.model_validate(body))
    return assets
