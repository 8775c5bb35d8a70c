"""The Python ``AssetSelection`` API (Dagster's names), its agreement with the string syntax, the text it
writes back, and the module helpers the SDK, runner, CLI and controller call."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph, AssetKey
from kubeasset.selection import (
    AssetSelection,
    KeyWildCardAssetSelection,
    OrAssetSelection,
    coerce_selection,
    parse_selection,
    resolve_selection,
)

groups, tag = AssetSelection.groups, AssetSelection.tag


def names(keys: list[AssetKey]) -> list[str]:
    return [key.to_user_string() for key in keys]


@pytest.mark.parametrize(
    ("text", "api"),
    [
        ("key:orders", KeyWildCardAssetSelection("orders")),
        ('key:"raw/*"', KeyWildCardAssetSelection("raw/*")),
        ("tag:tier=gold", tag("tier", "gold")),
        ("tag:pii", tag("pii", "")),
        ("group:raw", groups("raw")),
        ('owner:"team:sales"', AssetSelection.owner("team:sales")),
        ("kind:dbt", AssetSelection.kind("dbt")),
        ("code_location:shop", AssetSelection.code_location("shop")),
        ("*", AssetSelection.all()),
        ("not group:raw", AssetSelection.all() - groups("raw")),
        ("group:a and group:b and group:c", groups("a") & groups("b") & groups("c")),
        ("group:a or group:b and group:c", groups("a") | (groups("b") & groups("c"))),
        ("not group:a or group:b", (AssetSelection.all() - groups("a")) | groups("b")),
        ("+group:a", groups("a").upstream()),
        ("2+group:a", groups("a").upstream(2)),
        ("group:a+", groups("a").downstream()),
        ("group:a+3", groups("a").downstream(3)),
        ("1+group:a+2", groups("a").upstream(1) | groups("a").downstream(2)),
        ("roots(group:a)", groups("a").roots()),
        ("sinks(group:a)", groups("a").sinks()),
        ("(group:a or group:b)+", (groups("a") | groups("b")).downstream()),
        ("sinks(+group:a)+1", groups("a").upstream().sinks().downstream(1)),
    ],
)
def test_the_parser_builds_the_api_tree(text: str, api: AssetSelection) -> None:
    assert parse_selection(text) == api
    assert AssetSelection.from_string(text) == api


def test_or_and_and_flatten_like_dagster() -> None:
    a, b, c = groups("a"), groups("b"), groups("c")
    assert (a | b) | c == a | (b | c) == OrAssetSelection((a, b, c))
    assert ((a & b) & c).operands == (a, b, c)  # type: ignore[union-attr]


def test_nodes_are_immutable_and_hashable() -> None:
    selection = groups("a").downstream(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        selection.depth = 3  # type: ignore[misc]
    assert len({selection, groups("a").downstream(2), groups("a").downstream(1)}) == 2


def test_keys_accepts_every_key_form(graph: AssetGraph) -> None:
    expected = AssetSelection.keys(AssetKey(["raw", "orders"]))
    assert AssetSelection.keys("raw/orders") == AssetSelection.keys(["raw", "orders"]) == expected
    assert names(AssetSelection.keys("orders", "raw/orders").resolve(graph)) == ["raw/orders", "orders"]


def test_keys_naming_a_missing_key_raises_naming_it(graph: AssetGraph) -> None:
    with pytest.raises(SelectionError, match="'nope', 'raw/nope'"):
        AssetSelection.keys("orders", "nope", "raw/nope").resolve(graph)


def test_assets_accepts_anything_with_a_key(graph: AssetGraph) -> None:
    @dataclass
    class Definition:
        key: AssetKey

    selection = AssetSelection.assets(Definition(AssetKey("orders")), "customers")
    assert selection == AssetSelection.keys("orders", "customers")
    assert names(selection.resolve(graph)) == ["orders", "customers"]


def test_key_prefixes(graph: AssetGraph) -> None:
    assert names(AssetSelection.key_prefixes("raw").resolve(graph)) == ["raw/customers", "raw/orders",
                                                                         "raw/payments"]  # fmt: skip
    assert names(AssetSelection.key_prefixes(["raw", "orders"], "orders").resolve(graph)) == [
        "raw/orders",
        "orders",
    ]
    assert AssetSelection.key_prefixes("ra").resolve(graph) == []  # a prefix is whole parts


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (
            groups("raw") | groups("marts"),
            {"raw/orders", "raw/payments", "raw/customers", "orders", "customers"},
        ),
        (groups("marts") & tag("tier", "gold"), {"orders", "customers"}),
        (AssetSelection.kind("dbt") - groups("staging"), {"orders", "customers"}),
        (
            AssetSelection.keys("orders").upstream(include_self=False),
            {"stg_orders", "stg_payments", "raw/orders", "raw/payments"},
        ),
        (
            AssetSelection.keys("orders").downstream(depth=1, include_self=False),
            {"customers", "revenue_report"},
        ),
        # as in Dagster, include_self=False drops the whole starting selection, even an upstream part of it
        (
            AssetSelection.keys("stg_orders", "orders").upstream(include_self=False),
            {"raw/orders", "stg_payments", "raw/payments"},
        ),
        (AssetSelection.all().roots(), {"raw/orders", "raw/payments", "raw/customers", "standalone"}),
        (groups("marts").sinks(), {"customers"}),
    ],
)
def test_api_semantics(graph: AssetGraph, selection: AssetSelection, expected: set[str]) -> None:
    assert set(names(selection.resolve(graph))) == expected


def test_resolve_returns_dependencies_first(graph: AssetGraph) -> None:
    order = names(AssetSelection.all().resolve(graph))
    assert sorted(order) == sorted(names(list(graph.keys)))
    for key, spec in graph.specs.items():
        for dep in spec.deps:
            assert order.index(dep.to_user_string()) < order.index(key.to_user_string())


@pytest.mark.parametrize(
    "call",
    [
        lambda: groups("a").upstream(depth=-1),
        lambda: groups("a").downstream(depth=True),
        lambda: groups("a").downstream(include_self="no"),  # type: ignore[arg-type]
        lambda: AssetSelection.groups(3),  # type: ignore[arg-type]
        lambda: AssetSelection.tag("tier", None),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_selection_errors(call: object) -> None:
    with pytest.raises(SelectionError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("selection", "text"),
    [
        (groups("a").downstream(2) & tag("t", "v"), 'group:"a"+2 and tag:"t"="v"'),
        (groups("a", "b").upstream(), '+(group:"a" or group:"b")'),
        (AssetSelection.all() - (groups("a") | groups("b")), 'not (group:"a" or group:"b")'),
        (groups("a") - groups("b"), 'group:"a" and not group:"b"'),
        (AssetSelection.all().upstream(0), "0+(*)"),
        (AssetSelection.keys("orders", "raw/orders"), 'key:"orders" or key:"raw/orders"'),
        (AssetSelection.keys("orders").downstream(include_self=False), 'key:"orders"+ and not key:"orders"'),
        (
            AssetSelection.owner(None) | AssetSelection.kind("dbt").sinks(),
            'owner:<null> or sinks(kind:"dbt")',
        ),
        (AssetSelection.key_prefixes("raw"), 'key:"raw" or key:"raw/*"'),
    ],
)
def test_selections_write_themselves_in_the_syntax(selection: AssetSelection, text: str) -> None:
    assert str(selection) == text


def test_a_value_the_syntax_cannot_quote_is_an_error() -> None:
    with pytest.raises(SelectionError, match="cannot be written"):
        str(tag("note", 'say "hi"'))


def test_written_text_resolves_to_the_same_assets(graph: AssetGraph) -> None:
    selection = (AssetSelection.keys("orders").upstream(1, include_self=False) | AssetSelection.key_prefixes(
        "raw")) - AssetSelection.kind("s3")  # fmt: skip
    reparsed = parse_selection(str(selection))
    assert reparsed.resolve(graph) == selection.resolve(graph)
    assert set(names(reparsed.resolve(graph))) == {"stg_orders", "stg_payments", "raw/orders"}


# -- module helpers -----------------------------------------------------------------------------


def test_coerce_a_list_of_keys_is_keys() -> None:
    assert coerce_selection(["orders", AssetKey(["raw", "orders"])]) == AssetSelection.keys("orders", "raw/orders")
    assert coerce_selection([]) == AssetSelection.keys()


def test_coerce_a_list_with_clauses_unions_them(graph: AssetGraph) -> None:
    selection = coerce_selection(["orders", "group:raw", "*customer_report"])
    assert selection == (
        AssetSelection.keys("orders") | groups("raw") | AssetSelection.keys("customer_report").upstream()
    )


def test_coerce_passes_selections_through_and_parses_strings() -> None:
    selection = groups("a")
    assert coerce_selection(selection) is selection
    assert coerce_selection("group:a") == selection
    assert AssetSelection.from_coercible("group:a") == selection


@pytest.mark.parametrize("bad", [42, [1], [None], {"orders"}])
def test_coerce_rejects_other_types(bad: object) -> None:
    with pytest.raises(SelectionError):
        coerce_selection(bad)  # type: ignore[arg-type]


def test_resolve_selection_accepts_every_form(graph: AssetGraph) -> None:
    assert names(resolve_selection("group:marts", graph)) == ["orders", "customers"]
    assert names(resolve_selection(["customers", "orders"], graph)) == ["orders", "customers"]
    assert names(resolve_selection(groups("marts"), graph)) == ["orders", "customers"]
    assert names(resolve_selection("customers, orders", graph)) == ["orders", "customers"]
