"""Dagster's ``AssetSelection`` API as an immutable expression tree; the selection-string parser builds
the same tree, so ``AssetSelection.from_string("group:sales+")`` equals
``AssetSelection.groups("sales").downstream()`` and both resolve identically.

Every node is a frozen dataclass (hashable, comparable, safe to share) that knows how to evaluate
itself over an :class:`~kubeasset.graph.AssetGraph` and how to write itself back in the selection
language (``str(selection)``), with the parentheses the precedence rules need.
"""

from __future__ import annotations

import difflib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from kubeasset.errors import SelectionError
from kubeasset.graph import AssetGraph, AssetKey, CoercibleToAssetKey
from kubeasset.selection.evaluation import EMPTY, EvaluationContext, KeySet

if TYPE_CHECKING:
    from kubeasset.selection.coerce import CoercibleToAssetSelection

# Binding strength of each form when written as text, tightest first; a child that binds more
# loosely than its position allows is written in parentheses.
_ATOM, _TRAVERSAL, _NOT, _AND, _OR = range(5)


@runtime_checkable
class HasAssetKey(Protocol):
    """Anything with an asset key, such as the SDK's ``AssetsDefinition``."""

    @property
    def key(self) -> AssetKey: ...


class AssetSelection(ABC):
    """A query over the assets of a graph (Dagster's ``AssetSelection``).

    Combine selections with ``|`` (union), ``&`` (intersection) and ``-`` (difference); resolve one
    with :meth:`resolve`, which returns keys in topological order.

    Example::

        AssetSelection.groups("marketing") & AssetSelection.keys("leads").downstream()
        AssetSelection.all() - AssetSelection.tag("tier", "bronze")
        AssetSelection.from_string('owner:"team:sales" and kind:dbt').resolve(graph)
    """

    __slots__ = ()

    # -- leaves ---------------------------------------------------------------------------------

    @staticmethod
    def all() -> AllSelection:
        """Every asset of the graph (``*``)."""
        return AllSelection()

    @staticmethod
    def keys(*keys: CoercibleToAssetKey) -> KeysAssetSelection:
        """Exactly these keys (``AssetKey``, ``"a/b"`` string or sequence of parts); resolving raises
        :class:`SelectionError` naming any key the graph does not have.

        Example: ``AssetSelection.keys("orders", ["raw", "orders"])``
        """
        return KeysAssetSelection(tuple(AssetKey.coerce(key) for key in keys))

    @staticmethod
    def assets(*assets_defs: HasAssetKey | CoercibleToAssetKey) -> KeysAssetSelection:
        """The keys of these asset definitions (anything with a ``.key``) or key-likes.

        Example: ``AssetSelection.assets(orders, "raw/orders")``
        """
        keys = (item.key if isinstance(item, HasAssetKey) else item for item in assets_defs)
        return KeysAssetSelection(tuple(AssetKey.coerce(key) for key in keys))

    @staticmethod
    def key_prefixes(*prefixes: str | Sequence[str]) -> KeyPrefixesAssetSelection:
        """Assets whose key starts with one of these prefixes (``"raw"``, ``"raw/eu"`` or parts).

        Example: ``AssetSelection.key_prefixes("raw", ["warehouse", "eu"])``
        """
        return KeyPrefixesAssetSelection(tuple(AssetKey.coerce(prefix).path for prefix in prefixes))

    @staticmethod
    def groups(*group_names: str) -> GroupsAssetSelection:
        """Assets in any of these groups (``group:``). Example: ``AssetSelection.groups("sales")``"""
        return GroupsAssetSelection(tuple(_require_str(name, "group name") for name in group_names))

    @staticmethod
    def tag(key: str, value: str) -> TagAssetSelection:
        """Assets whose tag ``key`` has exactly ``value`` (``tag:key=value``); an empty value selects the
        assets carrying the tag with an empty value (``tag:key``), as in Dagster.

        Example: ``AssetSelection.tag("tier", "gold")``
        """
        return TagAssetSelection(_require_str(key, "tag key"), _require_str(value, "tag value"))

    @staticmethod
    def owner(owner: str | None) -> OwnerAssetSelection:
        """Assets listing this owner (``owner:``); None selects assets without owners.

        Example: ``AssetSelection.owner("team:sales")``
        """
        return OwnerAssetSelection(None if owner is None else _require_str(owner, "owner"))

    @staticmethod
    def kind(kind: str | None) -> KindAssetSelection:
        """Assets of this kind (``kind:``); None selects assets without kinds.

        Example: ``AssetSelection.kind("dbt")``
        """
        return KindAssetSelection(None if kind is None else _require_str(kind, "kind"))

    @staticmethod
    def code_location(name: str | None) -> CodeLocationAssetSelection:
        """Every asset when the graph belongs to this code location, else none (``code_location:``).

        Example: ``AssetSelection.code_location("sales-etl")``
        """
        return CodeLocationAssetSelection(None if name is None else _require_str(name, "code location"))

    @classmethod
    def from_string(cls, text: str) -> AssetSelection:
        """Parse the selection language (current or legacy form); see :func:`parse_selection`.

        Example: ``AssetSelection.from_string("2+key:orders and not kind:csv")``
        """
        from kubeasset.selection.parser import parse_selection

        return parse_selection(text)

    @classmethod
    def from_coercible(cls, selection: CoercibleToAssetSelection) -> AssetSelection:
        """A string, a list of keys/clauses or an AssetSelection, as an AssetSelection."""
        from kubeasset.selection.coerce import coerce_selection

        return coerce_selection(selection)

    # -- combinators ----------------------------------------------------------------------------

    def upstream(self, depth: int | None = None, include_self: bool = True) -> UpstreamAssetSelection:
        """This selection plus its ancestors, ``depth`` layers up (all when None); ``include_self=False``
        drops this selection's own assets. String form: ``+X`` / ``2+X``.

        Example: ``AssetSelection.keys("orders").upstream(depth=1)``
        """
        return UpstreamAssetSelection(self, _depth(depth), _flag(include_self))

    def downstream(self, depth: int | None = None, include_self: bool = True) -> DownstreamAssetSelection:
        """This selection plus its descendants, ``depth`` layers down (all when None); ``include_self=False``
        drops this selection's own assets. String form: ``X+`` / ``X+2``.

        Example: ``AssetSelection.groups("raw").downstream()``
        """
        return DownstreamAssetSelection(self, _depth(depth), _flag(include_self))

    def roots(self) -> RootsAssetSelection:
        """The assets of this selection with no ancestor inside it (``roots(X)``)."""
        return RootsAssetSelection(self)

    def sinks(self) -> SinksAssetSelection:
        """The assets of this selection with no descendant inside it (``sinks(X)``)."""
        return SinksAssetSelection(self)

    def __or__(self, other: AssetSelection) -> OrAssetSelection:
        if not isinstance(other, AssetSelection):
            return NotImplemented
        return OrAssetSelection(_flatten(OrAssetSelection, (self, other)))

    def __and__(self, other: AssetSelection) -> AndAssetSelection:
        if not isinstance(other, AssetSelection):
            return NotImplemented
        return AndAssetSelection(_flatten(AndAssetSelection, (self, other)))

    def __sub__(self, other: AssetSelection) -> SubtractAssetSelection:
        if not isinstance(other, AssetSelection):
            return NotImplemented
        return SubtractAssetSelection(self, other)

    # -- evaluation and text --------------------------------------------------------------------

    def resolve(self, graph: AssetGraph) -> list[AssetKey]:
        """The selected keys of ``graph``, dependencies first (``graph.toposort``)."""
        context = EvaluationContext(graph)
        return context.keys(context.evaluate(self))

    @abstractmethod
    def _evaluate(self, context: EvaluationContext) -> KeySet: ...

    @abstractmethod
    def _text(self) -> tuple[int, str]:
        """The selection-language text of this node and how tightly it binds."""

    def to_selection_str(self) -> str:
        """This selection in the selection language; parsing it resolves to the same assets.

        Raises :class:`SelectionError` for a value the language cannot quote (one holding ``"``).
        """
        return self._text()[1]

    def __str__(self) -> str:
        return self.to_selection_str()


# -- leaves -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllSelection(AssetSelection):
    """Every asset: ``*``."""

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        return context.all_keys

    def _text(self) -> tuple[int, str]:
        return _TRAVERSAL, "*"


@dataclass(frozen=True)
class KeysAssetSelection(AssetSelection):
    """Exactly these keys; an unknown key is an error, not an empty match."""

    selected_keys: tuple[AssetKey, ...]

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        position = context.index.position
        missing = [key for key in self.selected_keys if key not in position]
        if missing:
            raise SelectionError(_unknown_keys_message(missing, context))
        return frozenset(position[key] for key in self.selected_keys)

    def _text(self) -> tuple[int, str]:
        return _any_of("key", [key.to_user_string() for key in self.selected_keys], empty='key:""')


@dataclass(frozen=True)
class KeyPrefixesAssetSelection(AssetSelection):
    """Assets whose key path starts with one of these part tuples."""

    selected_key_prefixes: tuple[tuple[str, ...], ...]

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        prefixes = set(self.selected_key_prefixes)
        lengths = {len(prefix) for prefix in prefixes}
        order = context.index.order
        return frozenset(i for i, key in enumerate(order) if any(key.path[:n] in prefixes for n in lengths))

    def _text(self) -> tuple[int, str]:
        patterns = []
        for prefix in self.selected_key_prefixes:
            joined = "/".join(prefix)
            patterns += [joined, f"{joined}/*"]
        return _any_of("key", patterns, empty='key:""')


@dataclass(frozen=True)
class KeyWildCardAssetSelection(AssetSelection):
    """``key:pattern``: the whole ``a/b`` key form matches the pattern, ``*`` matching any run of
    characters (``/`` included), as in Dagster. No match is an empty selection."""

    selected_key_wildcard: str

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        if "*" not in self.selected_key_wildcard:
            found = context.index.by_key_string.get(self.selected_key_wildcard)
            return EMPTY if found is None else frozenset((found,))
        return context.matching(wildcard_pattern(self.selected_key_wildcard))

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"key:{_quote(self.selected_key_wildcard)}"


@dataclass(frozen=True)
class GroupsAssetSelection(AssetSelection):
    """Assets in any of these groups."""

    selected_groups: tuple[str, ...]

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        by_group = context.index.by_group
        return EMPTY.union(*(by_group.get(group, EMPTY) for group in self.selected_groups))

    def _text(self) -> tuple[int, str]:
        return _any_of("group", self.selected_groups, empty="group:<null>")


@dataclass(frozen=True)
class GroupWildCardAssetSelection(AssetSelection):
    """``group:"sales_*"``: groups whose name matches the pattern (``*`` = any run of characters)."""

    selected_group_wildcard: str

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        pattern = wildcard_pattern(self.selected_group_wildcard)
        by_group = context.index.by_group
        return EMPTY.union(*(members for group, members in by_group.items() if pattern.fullmatch(group)))

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"group:{_quote(self.selected_group_wildcard)}"


@dataclass(frozen=True)
class TagAssetSelection(AssetSelection):
    """Assets whose tag ``key`` equals ``value`` exactly (``""``: a tag with an empty value)."""

    key: str
    value: str

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        return context.index.by_tag.get((self.key, self.value), EMPTY)

    def _text(self) -> tuple[int, str]:
        if self.value:
            return _ATOM, f"tag:{_quote(self.key)}={_quote(self.value)}"
        return _ATOM, f"tag:{_quote(self.key)}"


@dataclass(frozen=True)
class OwnerAssetSelection(AssetSelection):
    """Assets listing this owner; None: assets without owners (``owner:<null>``)."""

    selected_owner: str | None

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        if self.selected_owner is None:
            return context.where(lambda spec: not spec.owners)
        return context.index.by_owner.get(self.selected_owner, EMPTY)

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"owner:{_quote_or_null(self.selected_owner)}"


@dataclass(frozen=True)
class KindAssetSelection(AssetSelection):
    """Assets having this kind; None: assets without kinds (``kind:<null>``)."""

    selected_kind: str | None

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        if self.selected_kind is None:
            return context.where(lambda spec: not spec.kinds)
        return context.index.by_kind.get(self.selected_kind, EMPTY)

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"kind:{_quote_or_null(self.selected_kind)}"


@dataclass(frozen=True)
class CodeLocationAssetSelection(AssetSelection):
    """Every asset if the graph's ``code_location`` is this name (None: a graph without one)."""

    selected_code_location: str | None

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        if context.graph.code_location == self.selected_code_location:
            return context.all_keys
        return EMPTY

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"code_location:{_quote_or_null(self.selected_code_location)}"


# -- boolean operators --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrAssetSelection(AssetSelection):
    """The union of the operands (``a or b``, ``a | b``)."""

    operands: tuple[AssetSelection, ...]

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        return EMPTY.union(*(context.evaluate(operand) for operand in self.operands))

    def _text(self) -> tuple[int, str]:
        return _OR, " or ".join(_operand(operand, _AND) for operand in self.operands)


@dataclass(frozen=True)
class AndAssetSelection(AssetSelection):
    """The intersection of the operands (``a and b``, ``a & b``)."""

    operands: tuple[AssetSelection, ...]

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        result = context.all_keys
        for operand in self.operands:
            result = result & context.evaluate(operand)
        return result

    def _text(self) -> tuple[int, str]:
        return _AND, " and ".join(_operand(operand, _NOT) for operand in self.operands)


@dataclass(frozen=True)
class SubtractAssetSelection(AssetSelection):
    """``left - right``; ``not X`` is ``AssetSelection.all() - X``, as in Dagster."""

    left: AssetSelection
    right: AssetSelection

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        return context.evaluate(self.left) - context.evaluate(self.right)

    def _text(self) -> tuple[int, str]:
        negated = f"not {_operand(self.right, _NOT)}"
        if isinstance(self.left, AllSelection):
            return _NOT, negated
        return _AND, f"{_operand(self.left, _AND)} and {negated}"


# -- graph functions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamAssetSelection(AssetSelection):
    """``+X`` (all layers) or ``N+X``: the child and its ancestors up to ``depth`` layers."""

    child: AssetSelection
    depth: int | None
    include_self: bool

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        selected = context.evaluate(self.child)
        result = context.upstream(selected, self.depth)
        return result if self.include_self else result - selected

    def _text(self) -> tuple[int, str]:
        marker = "+" if self.depth is None else f"{self.depth}+"
        return _traversal_text(f"{marker}{_operand(self.child, _ATOM)}", self.child, self.include_self)


@dataclass(frozen=True)
class DownstreamAssetSelection(AssetSelection):
    """``X+`` (all layers) or ``X+N``: the child and its descendants down to ``depth`` layers."""

    child: AssetSelection
    depth: int | None
    include_self: bool

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        selected = context.evaluate(self.child)
        result = context.downstream(selected, self.depth)
        return result if self.include_self else result - selected

    def _text(self) -> tuple[int, str]:
        marker = "+" if self.depth is None else f"+{self.depth}"
        return _traversal_text(f"{_operand(self.child, _ATOM)}{marker}", self.child, self.include_self)


@dataclass(frozen=True)
class RootsAssetSelection(AssetSelection):
    """``roots(X)``: the assets of X with no ancestor (at any distance) inside X."""

    child: AssetSelection

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        return context.roots(context.evaluate(self.child))

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"roots({self.child._text()[1]})"


@dataclass(frozen=True)
class SinksAssetSelection(AssetSelection):
    """``sinks(X)``: the assets of X with no descendant (at any distance) inside X."""

    child: AssetSelection

    def _evaluate(self, context: EvaluationContext) -> KeySet:
        return context.sinks(context.evaluate(self.child))

    def _text(self) -> tuple[int, str]:
        return _ATOM, f"sinks({self.child._text()[1]})"


# -- helpers ------------------------------------------------------------------------------------


def wildcard_pattern(pattern: str) -> re.Pattern[str]:
    """Dagster's wildcard: ``*`` matches any run of characters, everything else is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


_Flattenable = type[OrAssetSelection] | type[AndAssetSelection]


def _flatten(kind: _Flattenable, operands: Iterable[AssetSelection]) -> tuple[AssetSelection, ...]:
    flat: list[AssetSelection] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return tuple(flat)


def _operand(node: AssetSelection, loosest: int) -> str:
    level, text = node._text()
    return f"({text})" if level > loosest else text


def _traversal_text(base: str, child: AssetSelection, include_self: bool) -> tuple[int, str]:
    if include_self:
        return _TRAVERSAL, base
    return _AND, f"{base} and not {_operand(child, _NOT)}"


def _any_of(attribute: str, values: Sequence[str], *, empty: str) -> tuple[int, str]:
    if not values:
        return _ATOM, empty
    text = " or ".join(f"{attribute}:{_quote(value)}" for value in values)
    return (_ATOM if len(values) == 1 else _OR), text


def _quote(value: str) -> str:
    if '"' in value or "\\" in value or "\n" in value or "\r" in value:
        raise SelectionError(
            f"the value {value!r} cannot be written in the selection language, which has no escapes "
            "for quotes, backslashes or line breaks"
        )
    return f'"{value}"'


def _quote_or_null(value: str | None) -> str:
    return "<null>" if value is None else _quote(value)


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise SelectionError(f"a {what} must be a str, got {type(value).__name__}: {value!r}")
    return value


def _depth(depth: int | None) -> int | None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise SelectionError(f"depth must be None (all layers) or an int >= 0, got {depth!r}")
    return depth


def _flag(include_self: bool) -> bool:
    if not isinstance(include_self, bool):
        raise SelectionError(f"include_self must be a bool, got {include_self!r}")
    return include_self


#: How many unknown keys an error message names.
_LISTED_UNKNOWN = 10


def _unknown_keys_message(missing: Sequence[AssetKey], context: EvaluationContext) -> str:
    known = context.index.key_strings
    parts = []
    for number, key in enumerate(missing[:_LISTED_UNKNOWN]):
        text = key.to_user_string()
        # Suggestions scan every key; a few are enough to spot a typo, as in Dagster.
        close = difflib.get_close_matches(text, known, n=3) if number < 4 else []
        hint = f" (did you mean {', '.join(repr(name) for name in close)}?)" if close else ""
        parts.append(f"{text!r}{hint}")
    where = f"code location {context.graph.code_location!r}" if context.graph.code_location else "the graph"
    noun = "asset" if len(missing) == 1 else "assets"
    if len(missing) > _LISTED_UNKNOWN:  # a long selection of unknown keys must not give a long message
        parts.append(f"and {len(missing) - _LISTED_UNKNOWN} more")
    return f"the selection names {noun} {', '.join(parts)}, which {where} does not define"
