"""Asset keys: the identity of an asset, a path of one or more name parts such as ``warehouse/orders``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kubeasset.errors import InvalidAssetKeyError

#: One part of a key. Parts reach Pod arguments, label values and object names, so they are kept to
#: characters that are safe in all of them (no '/', '.', spaces or shell metacharacters).
KEY_PART_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
_KEY_PART_RE = re.compile(rf"^{KEY_PART_PATTERN}$")
#: The longest key path; deeper hierarchies are better expressed with groups and tags.
MAX_KEY_PARTS = 8
#: The separator of the user string form of a key, as Dagster writes it in its selection syntax.
KEY_SEPARATOR = "/"


@dataclass(frozen=True, order=True, slots=True)
class AssetKey:
    """The key of an asset: ``AssetKey("orders")`` or ``AssetKey(["warehouse", "orders"])``.

    Example::

        >>> AssetKey(["warehouse", "orders"]).to_user_string()
        'warehouse/orders'
        >>> AssetKey.from_user_string("warehouse/orders").path
        ('warehouse', 'orders')
    """

    path: tuple[str, ...]

    def __init__(self, path: str | Sequence[str]) -> None:
        parts = (path,) if isinstance(path, str) else tuple(path)
        if not parts:
            raise InvalidAssetKeyError("an asset key needs at least one part")
        if len(parts) > MAX_KEY_PARTS:
            raise InvalidAssetKeyError(
                f"asset key {_shown(KEY_SEPARATOR.join(map(str, parts)))} has {len(parts)} parts; "
                f"at most {MAX_KEY_PARTS} are allowed"
            )
        for part in parts:
            if not isinstance(part, str) or not _KEY_PART_RE.match(part):
                raise InvalidAssetKeyError(
                    f"invalid asset key part {_shown(part)}: use 1-63 letters, digits, '_' or '-', "
                    "not starting with '-'"
                )
        object.__setattr__(self, "path", parts)

    @classmethod
    def from_user_string(cls, text: str) -> AssetKey:
        """Parse ``"warehouse/orders"`` into ``AssetKey(["warehouse", "orders"])``."""
        return cls(text.split(KEY_SEPARATOR))

    @classmethod
    def coerce(cls, value: CoercibleToAssetKey) -> AssetKey:
        """Accept an AssetKey, a ``"a/b"`` string or a sequence of parts."""
        if isinstance(value, AssetKey):
            return value
        if isinstance(value, str):
            return cls.from_user_string(value)
        return cls(value)

    def to_user_string(self) -> str:
        return KEY_SEPARATOR.join(self.path)

    def with_prefix(self, prefix: str | Sequence[str]) -> AssetKey:
        parts = (prefix,) if isinstance(prefix, str) else tuple(prefix)
        return AssetKey(parts + self.path)

    def __str__(self) -> str:
        return self.to_user_string()

    def __repr__(self) -> str:
        return f"AssetKey({list(self.path)!r})"


CoercibleToAssetKey = AssetKey | str | Sequence[str]


def parse_key(text: str, parsed: dict[str, AssetKey]) -> AssetKey:
    """``AssetKey.from_user_string(text)``, parsed once per ``parsed`` (the keys of one graph): a key that
    many assets depend on is then one object, not one per dependency.

    Example: ``keys = {}; parse_key("raw/orders", keys) is parse_key("raw/orders", keys)``.
    """
    key = parsed.get(text)
    if key is None:
        key = parsed[text] = AssetKey.from_user_string(text)
    return key


def _shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a 10 KB key must not make a 10 KB message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"
