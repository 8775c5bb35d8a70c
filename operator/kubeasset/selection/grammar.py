"""The two grammars of the selection language (Dagster's current syntax and its legacy bare-key form),
compiled once into LALR parsers, so every layer parses a selection the same way and fast.

The current grammar follows Dagster's ``AssetSelection.g4``: precedence, tightest first, is
traversal (``+``), ``not``, ``and``, ``or``. Keywords are case-insensitive. Attribute and function
names are lexed generically (a name followed by ``:`` or ``(``) so that the transformer can tell an
unknown filter from one Dagster has but kubeasset does not support, and say so.
"""

from __future__ import annotations

from functools import cache

from lark import Lark

# A keyword ends where a name could not go on ("andy" is a name, not "and" + "y").
_WORD_END = r"(?![A-Za-z0-9_])"
# A word that is one of the boolean keywords; names and bare keys must not be one of them.
_KEYWORD = rf"(?i:and|or|not){_WORD_END}"

CURRENT_GRAMMAR = rf"""
start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> not_expr
         | STAR -> all_expr
         | traversal

traversal: [up] primary [down]
up: [DIGITS] PLUS
down: PLUS [DIGITS]

?primary: attribute
        | function
        | LPAR or_expr RPAR -> parenthesized

attribute: ATTR COLON value [EQUAL value]
function: FUNC LPAR or_expr RPAR
value: QUOTED | VALUE | NULL

AND: /(?i:and){_WORD_END}/
OR: /(?i:or){_WORD_END}/
NOT: /(?i:not){_WORD_END}/
ATTR: /(?!{_KEYWORD})[A-Za-z_][A-Za-z0-9_]*(?=\s*:)/
FUNC: /(?!{_KEYWORD})[A-Za-z_][A-Za-z0-9_]*(?=\s*\()/
QUOTED: /"[^"\\\r\n]*"/
VALUE: /[A-Za-z0-9_*\/.@-]+/
NULL: "<null>"
DIGITS: /[0-9]+/
STAR: "*"
PLUS: "+"
COLON: ":"
EQUAL: "="
LPAR: "("
RPAR: ")"

%ignore /\s+/
"""

#: One asset-key part, as kubeasset.graph.keys allows it, joined by '/' into a multi-part key. A bare
#: and/or/not is refused so that "a and b" is reported as the current syntax it was meant to be.
_KEY = r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\/[A-Za-z0-9_][A-Za-z0-9_-]*)*"

LEGACY_GRAMMAR = rf"""
start: [SEP] clause (SEP clause)* [SEP]
clause: [UP] KEY [DOWN]

UP: /\*\+*|\++/
DOWN: /\++\*?|\*/
KEY: /(?!(?i:and|or|not)(?![A-Za-z0-9_\/-])){_KEY}/
SEP: /\s*,\s*|\s+/
"""


@cache
def current_parser() -> Lark:
    """The parser of Dagster's current selection syntax (built on first use, then shared)."""
    return Lark(
        CURRENT_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=True, propagate_positions=True
    )


@cache
def legacy_parser() -> Lark:
    """The parser of the legacy form: bare keys with ``+``/``*`` marks, separated by commas or spaces."""
    return Lark(LEGACY_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=True)
