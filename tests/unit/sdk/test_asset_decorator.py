"""@asset: keys, dependencies, context, attributes, direct invocation and eager validation."""

from __future__ import annotations

import dataclasses

import pytest

from kubeasset import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MetadataValue,
    asset,
    build_asset_context,
)
from kubeasset.errors import DefinitionError, InvalidAssetKeyError, InvalidMetadataError


@asset
def raw_orders() -> list[int]:
    return [3, 1, 2]


def test_bare_decorator_uses_function_name_and_defaults() -> None:
    assert isinstance(raw_orders, AssetsDefinition)
    assert raw_orders.key == AssetKey("raw_orders")
    assert raw_orders.keys == frozenset({AssetKey("raw_orders")})
    assert raw_orders.spec == AssetSpec(AssetKey("raw_orders"))
    assert raw_orders.spec.group_name == "default"
    assert raw_orders.spec.description is None


def test_parameters_name_upstream_assets_and_deps_only_order() -> None:
    @asset(deps=["audit/log", raw_orders])
    def orders(customers: list[str], payments: list[int]) -> int:
        return 0

    assert orders.input_keys == {"customers": AssetKey("customers"), "payments": AssetKey("payments")}
    assert orders.spec.deps == (
        AssetKey("customers"),
        AssetKey("payments"),
        AssetKey(["audit", "log"]),
        AssetKey("raw_orders"),
    )


def test_dep_listed_both_as_parameter_and_in_deps_appears_once() -> None:
    @asset(deps=[raw_orders])
    def orders(raw_orders: list[int]) -> int:
        return 0

    assert orders.spec.deps == (AssetKey("raw_orders"),)


def test_name_and_key_prefix_build_multi_part_keys() -> None:
    @asset(name="orders", key_prefix=["warehouse", "sales"])
    def compute_orders() -> int:
        return 1

    @asset(key_prefix="warehouse/sales")
    def refunds() -> int:
        return 1

    assert compute_orders.key == AssetKey(["warehouse", "sales", "orders"])
    assert refunds.key.to_user_string() == "warehouse/sales/refunds"


def test_explicit_key() -> None:
    @asset(key="lake/raw/events")
    def events() -> int:
        return 1

    assert events.key == AssetKey(["lake", "raw", "events"])


def test_ins_maps_a_parameter_to_another_key() -> None:
    @asset(ins={"orders": AssetIn(key="warehouse/orders"), "fx": AssetIn(key_prefix=["ref"])})
    def revenue(orders: list[int], fx: float, raw_orders: list[int]) -> float:
        return 0.0

    assert revenue.input_keys == {
        "orders": AssetKey(["warehouse", "orders"]),
        "fx": AssetKey(["ref", "fx"]),
        "raw_orders": AssetKey("raw_orders"),
    }


def test_context_first_parameter_is_not_a_dependency() -> None:
    @asset
    def orders(context: AssetExecutionContext, raw_orders: list[int]) -> list[int]:
        return sorted(raw_orders)

    assert orders.has_context
    assert orders.spec.deps == (AssetKey("raw_orders"),)


def test_attributes_reach_the_spec() -> None:
    @asset(
        group_name="sales",
        tags={"tier": "gold", "example.com/domain": "finance"},
        owners=["team:sales", "ana@example.com"],
        kinds={"python", "parquet"},
        code_version="v2",
        metadata={"dashboard": MetadataValue.url("https://example.com"), "rows_expected": 10},
    )
    def orders() -> int:
        """Paid orders.

        One row per order.
        """
        return 1

    spec = orders.spec
    assert spec.group_name == "sales"
    assert dict(spec.tags) == {"tier": "gold", "example.com/domain": "finance"}
    assert spec.owners == ("team:sales", "ana@example.com")
    assert spec.kinds == frozenset({"python", "parquet"})
    assert spec.code_version == "v2"
    assert spec.description == "Paid orders.\n\nOne row per order."
    assert orders.metadata["dashboard"] == MetadataValue("url", "https://example.com")
    assert orders.metadata["rows_expected"] == MetadataValue("int", 10)


def test_explicit_description_wins_over_docstring() -> None:
    @asset(description="explicit")
    def orders() -> int:
        """docstring"""
        return 1

    assert orders.spec.description == "explicit"


def test_direct_invocation_calls_the_function() -> None:
    @asset
    def orders(context: AssetExecutionContext, raw_orders: list[int]) -> list[int]:
        return [x * 10 for x in raw_orders if context.run_name == "test-run"]

    assert raw_orders() == [3, 1, 2]
    assert orders(build_asset_context("orders", run_name="test-run"), [1, 2]) == [10, 20]


def test_definition_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        raw_orders.fn = print  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "invalid asset key part 'bad name'"),
        ({"key_prefix": ["ok", "not/ok"]}, "invalid asset key part 'not/ok'"),
        ({"key": "a", "name": "b"}, "not both"),
        ({"group_name": "sales-team"}, "invalid group_name 'sales-team'"),
        ({"tags": {"tier": "gold tier"}}, "invalid value 'gold tier' for tag 'tier'"),
        ({"tags": {"-x": "1"}}, "invalid tag key '-x'"),
        ({"owners": ["sales team"]}, "invalid owner 'sales team'"),
        ({"owners": "team:sales"}, "owners must be a list"),
        ({"kinds": ["a b"]}, "invalid kind 'a b'"),
        ({"code_version": 3}, "code_version must be a str"),
        ({"deps": [42]}, "deps entries must be asset keys"),
        ({"deps": ["a//b"]}, "deps entry 'a//b'"),
        ({"deps": [lambda: 1]}, "is a plain function; decorate it with @asset"),
        ({"ins": {"missing": AssetIn("x")}}, "ins names 'missing', which is not a parameter"),
        ({"metadata": {"bad": object()}}, "metadata 'bad'"),
    ],
)
def test_invalid_definitions_raise_naming_the_function(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError) as raised:

        @asset(**kwargs)  # type: ignore[call-overload]
        def my_asset(upstream: int) -> int:
            return upstream

    assert message in str(raised.value)
    assert "test_asset_decorator" in str(raised.value) and "my_asset" in str(raised.value)


def test_invalid_key_errors_are_invalid_asset_key_errors() -> None:
    with pytest.raises(InvalidAssetKeyError):

        @asset(name="")
        def my_asset() -> int:
            return 1


def test_metadata_errors_are_invalid_metadata_errors() -> None:
    with pytest.raises(InvalidMetadataError, match="my_asset"):

        @asset(metadata={"dagster/row_count": "many"})
        def my_asset() -> int:
            return 1


def test_parameter_that_is_not_a_valid_key_part_points_at_ins() -> None:
    with pytest.raises(InvalidAssetKeyError, match=r"parameter 'ü' .*AssetIn"):

        @asset
        def my_asset(ü: int) -> int:
            return ü


def test_context_must_be_first() -> None:
    with pytest.raises(DefinitionError, match="'context' must be the first parameter"):

        @asset
        def my_asset(upstream: int, context: AssetExecutionContext) -> int:
            return upstream


@pytest.mark.parametrize("signature", ["*args", "**kwargs"])
def test_variadic_parameters_are_refused(signature: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"def my_asset({signature}):\n    return 1", namespace)
    with pytest.raises(DefinitionError, match="not supported"):
        asset(namespace["my_asset"])  # type: ignore[arg-type]


def test_self_dependency_is_refused() -> None:
    with pytest.raises(DefinitionError, match="depends on itself"):

        @asset(deps=["my_asset"])
        def my_asset() -> int:
            return 1


def test_generators_and_coroutines_are_refused() -> None:
    with pytest.raises(DefinitionError, match="generator"):

        @asset
        def gen() -> object:
            yield 1

    with pytest.raises(DefinitionError, match="async"):

        @asset
        async def coro() -> int:
            return 1


def test_decorating_twice_is_refused() -> None:
    with pytest.raises(DefinitionError, match="already an asset"):
        asset(raw_orders)  # type: ignore[arg-type]
