"""Traversals, boolean operators, precedence and functions of the current syntax, with the meanings of
Dagster's syntax reference and the queries of its "Asset selection examples" page, on the shop graph."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Select = Callable[[str], set[str]]

UPSTREAM_OF_ORDERS = {"orders", "stg_orders", "stg_payments", "raw/orders", "raw/payments"}
DOWNSTREAM_OF_ORDERS = {"orders", "customers", "revenue_report", "customer_report"}
EVERY = UPSTREAM_OF_ORDERS | DOWNSTREAM_OF_ORDERS | {"raw/customers", "stg_customers", "standalone"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('+key:"orders"', UPSTREAM_OF_ORDERS),  # all layers upstream
        ('1+key:"orders"', {"orders", "stg_orders", "stg_payments"}),
        ('2+key:"orders"', UPSTREAM_OF_ORDERS),
        ("0+key:orders", {"orders"}),
        ('key:"orders"+', DOWNSTREAM_OF_ORDERS),  # all layers downstream
        ('key:"orders"+1', {"orders", "customers", "revenue_report"}),
        ('key:"orders"+2', DOWNSTREAM_OF_ORDERS),
        ('1+key:"orders"+1', {"orders", "stg_orders", "stg_payments", "customers", "revenue_report"}),
        ('+key:"orders"+', UPSTREAM_OF_ORDERS | DOWNSTREAM_OF_ORDERS),
        ("key:raw/orders+3", {"raw/orders", "stg_orders", "orders", "customers", "revenue_report"}),
        ("2+key:customer_report", {"customer_report", "customers", "stg_customers", "orders"}),
        ("key:customer_report+", {"customer_report"}),  # a sink has nothing downstream
        ("key:nothing+", set()),
    ],
)
def test_traversal_layers(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a parenthesised expression
        ("(key:stg_orders or key:stg_customers)+1", {"stg_orders", "stg_customers", "orders", "customers"}),
        ("1+(group:reporting)", {"revenue_report", "customer_report", "orders", "customers"}),
        # a function call: roots(group:marts) is orders
        ("roots(group:marts)+1", {"orders", "customers", "revenue_report"}),
        (
            "1+sinks(group:staging)",
            {"stg_orders", "stg_payments", "stg_customers", "raw/orders", "raw/payments", "raw/customers"},
        ),
        # nested traversals: two single layers upward are two layers
        (
            "1+(1+key:customers)",
            {"customers", "stg_customers", "orders", "raw/customers", "stg_orders", "stg_payments"},
        ),
    ],
)
def test_traversal_of_groups_and_functions(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "Select all assets on the path between two assets"
        (
            'key:"raw/orders"+ and +key:"customer_report"',
            {"raw/orders", "stg_orders", "orders", "customers", "customer_report"},
        ),
        # "... between two sets of assets"
        (
            '(key:"raw/orders" or key:"raw/customers")+ and +(key:"revenue_report" or key:"customer_report")',
            {
                "raw/orders",
                "stg_orders",
                "orders",
                "customers",
                "revenue_report",
                "customer_report",
                "raw/customers",
                "stg_customers",
            },
        ),
        # "Select assets between two assets that go through the middle asset"
        (
            'key:"raw/payments"+ and +key:"orders"+ and +key:"customer_report"',
            {"raw/payments", "stg_payments", "orders", "customers", "customer_report"},
        ),
        # "Select multiple assets with or"
        ('key:"revenue_report" or key:"customer_report"', {"revenue_report", "customer_report"}),
        # "Select downstream assets with a filter"
        ('key:"orders"+ and kind:"csv"', {"revenue_report", "customer_report"}),
        # "Select assets without a specific tag"
        ('owner:"alice@example.com" and not tag:"pii"', {"customers"}),
        # "Select a parentheses group or assets that belong in a named group"
        (
            '(owner:"team:sales" and kind:"csv") or group:"raw"',
            {"revenue_report", "customer_report", "raw/orders", "raw/payments", "raw/customers"},
        ),
        # "Exclude a parentheses group with not and select assets that match a key wildcard"
        ('not (kind:"s3" or kind:"csv") and key:"raw*"', {"raw/orders"}),
    ],
)
def test_dagster_documentation_examples(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("roots(*)", {"raw/orders", "raw/payments", "raw/customers", "standalone"}),
        ("sinks(*)", {"revenue_report", "customer_report", "standalone"}),
        # "Select all root/sink assets within an asset selection"
        ('roots(group:"marts")', {"orders"}),
        ('sinks(group:"marts")', {"customers"}),
        # "Select all root assets that feed into an asset selection"
        ('roots(+group:"marts")', {"raw/orders", "raw/payments", "raw/customers"}),
        # "Select all sink assets that depend on assets in a selection"
        ('sinks(group:"marts"+)', {"revenue_report", "customer_report"}),
        # Within the subset, at any distance: orders has raw/orders as an ancestor through stg_orders,
        # which is not selected, so only raw/orders is a root (Dagster's fetch_sources).
        ("roots(key:raw/orders or key:orders)", {"raw/orders"}),
        ("sinks(key:raw/orders or key:orders)", {"orders"}),
        ("roots(key:nothing)", set()),
        ("sinks(roots(*))", {"raw/orders", "raw/payments", "raw/customers", "standalone"}),
    ],
)
def test_roots_and_sinks(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


def test_star_alone_is_every_asset(select: Select, all_assets: frozenset[str]) -> None:
    assert select("*") == all_assets
    assert len(all_assets) == 11
    assert select("not *") == set()
    assert select("* and not group:raw") == all_assets - {"raw/orders", "raw/payments", "raw/customers"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # and binds tighter than or: raw or (marts and gold)
        (
            "group:raw or group:marts and tag:tier=gold",
            {"raw/orders", "raw/payments", "raw/customers", "orders", "customers"},
        ),
        ("(group:raw or group:marts) and tag:tier=gold", {"orders", "customers"}),
        (
            "tag:tier=gold and group:marts or group:raw",
            {"raw/orders", "raw/payments", "raw/customers", "orders", "customers"},
        ),
        # not binds tighter than and / or: (not raw) and s3
        ("not group:raw and kind:s3", set()),
        ("not (group:raw and kind:s3)", EVERY - {"raw/payments", "raw/customers"}),
        (
            "not kind:dbt or group:marts",
            {
                "raw/orders",
                "raw/payments",
                "raw/customers",
                "revenue_report",
                "customer_report",
                "standalone",
                "orders",
                "customers",
            },
        ),
        ("not not group:marts", {"orders", "customers"}),
        # traversal binds tighter than not: not (orders+)
        ("not key:orders+", EVERY - DOWNSTREAM_OF_ORDERS),
        ("(not key:orders)+", EVERY),
    ],
)
def test_precedence(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "group:raw OR group:marts AND NOT kind:s3",
        "group:raw Or group:marts And Not kind:s3",
        "group:raw or group:marts and not kind:s3",
    ],
)
def test_keywords_are_case_insensitive(select: Select, text: str) -> None:
    assert select(text) == {"raw/orders", "raw/payments", "raw/customers", "orders", "customers"}


def test_whitespace_and_newlines_are_insignificant(select: Select) -> None:
    assert select("  (group:raw\n  or\tgroup:marts)  ") == select("(group:raw or group:marts)")


def test_a_name_that_starts_with_a_keyword_is_not_a_keyword(select: Select) -> None:
    # "andy" and "order" must not be read as "and y" / "or der".
    assert select("key:andy or key:order") == set()
