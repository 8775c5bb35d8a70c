"""Definitions and define_asset_job: the graph is validated as a whole, jobs resolve to ordered keys."""

from __future__ import annotations

import pytest

from kubeasset import AssetKey, AssetSelection, AssetSpec, Definitions, asset, define_asset_job
from kubeasset.errors import (
    CycleError,
    DefinitionError,
    DuplicateKeyError,
    EmptySelectionError,
    SelectionError,
    SelectionSyntaxError,
    UnknownDependencyError,
    UnknownJobError,
)
from kubeasset.selection import resolve_selection


@asset(group_name="sales")
def raw_orders() -> list[int]:
    return [1]


@asset(group_name="sales", tags={"tier": "gold"})
def orders(raw_orders: list[int]) -> list[int]:
    return raw_orders


@asset
def report(orders: list[int]) -> int:
    return len(orders)


def test_exposes_assets_graph_and_lookup() -> None:
    defs = Definitions(assets=[report, orders, raw_orders])
    assert defs.assets == (report, orders, raw_orders)
    assert defs.asset_graph.topological_order == (
        AssetKey("raw_orders"),
        AssetKey("orders"),
        AssetKey("report"),
    )
    assert defs.get_assets_def("orders") is orders
    assert defs.get_assets_def(AssetKey("report")) is report
    with pytest.raises(DefinitionError, match="no asset nope"):
        defs.get_assets_def("nope")


def test_jobs_resolve_in_topological_order() -> None:
    defs = Definitions(
        assets=[raw_orders, orders, report],
        jobs=[
            define_asset_job("everything"),
            define_asset_job("sales", "group:sales"),
            define_asset_job("listed", ["report", AssetKey("raw_orders")]),
            define_asset_job("gold_down", AssetSelection.tag("tier", "gold").downstream()),
        ],
    )
    assert defs.resolve_job_assets("everything") == [
        AssetKey("raw_orders"),
        AssetKey("orders"),
        AssetKey("report"),
    ]
    assert defs.resolve_job_assets("sales") == [AssetKey("raw_orders"), AssetKey("orders")]
    assert defs.resolve_job_assets("listed") == [AssetKey("raw_orders"), AssetKey("report")]
    assert defs.resolve_job_assets("gold_down") == [AssetKey("orders"), AssetKey("report")]
    assert defs.get_job("sales").selection_text == "group:sales"
    assert [job.name for job in defs.jobs] == ["everything", "sales", "listed", "gold_down"]


def test_job_attributes() -> None:
    job = define_asset_job("nightly", "*", tags={"team": "sales"}, config={"limit": 10}, description="d")
    assert (job.name, job.selection_text, dict(job.tags), dict(job.config), job.description) == (
        "nightly",
        "*",
        {"team": "sales"},
        {"limit": 10},
        "d",
    )


def test_key_list_selection_has_a_string_form_selecting_the_same_assets() -> None:
    job = define_asset_job("listed", ["report", "orders"])
    graph = Definitions(assets=[raw_orders, orders, report]).asset_graph
    reparsed = resolve_selection(AssetSelection.from_string(job.selection_text), graph)
    assert reparsed == resolve_selection(job.selection, graph) == [AssetKey("orders"), AssetKey("report")]


def test_unknown_job() -> None:
    defs = Definitions(assets=[raw_orders], jobs=[define_asset_job("a")])
    with pytest.raises(UnknownJobError, match=r"no job named 'b'.*jobs: a"):
        defs.get_job("b")
    with pytest.raises(UnknownJobError):
        defs.resolve_job_assets("b")


def test_unknown_dependency_is_named() -> None:
    with pytest.raises(UnknownDependencyError, match="asset orders depends on raw_orders"):
        Definitions(assets=[orders])


def test_cycle_is_named() -> None:
    @asset(name="a", deps=["b"])
    def a_fn() -> int:
        return 1

    @asset(name="b", deps=["a"])
    def b_fn() -> int:
        return 1

    with pytest.raises(CycleError, match=r"a -> b -> a|b -> a -> b"):
        Definitions(assets=[a_fn, b_fn])


def test_duplicate_key_names_both_functions() -> None:
    @asset(name="raw_orders")
    def other_raw_orders() -> int:
        return 1

    with pytest.raises(
        DuplicateKeyError, match=r"raw_orders: defined by .*\.raw_orders and .*other_raw_orders"
    ):
        Definitions(assets=[raw_orders, other_raw_orders])


def test_same_definition_twice_is_accepted() -> None:
    assert len(Definitions(assets=[raw_orders, raw_orders]).assets) == 1


def test_job_selecting_nothing_names_job_and_selection() -> None:
    with pytest.raises(EmptySelectionError, match=r"job 'platinum'.*tag:tier=platinum"):
        Definitions(assets=[raw_orders, orders], jobs=[define_asset_job("platinum", "tag:tier=platinum")])


def test_job_selecting_an_unknown_key_names_the_job() -> None:
    with pytest.raises(SelectionError, match=r"job 'j'.*nope"):
        Definitions(assets=[raw_orders], jobs=[define_asset_job("j", ["nope"])])


def test_duplicate_job_names() -> None:
    with pytest.raises(DefinitionError, match="two jobs are named 'daily'"):
        Definitions(
            assets=[raw_orders], jobs=[define_asset_job("daily"), define_asset_job("daily", "raw_orders")]
        )


def test_unparsable_job_selection_names_the_job() -> None:
    with pytest.raises(SelectionSyntaxError, match=r"job 'broken'.*group:\(") as raised:
        Definitions(assets=[raw_orders], jobs=[define_asset_job("broken", "group:(")])
    assert raised.value.column >= 1


@pytest.mark.parametrize("name", ["", "-daily", "daily-", "has space", "x" * 64, "dot.ted"])
def test_invalid_job_names(name: str) -> None:
    with pytest.raises(DefinitionError, match="invalid job name"):
        define_asset_job(name)


@pytest.mark.parametrize("name", ["daily", "daily_sales", "daily-sales", "D1", "x" * 63])
def test_valid_job_names(name: str) -> None:
    assert define_asset_job(name).name == name


def test_job_config_must_be_json() -> None:
    with pytest.raises(DefinitionError, match="JSON-serializable"):
        define_asset_job("j", config={"x": object()})


def test_non_asset_items_are_refused_with_a_hint() -> None:
    def plain() -> int:
        return 1

    with pytest.raises(DefinitionError, match="decorate it with @asset"):
        Definitions(assets=[plain])  # type: ignore[list-item]
    with pytest.raises(DefinitionError, match="external assets are not supported"):
        Definitions(assets=[AssetSpec(AssetKey("ext"))])  # type: ignore[list-item]
    with pytest.raises(DefinitionError, match="takes jobs made by define_asset_job"):
        Definitions(assets=[raw_orders], jobs=["daily"])  # type: ignore[list-item]


def test_definitions_are_immutable() -> None:
    defs = Definitions(assets=[raw_orders])
    with pytest.raises(AttributeError, match="immutable"):
        defs.extra = 1  # type: ignore[attr-defined]
