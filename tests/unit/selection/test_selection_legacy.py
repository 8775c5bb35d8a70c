"""The legacy bare-key form, with the meanings of Dagster's older "Asset selection syntax" page: keys,
``+`` per layer, ``*`` for all layers, multi-part keys, and lists separated by commas or spaces."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubeasset.errors import SelectionError, SelectionSyntaxError
from kubeasset.graph import AssetGraph
from kubeasset.selection import AssetSelection, parse_selection

Select = Callable[[str], set[str]]

ALL_UP_OF_CUSTOMERS = {
    "customers", "stg_customers", "raw/customers", "orders", "stg_orders", "stg_payments", "raw/orders",
    "raw/payments",
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orders", {"orders"}),  # ASSET_KEY: just that asset
        ("raw/orders", {"raw/orders"}),  # COMPONENT/COMPONENT
        ("orders+", {"orders", "customers", "revenue_report"}),  # one layer down
        ("orders++", {"orders", "customers", "revenue_report", "customer_report"}),
        ("+orders", {"orders", "stg_orders", "stg_payments"}),  # one layer up
        (
            "++customers",
            {"customers", "stg_customers", "orders", "raw/customers", "stg_orders", "stg_payments"},
        ),
        ("*customers", ALL_UP_OF_CUSTOMERS),  # all layers up
        ("orders*", {"orders", "customers", "revenue_report", "customer_report"}),  # all layers down
        (
            "*orders*",
            {
                "orders",
                "stg_orders",
                "stg_payments",
                "raw/orders",
                "raw/payments",
                "customers",
                "revenue_report",
                "customer_report",
            },
        ),
        ("+orders+", {"orders", "stg_orders", "stg_payments", "customers", "revenue_report"}),
        ("raw/orders++", {"raw/orders", "stg_orders", "orders"}),
        ("*++customers", ALL_UP_OF_CUSTOMERS),  # a '*' on a side means all layers on that side
    ],
)
def test_legacy_clauses(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "orders,customers",
        "orders, customers",
        "orders customers",
        " orders ,\tcustomers ",
        "orders,\ncustomers,",
    ],
)
def test_lists_separated_by_commas_or_spaces(select: Select, text: str) -> None:
    assert select(text) == {"orders", "customers"}


def test_a_list_mixes_traversals(select: Select) -> None:
    assert select("+orders, customer_report raw/customers+") == {
        "orders", "stg_orders", "stg_payments", "customer_report", "raw/customers", "stg_customers",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "api"),
    [
        ("orders", AssetSelection.keys("orders")),
        ("raw/orders", AssetSelection.keys(["raw", "orders"])),
        ("orders+", AssetSelection.keys("orders").downstream(1)),
        ("orders++", AssetSelection.keys("orders").downstream(2)),
        ("+orders", AssetSelection.keys("orders").upstream(1)),
        ("*orders", AssetSelection.keys("orders").upstream()),
        ("orders*", AssetSelection.keys("orders").downstream()),
        ("*orders*", AssetSelection.keys("orders").upstream() | AssetSelection.keys("orders").downstream()),
        (
            "+orders++",
            AssetSelection.keys("orders").upstream(1) | AssetSelection.keys("orders").downstream(2),
        ),
        ("orders, raw/orders customers", AssetSelection.keys("orders", "raw/orders", "customers")),
        ("orders, +customers", AssetSelection.keys("orders") | AssetSelection.keys("customers").upstream(1)),
    ],
)
def test_legacy_builds_the_api_tree(text: str, api: AssetSelection) -> None:
    assert parse_selection(text) == api


def test_star_alone_selects_everything(select: Select, all_assets: frozenset[str]) -> None:
    assert select("*") == all_assets


@pytest.mark.parametrize(
    ("text", "missing"),
    [("ordrs", "ordrs"), ("orders, nope", "nope"), ("+nope", "nope"), ("raw/nope*", "raw/nope")],
)
def test_an_unknown_key_is_an_error_naming_it(graph: AssetGraph, text: str, missing: str) -> None:
    selection = parse_selection(text)
    with pytest.raises(SelectionError) as raised:
        selection.resolve(graph)
    assert repr(missing) in str(raised.value)
    assert "code location 'shop' does not define" in str(raised.value)


def test_an_unknown_key_error_suggests_close_names(graph: AssetGraph) -> None:
    with pytest.raises(SelectionError, match=r"'ordrs' \(did you mean 'orders'"):
        parse_selection("ordrs").resolve(graph)


def test_the_current_syntax_treats_an_unknown_key_as_empty(select: Select) -> None:
    assert select("key:ordrs") == set()


def test_keys_with_digits_and_dashes_parse(graph: AssetGraph) -> None:
    assert parse_selection("2024-sales, a_b/c-d") == AssetSelection.keys("2024-sales", "a_b/c-d")


def test_an_invalid_key_part_is_a_syntax_error_at_the_key() -> None:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection("orders, " + "x" * 64)
    assert raised.value.column == 9
    assert "invalid asset key part" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        # no marker of the current syntax: reported as the legacy form
        ("2+orders", 3, "read as the legacy form"),
        ("orders.csv", 7, "read as the legacy form"),
        ("orders,,customers", 8, "an asset key such as orders"),
        ("orders +", 9, "an asset key such as orders"),
        # and/or/not (any case) or a ':' mean the current syntax was meant
        ("orders and customers", 1, "here write key:orders"),
        ("orders OR customers", 1, "here write key:orders"),
        ("not orders", 5, "here write key:orders"),
        ("orders, key:customers", 1, "here write key:orders"),
    ],
)
def test_which_form_an_error_is_reported_in(text: str, column: int, words: str) -> None:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection(text)
    assert raised.value.column == column
    assert words in str(raised.value)


def test_keyword_like_keys_are_still_keys_when_longer(select: Select) -> None:
    with pytest.raises(SelectionError, match="'android'"):
        select("android, order_items")
