"""The attribute filters of the selection language (``key:``, ``tag:`` ...): which ones kubeasset
evaluates, which ones Dagster has but kubeasset refuses (and why), and how a parsed filter becomes a
selection node."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kubeasset.selection.expressions import (
    AssetSelection,
    CodeLocationAssetSelection,
    GroupsAssetSelection,
    GroupWildCardAssetSelection,
    KeyWildCardAssetSelection,
    KindAssetSelection,
    OwnerAssetSelection,
    TagAssetSelection,
)
from kubeasset.selection.syntax_errors import selection_error, syntax_error

#: The filters kubeasset evaluates against an AssetGraph, in the order messages list them.
SUPPORTED_FILTERS: tuple[str, ...] = ("key", "tag", "owner", "group", "kind", "code_location")

#: Filters of Dagster's grammar that need data an AssetGraph does not hold, with the reason given to
#: the user. They parse, so the error can say exactly this instead of "unknown filter".
UNSUPPORTED_FILTERS: Mapping[str, str] = MappingProxyType(
    {
        "status": "it filters on materialization status, which lives in the asset catalog, not in the graph",
        "column": "it needs table-schema column metadata, which kubeasset does not record",
        "table_name": "it needs table-name metadata, which kubeasset does not record",
        "column_tag": "it needs column-level tags, which kubeasset does not record",
        "changed_in_branch": "it needs Dagster+ branch deployments",
        "is": "it filters on Dagster asset properties (external, materializable ...) not modelled here",
        "partitions": "kubeasset assets are not partitioned",
        "automation_type": "kubeasset has no declarative automation conditions",
        "sensor": "which AssetSensor watches an asset is cluster state, not part of the asset graph",
        "schedule": "which AssetSchedule runs an asset is cluster state, not part of the asset graph",
        "job": "which AssetJob selects an asset is cluster state, not part of the asset graph",
        "not_materialized_in_hours": "it needs materialization history from the asset catalog",
    }
)

#: Filters whose unquoted value may hold '*' wildcards.
_WILDCARD_FILTERS = ("key", "group")


@dataclass(frozen=True)
class Value:
    """A filter value as written: its text (None for ``<null>``), whether it was quoted, where it is."""

    text: str | None
    quoted: bool
    position: int


def build_filter(
    source: str, name: str, name_position: int, value: Value, tag_value: Value | None, equal_position: int
) -> AssetSelection:
    """The selection node for ``name:value`` (``tag_value`` is the part after ``=``, if any)."""
    if name in UNSUPPORTED_FILTERS:
        raise selection_error(
            source,
            name_position,
            f"the {name}: filter is Dagster's, but kubeasset does not support it: "
            f"{UNSUPPORTED_FILTERS[name]}. kubeasset filters on {_listing()}",
        )
    if name not in SUPPORTED_FILTERS:
        raise syntax_error(
            source,
            name_position,
            f"unknown filter '{name}:'{_did_you_mean(name)}; expected one of {_listing()}",
        )
    if tag_value is not None and name != "tag":
        raise syntax_error(source, equal_position, f"'=' only follows a tag key (tag:key=value), not {name}:")
    if name not in _WILDCARD_FILTERS:
        for part in (value, tag_value):
            if part is not None and part.text is not None and "*" in part.text and not part.quoted:
                message = f"'*' is a wildcard only in key: and group: values; quote the {name}: value"
                raise syntax_error(source, part.position, message + " to match a literal '*'")
    text = value.text
    if name == "key":
        if text is None:
            raise syntax_error(source, value.position, "key: needs an asset key or a pattern, not <null>")
        return KeyWildCardAssetSelection(text)
    if name == "tag":
        if text is None:
            raise syntax_error(source, value.position, "tag: needs a tag key, not <null>")
        # As in Dagster, a missing or <null> value means the empty value: tag:pii selects "pii": "".
        return TagAssetSelection(text, (tag_value.text if tag_value is not None else None) or "")
    if name == "group":
        if text is None:
            return GroupsAssetSelection(())
        return GroupWildCardAssetSelection(text) if "*" in text else GroupsAssetSelection((text,))
    if name == "owner":
        return OwnerAssetSelection(text)
    if name == "kind":
        return KindAssetSelection(text)
    return CodeLocationAssetSelection(text)


def _listing() -> str:
    return ", ".join(f"{name}:" for name in SUPPORTED_FILTERS)


def _did_you_mean(name: str) -> str:
    known = [*SUPPORTED_FILTERS, *UNSUPPORTED_FILTERS]
    close = difflib.get_close_matches(name.lower(), known, n=1)
    return f" (did you mean '{close[0]}:'?)" if close else ""
