"""JSON merge patches (RFC 7386) computed from what an object holds and what it should hold: the controller
writes only the fields that differ, with ``null`` for the ones to remove, so a status or spec write never
carries unchanged data and never clobbers fields another writer owns (an AssetJob's ``lastRun``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_patch(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch turning ``current`` into ``desired`` ({} when they are equal).

    Lists are replaced whole (that is what a merge patch can express); keys absent from ``desired``
    are removed with ``None``.

    Example: ``merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": 3}}) == {"a": None, "b": {"c": 3}}``.
    """
    current = current or {}
    patch: dict[str, Any] = {}
    for key in current.keys() - desired.keys():
        patch[key] = None
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif key not in current or old != value:
            patch[key] = value
    return patch
