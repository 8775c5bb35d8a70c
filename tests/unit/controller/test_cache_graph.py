"""The cache's graph of a code location: rebuilt from its Asset objects only when one of them changed, and,
once the location's plan found those objects to be exactly the discovered graph's catalog, that graph
itself (one graph held, not two)."""

from __future__ import annotations

from kubeasset.api.asset import Asset
from kubeasset.controller.cache import Cache
from kubeasset.graph import AssetKey
from kubeasset.reconcile.catalog import desired_assets
from tests.unit.reconcile.location_builders import as_assets, make_location, shop_graph


def catalog() -> list[Asset]:
    return as_assets(desired_assets(make_location(), shop_graph()))


def test_the_graph_is_rebuilt_only_when_an_asset_changes() -> None:
    cache, assets = Cache(), catalog()

    first = cache.graph("shop", "shop", assets)
    again = cache.graph("shop", "shop", list(assets))
    changed = assets[0].model_copy(update={"metadata": assets[0].metadata.model_copy(update={"generation": 2})})
    rebuilt = cache.graph("shop", "shop", [changed, *assets[1:]])

    assert again is first
    assert rebuilt is not first and rebuilt.keys == first.keys


def test_the_discovered_graph_is_used_while_its_catalog_is_unchanged() -> None:
    cache, assets, discovered = Cache(), catalog(), shop_graph()

    cache.use_graph("shop", "shop", assets, discovered)
    used = cache.graph("shop", "shop", assets)
    # Someone deleted an Asset object: the catalog is what jobs see, until discovery writes it again.
    remaining = [asset for asset in assets if asset.spec.key != "revenue"]
    rebuilt = cache.graph("shop", "shop", remaining)

    assert used is discovered
    assert rebuilt is not discovered and AssetKey("revenue") not in rebuilt and len(rebuilt) == len(discovered) - 1
