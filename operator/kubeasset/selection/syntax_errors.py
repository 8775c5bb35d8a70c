"""Error messages for selection strings that a person can act on: where (1-based column, a caret under
the text) and what was expected there, in the selection language's words rather than lark's."""

from __future__ import annotations

from collections.abc import Sequence

from lark import Token
from lark.exceptions import UnexpectedInput, UnexpectedToken

from kubeasset.errors import SelectionError, SelectionSyntaxError

#: What each terminal of the current grammar means to a user, in the order they are listed.
_CURRENT_WORDS: dict[str, str] = {
    "ATTR": "a filter such as key:orders",
    "FUNC": "roots(...) or sinks(...)",
    "LPAR": "'('",
    "STAR": "'*'",
    "NOT": "'not'",
    "DIGITS": "a depth such as 2",
    "PLUS": "'+'",
    "VALUE": "a value",
    "QUOTED": "a value",
    "NULL": "a value",
    "EQUAL": "'='",
    "AND": "'and'",
    "OR": "'or'",
    "RPAR": "')'",
    "$END": "the end of the selection",
}

_LEGACY_WORDS: dict[str, str] = {
    "UP": "a '+' or '*' mark",
    "KEY": "an asset key such as orders or raw/orders",
    "DOWN": "a '+' or '*' mark",
    "SEP": "',' or a space",
    "$END": "the end of the selection",
}

#: Characters of the selection shown either side of an error's caret (and of a quoted token).
SHOWN_CONTEXT = 60
#: What is said about the error, before the excerpt; longer messages (quoting long names) are cut.
MAX_MESSAGE_CHARS = 600

_LEGACY_HINT = (
    "(read as the legacy form: asset keys such as orders, +orders or *raw/orders*, separated by commas "
    "or spaces; filters, and/or/not and N+ depths need the current syntax, e.g. 2+key:orders)"
)


def locate(text: str, position: int) -> tuple[int, int]:
    """The 1-based (line, column) of a 0-based character position."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


def pointed(kind: str, text: str, position: int, message: str) -> tuple[str, int]:
    """``"<kind> at column C: <message>"`` followed by the offending line and a caret under it.

    A long line is shown as the SHOWN_CONTEXT characters either side of the caret, with "…" where it
    was cut: the message of a 10 KB selection stays a few lines long (it lands in status conditions).
    """
    line, column = locate(text, position)
    if len(message) > MAX_MESSAGE_CHARS:  # it quotes the selection's own (long) names
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    lines = text.split("\n")
    full = lines[line - 1]
    start, end = max(0, column - 1 - SHOWN_CONTEXT), column - 1 + SHOWN_CONTEXT
    before = ("…" if start > 0 else "") + full[start : column - 1]
    shown = before + full[column - 1 : end] + ("…" if end < len(full) else "")
    where = f"line {line}, column {column}" if len(lines) > 1 else f"column {column}"
    # Tabs stay tabs in the caret line so the caret lines up however the terminal renders them.
    pad = "".join(char if char == "\t" else " " for char in before)
    return f"{kind} at {where}: {message}\n  {shown}\n  {pad}^", column


def quoted(value: str) -> str:
    """``value`` in quotes for a message, its start only when it is long (a 10 KB token)."""
    return repr(value) if len(value) <= SHOWN_CONTEXT else repr(value[:SHOWN_CONTEXT]) + "…"


def position_of(token: Token) -> int:
    """The 0-based position of a token (lark types it optional; this grammar always sets it)."""
    return token.start_pos or 0


def syntax_error(text: str, position: int, message: str) -> SelectionSyntaxError:
    full, column = pointed("selection syntax error", text, position, message)
    return SelectionSyntaxError(full, text=text, column=column)


def selection_error(text: str, position: int, message: str) -> SelectionError:
    """A selection that parses but asks for something kubeasset cannot do."""
    return SelectionError(pointed("selection error", text, position, message)[0])


def from_lark(text: str, error: UnexpectedInput, *, legacy: bool) -> SelectionSyntaxError:
    """Translate lark's error for ``text`` into a SelectionSyntaxError with a readable message."""
    token: Token | None = None
    if isinstance(error, UnexpectedToken):
        token = error.token
        at_end = token.type == "$END"
        position = len(text) if at_end else position_of(token)
    else:
        position = error.pos_in_stream if isinstance(error.pos_in_stream, int) else len(text)
        at_end = position >= len(text)
    if at_end:
        token, found = None, "the end of the selection"
    else:
        found = quoted(token.value if token is not None else text[position])
    expected, history = _parser_view(error)
    if legacy:
        message = _legacy_message(expected, found)
    else:
        message = _current_message(expected, found, token, history, at_end)
    return syntax_error(text, position, message)


def _parser_view(error: UnexpectedInput) -> tuple[set[str], Sequence[Token]]:
    """What the parser would have accepted where it stopped, and the tokens it had read (last last)."""
    parser = getattr(error, "interactive_parser", None)
    if parser is None:  # lark sets it on every error of an LALR parse; this is only a fallback
        return set(getattr(error, "expected", None) or getattr(error, "allowed", None) or ()), []
    history = [item for item in parser.parser_state.value_stack if isinstance(item, Token)]
    return set(parser.accepts()), history


def _expected_list(expected: set[str], words: dict[str, str]) -> str:
    phrases: list[str] = []
    for terminal, phrase in words.items():
        if terminal in expected and phrase not in phrases:
            phrases.append(phrase)
    if not phrases:
        return "something else"
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _current_message(
    expected: set[str], found: str, token: Token | None, history: Sequence[Token], at_end: bool
) -> str:
    last = history[-1] if history else None
    if expected & {"VALUE", "QUOTED"}:
        attribute = next((item.value for item in reversed(history) if item.type == "ATTR"), "")
        if last is not None and last.type == "EQUAL":
            return f"expected a value after '=' in {attribute}:...=, found {found}"
        return (
            f"expected a value after '{attribute}:' (a name such as orders, or a \"quoted string\"), "
            f"found {found}"
        )
    message = f"expected {_expected_list(expected, _CURRENT_WORDS)}, found {found}"
    if token is not None and token.type == "COLON" and last is not None and last.type in ("VALUE", "QUOTED"):
        return message + "; a value containing ':' must be quoted, e.g. owner:\"team:sales\""
    if "ATTR" in expected and token is not None and token.type == "VALUE":
        return message + (
            "; a bare asset key is only valid in the legacy form, on its own; "
            f"here write key:{token.value[:SHOWN_CONTEXT]}"
        )
    if token is not None and token.type == "PLUS" and last is not None and last.type == "PLUS":
        return message + "; for N layers write N+ or +N (e.g. 2+key:orders), not repeated '+'"
    if last is not None and last.type == "STAR" and not at_end:
        return message + "; '*' alone selects every asset, and all layers up or down are written +X or X+"
    if token is not None and token.type in ("ATTR", "FUNC") and "AND" in expected:
        return message + "; join filters with 'and' or 'or'"
    return message


def _legacy_message(expected: set[str], found: str) -> str:
    if found.strip("'").lower() in ("and", "or", "not"):
        return (
            f"expected {_expected_list(expected, _LEGACY_WORDS)}, found {found}; and/or/not combine "
            "filters of the current syntax, e.g. key:orders or key:customers"
        )
    return f"expected {_expected_list(expected, _LEGACY_WORDS)}, found {found} {_LEGACY_HINT}"
