"""How much of a run's results fits in its AssetRun status and in the Asset catalog: the size budgets,
and the functions that cut metadata, messages and version strings to them.

An AssetRun, status and managedFields included, must stay under etcd's 1.5 MiB however many assets
the run has (up to kubeasset.api.types.MAX_ASSETS = 5,000), and every value must fit its schema bound
(MAX_METADATA_ENTRIES, MAX_MESSAGE_LENGTH, ShortString). Each asset of a run gets an equal share,
computed from the asset count alone so that an asset's entry never changes as others finish:

* metadata: STATUS_METADATA_BYTES across the run (at most MAX_ASSET_METADATA_BYTES and
  MAX_METADATA_ENTRIES per asset), with a ``kubeasset/omitted`` entry counting what was left out;
* messages: STATUS_MESSAGE_CHARS across the run (between MIN_ASSET_MESSAGE_CHARS and
  MAX_MESSAGE_LENGTH per asset), cut with "…";
* beyond DETAILED_ASSETS_LIMIT assets, entries keep ``durationSeconds`` but not ``startTime`` /
  ``endTime``.

500 assets get about 500 bytes of metadata and messages each; 5,000 failed assets with long errors
take about 0.8 MB. The Asset catalog objects keep the full metadata (up to CATALOG_METADATA_BYTES) and
error messages.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubeasset.api.types import (
    MAX_MESSAGE_LENGTH,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_LENGTH,
    MAX_SHORT_STRING,
    METADATA_TYPE_PATTERN,
)

#: Metadata bytes (JSON) the run's status may hold across all its assets, and one asset's most.
STATUS_METADATA_BYTES: Final = 256 * 1024
MAX_ASSET_METADATA_BYTES: Final = 16 * 1024
#: Message characters the run's status may hold across its assets, and the floor of one asset's share.
STATUS_MESSAGE_CHARS: Final = 256 * 1024
MIN_ASSET_MESSAGE_CHARS: Final = 64
#: Runs with more assets than this leave out each asset's start and end time (durations stay).
DETAILED_ASSETS_LIMIT: Final = 1000
#: Metadata bytes one Asset catalog object may hold for its last materialization.
CATALOG_METADATA_BYTES: Final = 256 * 1024
#: The entry that says metadata was left out.
OMITTED_METADATA_KEY: Final = "kubeasset/omitted"
_METADATA_TYPE_RE: Final = re.compile(METADATA_TYPE_PATTERN)


@dataclass(frozen=True)
class AssetStatusBudget:
    """One asset's share of its run's status: ``AssetStatusBudget.for_run(500).metadata_bytes == 524``."""

    metadata_bytes: int
    message_chars: int
    times: bool

    @classmethod
    def for_run(cls, asset_count: int) -> AssetStatusBudget:
        count = max(1, asset_count)
        return cls(
            metadata_bytes=min(MAX_ASSET_METADATA_BYTES, STATUS_METADATA_BYTES // count),
            message_chars=min(MAX_MESSAGE_LENGTH, max(MIN_ASSET_MESSAGE_CHARS, STATUS_MESSAGE_CHARS // count)),
            times=count <= DETAILED_ASSETS_LIMIT,
        )


def bound_metadata(metadata: Mapping[str, Any], max_bytes: int) -> dict[str, Any] | None:
    """``metadata`` (JSON form, ``name -> {"type", "value"}``) cut to at most ``max_bytes`` of JSON and
    MAX_METADATA_ENTRIES entries; what is left out is counted in a ``kubeasset/omitted`` entry (within
    the bound; when not even that fits, nothing is kept). Entries are kept in order, each one if it fits,
    so small entries (row counts) survive a large one (a Markdown preview)."""
    if not metadata:
        return None
    entries = [(key, entry, _entry_size(key, entry), _valid_entry(key, entry)) for key, entry in metadata.items()]
    if (
        all(valid for *_, valid in entries)
        and len(entries) <= MAX_METADATA_ENTRIES
        and 2 + sum(size for _, _, size, _ in entries) <= max_bytes
    ):
        return {key: dict(entry) for key, entry, _, _ in entries}
    kept: dict[str, Any] = {}
    used = 2 + len(_note_entry(len(entries), len(entries)))  # braces, and room for the note
    for key, entry, size, valid in entries:
        if valid and len(kept) < MAX_METADATA_ENTRIES - 1 and used + size <= max_bytes:
            kept[key] = dict(entry)
            used += size
    if used > max_bytes:  # not even the note fits
        return None
    kept[OMITTED_METADATA_KEY] = {"type": "text", "value": _note_text(len(entries) - len(kept), len(entries))}
    return kept


def short_string(value: str | None) -> str | None:
    """A version string that fits a ShortString (256): longer ones become ``sha256:<64 hex>`` (distinct
    values stay distinct, which is all a version is compared for)."""
    if value is None or len(value) <= MAX_SHORT_STRING:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def cut_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """``text`` cut to ``limit`` characters, ending with "…" when cut (the start says what went wrong)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _entry_size(key: str, entry: Any) -> int:
    # "key":{...}, -- the JSON a status write sends (ASCII-escaped, so characters == bytes).
    return len(json.dumps(key)) + 1 + len(json.dumps(entry, separators=(",", ":"))) + 1


def _valid_entry(key: str, entry: Any) -> bool:
    return (
        len(key) <= MAX_METADATA_KEY_LENGTH
        and isinstance(entry, Mapping)
        and isinstance(entry.get("type"), str)
        and _METADATA_TYPE_RE.match(entry["type"]) is not None
    )


def _note_text(omitted: int, total: int) -> str:
    return f"{omitted} of {total} entries omitted (size limit)"


def _note_entry(omitted: int, total: int) -> str:
    return json.dumps({OMITTED_METADATA_KEY: {"type": "text", "value": _note_text(omitted, total)}})
