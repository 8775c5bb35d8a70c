"""Properties of the selection language over generated graphs and generated text (issue 7): any text
parses or raises a SelectionError that points inside the text; a parsed selection printed and parsed again
selects the same assets; ``|``, ``&``, ``-`` and ``not`` are union, intersection, difference and complement
of what their operands select."""

from __future__ import annotations

import contextlib
import re
from types import MappingProxyType

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeasset.errors import SelectionError, SelectionSyntaxError
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.selection import AssetSelection, parse_selection

_FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- generated graphs ---------------------------------------------------------------------------------

_KEYS = ["a", "b", "orders", "raw/orders", "raw/customers", "stg_orders", "mart/x-1", "report", "c_d", "z9"]
_GROUPS = ["raw", "staging", "marts", "default"]
_TAGS = [("tier", "gold"), ("tier", "bronze"), ("pii", ""), ("team", "sales")]
_KINDS = ["dbt", "csv", "python"]
_OWNERS = ["team:sales", "alice@example.com"]


@st.composite
def graphs(draw: st.DrawFn) -> AssetGraph:
    """A DAG of 1-10 assets (edges only from an earlier key to a later one) with random attributes."""
    keys = draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=len(_KEYS), unique=True))
    specs = []
    for index, key in enumerate(keys):
        deps = draw(st.lists(st.sampled_from(keys[:index]), unique=True, max_size=3)) if index else []
        specs.append(
            AssetSpec(
                key=AssetKey.from_user_string(key),
                deps=tuple(AssetKey.from_user_string(dep) for dep in deps),
                group_name=draw(st.sampled_from(_GROUPS)),
                tags=MappingProxyType(dict(draw(st.lists(st.sampled_from(_TAGS), max_size=2)))),
                kinds=frozenset(draw(st.lists(st.sampled_from(_KINDS), max_size=2))),
                owners=tuple(draw(st.lists(st.sampled_from(_OWNERS), max_size=2, unique=True))),
            )
        )
    return AssetGraph(specs, code_location=draw(st.sampled_from(["shop", "other"])))


# --- generated selection text -------------------------------------------------------------------------

_LEAVES = st.one_of(
    st.sampled_from(_KEYS).map(lambda key: f"key:{key}"),
    st.sampled_from(["key:raw/*", "key:*orders", "key:*", 'key:"a"', "key:nope"]),
    st.sampled_from(_GROUPS).map(lambda group: f"group:{group}"),
    st.sampled_from(_TAGS).map(lambda tag: f"tag:{tag[0]}={tag[1]}" if tag[1] else f"tag:{tag[0]}"),
    st.sampled_from(_KINDS).map(lambda kind: f"kind:{kind}"),
    st.sampled_from(_OWNERS).map(lambda owner: f'owner:"{owner}"'),
    st.sampled_from(["code_location:shop", "code_location:other", "*"]),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    depth = st.sampled_from(["", "1", "2"])
    return st.one_of(
        st.tuples(children, st.sampled_from([" or ", " and ", " OR ", " and not "]), children).map(
            lambda t: f"({t[0]}){t[1]}({t[2]})"
        ),
        children.map(lambda text: f"not ({text})"),
        st.tuples(depth, children).map(lambda t: f"{t[0]}+({t[1]})"),
        st.tuples(children, depth).map(lambda t: f"({t[0]})+{t[1]}"),
        st.tuples(st.sampled_from(["roots", "sinks"]), children).map(lambda t: f"{t[0]}({t[1]})"),
    )


#: Selection strings in the current syntax, nested a few levels.
selection_texts = st.recursive(_LEAVES, _combine, max_leaves=6)
#: The same, plus the legacy bare-key form.
any_selection_texts = st.one_of(
    selection_texts,
    st.lists(
        st.tuples(st.sampled_from(["", "+", "*", "++"]), st.sampled_from(_KEYS), st.sampled_from(["", "+", "*"])),
        min_size=1,
        max_size=3,
    ).map(lambda clauses: ", ".join(f"{up}{key}{down}" for up, key, down in clauses)),
)


def _selected(text: str, graph: AssetGraph) -> frozenset[str] | None:
    """The keys ``text`` selects in ``graph``; None when it names a key the graph lacks (an error)."""
    try:
        return frozenset(key.to_user_string() for key in parse_selection(text).resolve(graph))
    except SelectionError as error:
        assert not isinstance(error, SelectionSyntaxError), f"{text!r} should parse: {error}"
        return None


def _all(graph: AssetGraph) -> frozenset[str]:
    return frozenset(key.to_user_string() for key in graph.keys)


# --- the properties -----------------------------------------------------------------------------------

_POSITION = re.compile(r"at (?:line (\d+), )?column (\d+):")
_NOISE = st.one_of(
    st.text(max_size=60),
    st.text(alphabet='keytagroup:="()*+, /0123_-<>\t\n@.!&|ndotrsi', max_size=60),
    st.lists(st.sampled_from(["key:", "tag:", "status:", "column:", "roots(", "(", ")", " and ", " or ", "not ",
                              '"', "=", "+", "2+", "*", ",", "x", "raw/orders", "\n", "\t"]), max_size=14).map("".join),
)  # fmt: skip


@_FAST
@given(text=st.one_of(_NOISE, any_selection_texts), graph=graphs())
def test_any_text_parses_or_raises_a_selection_error_pointing_inside_it(text: str, graph: AssetGraph) -> None:
    try:
        selection = parse_selection(text)
    except SelectionError as error:
        message = str(error)
        found = _POSITION.search(message)
        assert found is not None, f"no position in {message!r}"
        line, column = int(found.group(1) or 1), int(found.group(2))
        lines = text.split("\n")
        assert 1 <= line <= len(lines)
        assert 1 <= column <= len(lines[line - 1]) + 1, f"column {column} is outside {lines[line - 1]!r}"
        if isinstance(error, SelectionSyntaxError):
            assert error.column == column and error.text == text
        assert "\n  " in message and message.rstrip().endswith("^"), "the caret line is missing"
        return
    with contextlib.suppress(SelectionError):  # an unknown key: a person's mistake, reported as one
        selection.resolve(graph)


@_FAST
@given(text=any_selection_texts, graph=graphs())
def test_a_parsed_selection_printed_and_parsed_again_selects_the_same_assets(text: str, graph: AssetGraph) -> None:
    selection = parse_selection(text)
    printed = str(selection)
    again = parse_selection(printed)

    assert again == parse_selection(str(again)), "printing is stable"
    original = _selected(text, graph)
    if original is None:
        # A legacy clause naming a key the graph lacks is an error; printed, it is key:"nope", which selects
        # nothing (docs/selection.md), so the printed text selects what the other clauses select.
        assert _selected(printed, graph) is not None
    else:
        assert _selected(printed, graph) == original


@_FAST
@given(left=selection_texts, right=selection_texts, graph=graphs())
def test_or_and_minus_not_are_set_algebra_over_what_the_operands_select(
    left: str, right: str, graph: AssetGraph
) -> None:
    a, b = _selected(left, graph), _selected(right, graph)
    everything = _all(graph)
    if a is None or b is None:
        return  # a key the graph lacks: there is no set to compare with (the error is the answer)
    x, y = parse_selection(left), parse_selection(right)

    assert _resolve(x | y, graph) == a | b == _selected(f"({left}) or ({right})", graph)
    assert _resolve(x & y, graph) == a & b == _selected(f"({left}) and ({right})", graph)
    assert _resolve(x - y, graph) == a - b == _selected(f"({left}) and not ({right})", graph)
    assert _selected(f"not ({left})", graph) == everything - a
    assert a <= everything


def _resolve(selection: AssetSelection, graph: AssetGraph) -> frozenset[str]:
    return frozenset(key.to_user_string() for key in selection.resolve(graph))


@_FAST
@given(text=selection_texts, graph=graphs())
def test_traversals_contain_their_base_and_stay_within_the_graph(text: str, graph: AssetGraph) -> None:
    base = _selected(text, graph)
    if base is None:
        return
    up, down = _selected(f"+({text})", graph), _selected(f"({text})+", graph)
    up_all, down_all = _selected(f"+({text})+", graph), _selected(f"({text})", graph)
    assert up is not None and down is not None and up_all is not None and down_all is not None
    assert base <= up and base <= down and up | down == up_all
    assert _selected(f"roots({text})", graph) == _roots(base, graph)


def _roots(keys: frozenset[str], graph: AssetGraph) -> frozenset[str]:
    """By Dagster's definition: the selected assets with no ancestor, however far, among the selected."""
    ancestors = {
        key.to_user_string(): {ancestor.to_user_string() for ancestor in nx.ancestors(graph.digraph, key)}
        for key in graph.keys
    }
    return frozenset(key for key in keys if not ancestors[key] & keys)
