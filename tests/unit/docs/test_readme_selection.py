"""The README's selection examples select exactly what the README says, on the example code location: each row
runs through the real parser (or the real AssetSelection API) against the graph of examples/shop, built the
way the controller builds it for the CodeLocation ``shop``."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeasset.graph import AssetGraph
from kubeasset.selection import AssetSelection, parse_selection, resolve_selection

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
_BEGIN, _END = "<!-- selection-examples", "<!-- /selection-examples -->"


def _block() -> str:
    text = README.read_text(encoding="utf-8")
    assert _BEGIN in text and _END in text, "the README's selection examples block is missing"
    return text[text.index(_BEGIN) : text.index(_END)]


def _rows(header: str) -> Iterator[tuple[str, str]]:
    """(expression, selected) of every row of the table whose header starts with ``header``."""
    lines = _block().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        expression = re.fullmatch(r"`(.+)`", cells[0])
        assert expression, f"the first cell must be one code span: {line}"
        yield expression.group(1), cells[1]


STRING_ROWS = list(_rows("selection"))
PYTHON_ROWS = list(_rows("Python"))


@pytest.fixture(scope="module")
def shop_graph() -> AssetGraph:
    sys.path.insert(0, str(REPO / "examples"))
    try:
        definitions = importlib.import_module("shop").defs
    finally:
        sys.path.remove(str(REPO / "examples"))
    # As the controller builds it for the CodeLocation named shop (so code_location:shop has a meaning).
    specs = list(definitions.asset_graph.specs.values())
    return AssetGraph(specs, code_location="shop")


def _expected(cell: str, graph: AssetGraph) -> list[str]:
    if cell == "all nine assets":
        assert len(graph.topological_order) == 9
        return [str(key) for key in graph.topological_order]
    return [part.strip() for part in cell.split(",")]


def test_the_tables_cover_every_form_of_the_syntax() -> None:
    text = " ".join(expression for expression, _ in STRING_ROWS)
    for form in (
        "key:",
        "group:",
        "tag:",
        "owner:",
        "kind:",
        "code_location:",
        " and ",
        " or ",
        "not ",
        "roots(",
        "sinks(",
        "(group",
        "+1",
        "1+",
        "*",
    ):
        assert form in text, f"no README example uses {form!r}"
    python = " ".join(expression for expression, _ in PYTHON_ROWS)
    for operator in (" | ", " & ", " - "):
        assert operator in python, f"no README example uses the Python operator {operator!r}"


@pytest.mark.parametrize(("expression", "selected"), STRING_ROWS, ids=[row[0] for row in STRING_ROWS])
def test_each_selection_string_selects_what_the_readme_says(
    expression: str, selected: str, shop_graph: AssetGraph
) -> None:
    keys = [str(key) for key in resolve_selection(expression, shop_graph)]
    assert keys == _expected(selected, shop_graph)


@pytest.mark.parametrize(("expression", "selected"), PYTHON_ROWS, ids=[row[0] for row in PYTHON_ROWS])
def test_each_python_selection_selects_what_the_readme_says(
    expression: str, selected: str, shop_graph: AssetGraph
) -> None:
    # The README's Python column is an expression over AssetSelection only; evaluate it with nothing else in scope.
    selection = eval(expression, {"__builtins__": {}}, {"AssetSelection": AssetSelection})  # noqa: S307
    assert isinstance(selection, AssetSelection)
    keys = [str(key) for key in resolve_selection(selection, shop_graph)]
    assert keys == _expected(selected, shop_graph)


def test_code_location_selects_nothing_in_another_location(shop_graph: AssetGraph) -> None:
    other = AssetGraph(shop_graph.specs.values(), code_location="other")
    assert resolve_selection(parse_selection("code_location:shop"), other) == []
