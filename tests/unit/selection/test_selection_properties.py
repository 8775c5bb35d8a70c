"""Properties over random input: any text either parses or raises a SelectionError (never anything
else), and any selection built with the API survives being written as text and parsed back."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph
from kubeasset.selection import (
    AssetSelection,
    GroupWildCardAssetSelection,
    KeyWildCardAssetSelection,
    parse_selection,
)

# The characters the grammars give a meaning to, plus some they do not.
_SYNTAX_ALPHABET = 'abkeytagroupnd:="()*+, /0123_-<>\t\n@.!&|'
_WORDS = ["key:", "tag:", "group:", "owner:", "kind:", "code_location:", "status:", "roots(", "sinks(",
          " and ", " or ", "not ", "*", "+", "2+", "+1", "(", ")", '"', "orders", "raw/orders", ",", "<null>",
          "=", " "]  # fmt: skip

# Values the syntax can quote: anything without '"', '\\' or a line break.
_values = st.text(alphabet=st.characters(blacklist_characters='"\\\r\n', blacklist_categories=["Cs"]), max_size=8)
_names = st.sampled_from(["raw", "marts", "staging", "reporting", "default", "nope", "r", "a b", "team:sales"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=40), st.text(alphabet=_SYNTAX_ALPHABET, max_size=40),
                 st.lists(st.sampled_from(_WORDS), max_size=12).map("".join)))  # fmt: skip
def test_parsing_raises_nothing_but_selection_errors(text: str) -> None:
    with contextlib.suppress(SelectionError):
        parse_selection(text)


def _leaves(exact: bool) -> st.SearchStrategy[AssetSelection]:
    """Leaf selections; ``exact`` keeps those whose text parses back to an equal node."""
    leaves = [
        st.just(AssetSelection.all()),
        _names.map(lambda name: AssetSelection.groups(name)),
        _values.filter(lambda value: "*" in value).map(GroupWildCardAssetSelection),
        st.builds(AssetSelection.tag, _names, st.one_of(st.just(""), _values)),
        st.one_of(st.none(), _names).map(AssetSelection.owner),
        st.one_of(st.none(), st.sampled_from(["dbt", "csv", "s3", "python", "x"])).map(AssetSelection.kind),
        st.one_of(st.none(), st.sampled_from(["shop", "other"])).map(AssetSelection.code_location),
        st.one_of(_values, st.sampled_from(["raw/*", "*orders", "stg_*", "orders"])).map(KeyWildCardAssetSelection),
    ]
    if not exact:
        existing = st.sampled_from(["orders", "raw/orders", "customers", "stg_payments", "standalone"])
        leaves += [
            st.lists(existing, min_size=1, max_size=3).map(lambda keys: AssetSelection.keys(*keys)),
            st.lists(st.sampled_from(["raw", "orders", "nope", "raw/customers"]), max_size=2).map(
                lambda prefixes: AssetSelection.key_prefixes(*prefixes)
            ),
            st.lists(_names, min_size=2, max_size=3).map(lambda names: AssetSelection.groups(*names)),
        ]
    return st.one_of(leaves)


def _selections(depth: int, exact: bool) -> st.SearchStrategy[AssetSelection]:
    if depth == 0:
        return _leaves(exact)
    child = _selections(depth - 1, exact)
    layers = st.one_of(st.none(), st.integers(min_value=0, max_value=3))
    include_self = st.just(True) if exact else st.booleans()
    combined = [
        st.builds(lambda a, b: a | b, child, child),
        st.builds(lambda a, b: a & b, child, child),
        child.map(lambda a: AssetSelection.all() - a),
        st.builds(lambda a, n, me: a.upstream(n, me), child, layers, include_self),
        st.builds(lambda a, n, me: a.downstream(n, me), child, layers, include_self),
        child.map(lambda a: a.roots()),
        child.map(lambda a: a.sinks()),
    ]
    if not exact:
        combined.append(st.builds(lambda a, b: a - b, child, child))
    return st.one_of(_leaves(exact), *combined)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_selections(depth=4, exact=True))
def test_text_of_a_selection_parses_back_to_the_same_tree(selection: AssetSelection) -> None:
    assert parse_selection(str(selection)) == selection


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_selections(depth=4, exact=False))
def test_text_of_a_selection_resolves_to_the_same_assets(graph: AssetGraph, selection: AssetSelection) -> None:
    assert parse_selection(str(selection)).resolve(graph) == selection.resolve(graph)
