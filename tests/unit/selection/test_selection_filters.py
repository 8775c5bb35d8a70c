"""Attribute filters of the current syntax, with the meanings of Dagster's "Asset selection syntax
reference" (key exact and wildcards, tag with and without value, owner, group, kind, code location)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubeasset.errors import SelectionError, SelectionSyntaxError
from kubeasset.graph import AssetGraph
from kubeasset.selection import UNSUPPORTED_FILTERS, AssetSelection, KeyWildCardAssetSelection, parse_selection

Select = Callable[[str], set[str]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('key:"orders"', {"orders"}),  # reference: "Key (exact)"
        ("key:orders", {"orders"}),  # the value may be unquoted
        ("key:raw/orders", {"raw/orders"}),  # a multi-part key, parts joined by '/'
        ('key:"raw/orders"', {"raw/orders"}),
        ('key:"stg_*"', {"stg_orders", "stg_payments", "stg_customers"}),  # "Key with one wildcard"
        ("key:stg_*", {"stg_orders", "stg_payments", "stg_customers"}),
        ("key:*_report", {"revenue_report", "customer_report"}),
        ('key:"*s*_*rep*t"', {"customer_report"}),  # "Key with multiple wildcards"
        ("key:raw/*", {"raw/orders", "raw/payments", "raw/customers"}),
        ("key:*orders", {"raw/orders", "stg_orders", "orders"}),  # '*' also spans the '/' separator
        ("key:raw", set()),  # exact: a prefix alone is not a match
        ("key:nothing_like_this", set()),  # a filter matching nothing is empty, not an error
        ("key:ORDERS", set()),  # key values are case-sensitive
    ],
)
def test_key_filter(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('group:"raw"', {"raw/orders", "raw/payments", "raw/customers"}),
        ("group:marts", {"orders", "customers"}),
        ("group:default", {"standalone"}),
        ('group:"r*"', {"raw/orders", "raw/payments", "raw/customers", "revenue_report", "customer_report"}),
        ("group:missing", set()),
        ("group:<null>", set()),  # every asset has a group
    ],
)
def test_group_filter(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('tag:"tier"="gold"', {"orders", "customers", "revenue_report"}),  # "Tag (with value)"
        ("tag:tier=silver", {"stg_orders", "stg_payments", "stg_customers"}),
        # "Tag (exact)": Dagster matches the tag with an EMPTY value; customers has pii=yes, so it is out.
        ('tag:"pii"', {"raw/customers", "stg_customers"}),
        ("tag:pii", {"raw/customers", "stg_customers"}),
        ("tag:pii=<null>", {"raw/customers", "stg_customers"}),  # Dagster reads <null> as the empty value
        ("tag:pii=yes", {"customers"}),
        ("tag:tier", set()),  # no asset has tier with an empty value
        ("tag:tier=GOLD", set()),
    ],
)
def test_tag_filter(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('owner:"team:sales"', {"orders", "customers", "revenue_report", "customer_report"}),
        ('owner:"alice@example.com"', {"raw/customers", "customers"}),
        ("owner:alice@example.com", {"raw/customers", "customers"}),  # kubeasset: '@' and '.' need no quotes
        ("owner:team", set()),
        ("owner:<null>", {"stg_orders", "stg_payments", "stg_customers", "standalone"}),
    ],
)
def test_owner_filter(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


def test_owner_value_with_a_colon_must_be_quoted() -> None:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection("owner:team:sales")
    assert raised.value.column == 11
    assert 'must be quoted, e.g. owner:"team:sales"' in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('kind:"dbt"', {"stg_orders", "stg_payments", "stg_customers", "orders", "customers"}),
        ("kind:csv", {"raw/payments", "revenue_report", "customer_report"}),
        ("kind:s3", {"raw/payments", "raw/customers"}),
        ("kind:table", set()),
        ("kind:<null>", {"standalone"}),
    ],
)
def test_kind_filter(select: Select, text: str, expected: set[str]) -> None:
    assert select(text) == expected


@pytest.mark.parametrize(
    ("text", "expected_count"),
    [('code_location:"shop"', 11), ("code_location:shop", 11), ("code_location:other", 0)],
)
def test_code_location_filter_matches_the_graphs_code_location(select: Select, text: str, expected_count: int) -> None:
    assert len(select(text)) == expected_count


def test_code_location_null_matches_a_graph_without_one(graph: AssetGraph) -> None:
    anonymous = AssetGraph(graph.specs.values())
    assert len(parse_selection("code_location:<null>").resolve(anonymous)) == 11
    assert parse_selection("code_location:<null>").resolve(graph) == []


def test_values_may_start_with_digits_and_hold_dashes() -> None:
    # Dagster would need quotes here; kubeasset keys may start with a digit or hold '-'.
    expected = AssetSelection.tag("tier", "1") | KeyWildCardAssetSelection("2024-sales")
    assert parse_selection("tag:tier=1 or key:2024-sales") == expected


def test_quoted_values_keep_spaces_and_symbols() -> None:
    assert parse_selection('tag:"a b"="x + y (z) and or"') == AssetSelection.tag("a b", "x + y (z) and or")


def test_whitespace_around_colon_is_allowed(select: Select) -> None:
    assert select('group : "marts"') == {"orders", "customers"}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_FILTERS))
def test_dagster_filters_needing_other_data_are_refused_clearly(name: str) -> None:
    text = f'group:marts and {name}:"x"'
    with pytest.raises(SelectionError) as raised:
        parse_selection(text)
    assert not isinstance(raised.value, SelectionSyntaxError)
    message = str(raised.value)
    assert f"the {name}: filter is Dagster's, but kubeasset does not support it" in message
    assert "column 17" in message


def test_the_unsupported_list_covers_dagsters_runtime_filters() -> None:
    assert {"status", "column", "table_name", "changed_in_branch", "column_tag"} <= set(UNSUPPORTED_FILTERS)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("foo:bar", "unknown filter 'foo:'"),
        ("Key:a", "did you mean 'key:'?"),
        ("groups:a", "did you mean 'group:'?"),
    ],
)
def test_unknown_filters_are_syntax_errors(text: str, hint: str) -> None:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection(text)
    assert raised.value.column == 1
    assert hint in str(raised.value)


def test_wildcards_are_refused_outside_key_and_group_unless_quoted(graph: AssetGraph) -> None:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection("tag:tier=gol*")
    assert raised.value.column == 10
    assert parse_selection('tag:tier="gol*"').resolve(graph) == []  # quoted: a literal '*'


def test_equals_only_follows_a_tag_key() -> None:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection("group:a=b")
    assert raised.value.column == 8
    assert "'=' only follows a tag key" in str(raised.value)
