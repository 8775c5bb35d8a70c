"""Syntax errors: a SelectionSyntaxError whose message names the 1-based column and what was expected
there, and shows the text with a caret under the offending character."""

from __future__ import annotations

import pytest

from kubeasset.errors import SelectionSyntaxError
from kubeasset.selection import MAX_NESTING, AssetSelection, parse_selection


def syntax_error(text: str) -> SelectionSyntaxError:
    with pytest.raises(SelectionSyntaxError) as raised:
        parse_selection(text)
    return raised.value


def test_message_names_column_expectation_and_shows_a_caret() -> None:
    error = syntax_error("group:a or key:")
    assert error.column == 16
    assert error.text == "group:a or key:"
    first, shown, caret = str(error).split("\n")
    assert first.startswith("selection syntax error at column 16: expected a value after 'key:'")
    assert shown == "  group:a or key:"
    assert caret == "  " + " " * 15 + "^"


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("key:", 5, "expected a value after 'key:'"),
        ('key:"orders', 5, "expected a value after 'key:'"),  # an unterminated quote
        ("key:'orders'", 5, "expected a value after 'key:'"),  # single quotes are not quotes
        ("tag:tier=", 10, "expected a value after '='"),
        ("(group:a", 9, "expected ')'"),
        ("group:a)", 8, "expected the end of the selection"),
        ("roots(group:a", 14, "expected ')'"),
        ("group:a group:b", 9, "join filters with 'and' or 'or'"),
        ("group:a &", 9, "found '&'"),
        ("group:a and", 12, "expected a filter such as key:orders"),
        ("group:a or or group:b", 12, "found 'or'"),
        ("not", 4, "found the end of the selection"),
        ("++key:a", 2, "for N layers write N+ or +N"),
        ("key:a++", 7, "for N layers write N+ or +N"),
        ("2 key:a", 3, "expected '+'"),
        ("key:a+-1", 7, "found '-1'"),
        ("*key:a", 2, "'*' alone selects every asset"),
        ("+*", 2, "found '*'"),
        ("key:a or orders", 10, "here write key:orders"),
        ("roots()", 7, "expected a filter such as key:orders"),
        ("roots(", 7, "expected a filter such as key:orders"),
        ("unknown(key:a)", 1, "unknown function 'unknown(...)'"),
        ("key:<null>", 5, "key: needs an asset key or a pattern"),
        ("tag:<null>", 5, "tag: needs a tag key"),
    ],
)
def test_error_columns_and_expectations(text: str, column: int, words: str) -> None:
    error = syntax_error(text)
    assert error.column == column, str(error)
    assert words in str(error)
    assert str(error).startswith(f"selection syntax error at column {column}: ")


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_an_empty_selection_is_a_syntax_error(text: str) -> None:
    error = syntax_error(text)
    assert error.column == 1
    assert "the selection is empty; write * to select every asset" in str(error)


def test_multi_line_text_reports_line_and_column() -> None:
    error = syntax_error("group:a\n  and (")
    assert error.column == 8
    assert str(error).split("\n") == [
        "selection syntax error at line 2, column 8: expected a filter such as key:orders, roots(...) or "
        "sinks(...), '(', '*', 'not', a depth such as 2 or '+', found the end of the selection",
        "    and (",
        "         ^",
    ]


def test_caret_keeps_tabs_aligned() -> None:
    assert str(syntax_error("\tgroup:a &")).split("\n")[2] == "  \t        ^"


def test_nesting_is_limited() -> None:
    deep_enough = "(" * MAX_NESTING + "group:a" + ")" * MAX_NESTING
    assert parse_selection(deep_enough) == AssetSelection.groups("a")
    error = syntax_error("(" * (MAX_NESTING + 1) + "group:a" + ")" * (MAX_NESTING + 1))
    assert f"nests more than {MAX_NESTING} levels" in str(error)
    assert "nests more than" in str(syntax_error("not " * (MAX_NESTING + 1) + "group:a"))


def test_long_flat_expressions_are_fine() -> None:
    selection = parse_selection(" or ".join(f"group:g{index}" for index in range(3000)))
    assert len(selection.operands) == 3000  # type: ignore[attr-defined]
