"""The legacy selection form Dagster still accepts: bare asset keys with ``+``/``*`` traversal marks,
as a list separated by commas (the CLI's ``--select``) or spaces (the old UI box).

Meaning, as in Dagster's ``parse_clause``: ``orders`` is that asset; each leading ``+`` is one layer
upstream and each trailing ``+`` one layer downstream; a ``*`` on a side means all layers on that side;
``raw/orders`` is a multi-part key. A key the graph does not have is an error naming it (the clause
becomes ``AssetSelection.keys``), unlike a ``key:`` filter of the current syntax, which is just empty.
"""

from __future__ import annotations

from lark import Token, Tree

from kubeasset.errors import InvalidAssetKeyError
from kubeasset.graph import AssetKey
from kubeasset.selection.expressions import AssetSelection, KeysAssetSelection
from kubeasset.selection.syntax_errors import position_of, syntax_error


def build_legacy(source: str, tree: Tree[Token]) -> AssetSelection:
    """The selection of a parsed legacy list; a list of plain keys is one ``AssetSelection.keys``."""
    clauses = [_clause(source, child) for child in tree.children if isinstance(child, Tree)]
    plain = [clause for clause in clauses if isinstance(clause, KeysAssetSelection)]
    if len(plain) == len(clauses):
        return KeysAssetSelection(tuple(key for clause in plain for key in clause.selected_keys))
    result = clauses[0]
    for clause in clauses[1:]:
        result = result | clause
    return result


def _clause(source: str, clause: Tree[Token]) -> AssetSelection:
    up, key_token, down = clause.children
    assert isinstance(key_token, Token)
    try:
        key = AssetKey.from_user_string(key_token.value)
    except InvalidAssetKeyError as error:
        raise syntax_error(source, position_of(key_token), str(error)) from None
    selection: AssetSelection = AssetSelection.keys(key)
    up_depth = _depth(up)
    down_depth = _depth(down)
    if up is not None and down is not None:
        return selection.upstream(up_depth) | selection.downstream(down_depth)
    if up is not None:
        return selection.upstream(up_depth)
    if down is not None:
        return selection.downstream(down_depth)
    return selection


def _depth(mark: Tree[Token] | Token | None) -> int | None:
    """``*`` anywhere in a mark means all layers; otherwise one layer per ``+``."""
    if not isinstance(mark, Token):
        return None
    return None if "*" in mark.value else len(mark.value)
