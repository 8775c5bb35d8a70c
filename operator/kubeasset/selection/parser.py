"""``parse_selection``: one entry point that reads a selection string in Dagster's current syntax or in
its legacy bare-key form and returns the :class:`AssetSelection` tree the Python API would build.

Which form a string is in
-------------------------
The two forms never overlap: the current syntax always contains a filter (``name:``), a function call
(``roots(``/``sinks(``), parentheses, or is ``*`` alone, none of which the legacy form can contain.
So, as Dagster's ``AssetSelection.from_string`` does, a string is parsed with the current grammar and,
if that fails, with the legacy grammar (``orders``, ``+orders``, ``*raw/orders*``, ``a, b c``).
When both fail, the error reported is the current grammar's if the text contains any of
``: ( ) " = <`` or a standalone ``and``/``or``/``not`` (it was meant as the current syntax), and the
legacy grammar's otherwise.

Precedence (tightest first): traversal ``+``, ``not``, ``and``, ``or``; ``not X`` is
``AssetSelection.all() - X`` and ``1+X+2`` is ``X.upstream(1) | X.downstream(2)``, as in Dagster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from kubeasset.errors import SelectionError
from kubeasset.selection.attributes import Value, build_filter
from kubeasset.selection.expressions import AssetSelection
from kubeasset.selection.grammar import current_parser, legacy_parser
from kubeasset.selection.legacy import build_legacy
from kubeasset.selection.syntax_errors import from_lark, position_of, syntax_error

#: Deeper nesting of parentheses, functions and ``not`` is refused with a syntax error: no real
#: selection comes close, and it keeps every recursive walk of the tree far from Python's limit.
MAX_NESTING = 32

_CURRENT_SYNTAX_MARK = re.compile(r'[:()"=<]|(?<![A-Za-z0-9_/-])(?i:and|or|not)(?![A-Za-z0-9_/-])')
_NESTING_RULES = frozenset({"parenthesized", "function", "not_expr"})


def parse_selection(text: str) -> AssetSelection:
    """Parse a selection string (current syntax or legacy form) into an :class:`AssetSelection`.

    Raises :class:`~kubeasset.errors.SelectionSyntaxError` (column and caret in the message) when the
    text does not parse, and :class:`~kubeasset.errors.SelectionError` for a Dagster filter kubeasset
    does not support (``status:``, ``column:`` ...).

    Example::

        parse_selection("group:sales and not kind:csv")
        parse_selection("*raw/orders")          # legacy: raw/orders and everything upstream
        parse_selection("1+key:orders+2")       # one layer up and two down
    """
    if not isinstance(text, str):
        raise SelectionError(f"a selection string must be a str, got {type(text).__name__}")
    return _parse(text)


@lru_cache(maxsize=1024)
def _parse(text: str) -> AssetSelection:
    # Trees are immutable, so a repeated string (a job resolved on every reconcile) is parsed once.
    if not text.strip():
        raise syntax_error(text, 0, "the selection is empty; write * to select every asset")
    try:
        tree = current_parser().parse(text)
    except UnexpectedInput as current_error:
        try:
            legacy_tree = legacy_parser().parse(text)
        except UnexpectedInput as legacy_error:
            if _CURRENT_SYNTAX_MARK.search(text):
                raise from_lark(text, current_error, legacy=False) from None
            raise from_lark(text, legacy_error, legacy=True) from None
        return build_legacy(text, legacy_tree)
    _check_nesting(text, tree)
    return _Builder(text).build(tree)


def _check_nesting(text: str, tree: Tree[Token]) -> None:
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > MAX_NESTING:
                position = node.meta.start_pos if not node.meta.empty else 0
                message = f"the selection nests more than {MAX_NESTING} levels of (), functions or not"
                raise syntax_error(text, position, message)
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))


class _Builder:
    """Turns a parse tree of the current syntax into the AssetSelection the API would build."""

    def __init__(self, source: str) -> None:
        self.source = source

    def build(self, node: Tree[Token]) -> AssetSelection:
        children = node.children
        rule = node.data
        if rule in ("start", "parenthesized"):
            return self.build(_tree(children[1] if rule == "parenthesized" else children[0]))
        if rule == "or_expr":
            result = self.build(_tree(children[0]))
            for operand in children[2::2]:
                result = result | self.build(_tree(operand))
            return result
        if rule == "and_expr":
            result = self.build(_tree(children[0]))
            for operand in children[2::2]:
                result = result & self.build(_tree(operand))
            return result
        if rule == "not_expr":
            return AssetSelection.all() - self.build(_tree(children[1]))
        if rule == "all_expr":
            return AssetSelection.all()
        if rule == "traversal":
            return self._traversal(children[0], _tree(children[1]), children[2])
        if rule == "function":
            return self._function(_token(children[0]), self.build(_tree(children[2])))
        if rule == "attribute":
            return self._attribute(children)
        raise AssertionError(f"unhandled rule {rule!r}")  # the grammar has no other rule

    def _traversal(
        self, up: Tree[Token] | Token | None, primary: Tree[Token], down: Tree[Token] | Token | None
    ) -> AssetSelection:
        selection = self.build(primary)
        up_depth = _depth(up, 0)
        down_depth = _depth(down, 1)
        if up is not None and down is not None:
            return selection.upstream(up_depth) | selection.downstream(down_depth)
        if up is not None:
            return selection.upstream(up_depth)
        if down is not None:
            return selection.downstream(down_depth)
        return selection

    def _function(self, name: Token, argument: AssetSelection) -> AssetSelection:
        if name.value == "roots":
            return argument.roots()
        if name.value == "sinks":
            return argument.sinks()
        message = f"unknown function '{name.value}(...)'; the functions are roots(...) and sinks(...)"
        raise syntax_error(self.source, position_of(name), message)

    def _attribute(self, children: Sequence[Tree[Token] | Token | None]) -> AssetSelection:
        name, _colon, value, equal, tag_value = children
        assert isinstance(name, Token) and isinstance(value, Tree)
        return build_filter(
            self.source,
            name.value,
            position_of(name),
            _value(value),
            _value(tag_value) if isinstance(tag_value, Tree) else None,
            position_of(equal) if isinstance(equal, Token) else 0,
        )


def _depth(traversal: Tree[Token] | Token | None, digits_index: int) -> int | None:
    """The N of ``N+`` / ``+N``; None (all layers) when the digits are left out."""
    if not isinstance(traversal, Tree):
        return None
    digits = traversal.children[digits_index]
    return int(digits.value) if isinstance(digits, Token) else None


def _value(node: Tree[Token]) -> Value:
    token = _token(node.children[0])
    if token.type == "NULL":
        return Value(None, False, position_of(token))
    if token.type == "QUOTED":
        return Value(token.value[1:-1], True, position_of(token))
    return Value(token.value, False, position_of(token))


def _tree(child: Tree[Token] | Token | None) -> Tree[Token]:
    assert isinstance(child, Tree), child
    return child


def _token(child: Tree[Token] | Token | None) -> Token:
    assert isinstance(child, Token), child
    return child
