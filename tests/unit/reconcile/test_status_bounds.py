"""status_bounds: what of a run's results fits its status and the catalog, whatever the run reports."""

from __future__ import annotations

import json

import pytest

from kubeasset.api.types import MAX_MESSAGE_LENGTH, MAX_METADATA_ENTRIES, MAX_SHORT_STRING
from kubeasset.reconcile.status_bounds import (
    CATALOG_METADATA_BYTES,
    OMITTED_METADATA_KEY,
    AssetStatusBudget,
    bound_metadata,
    cut_message,
    short_string,
)


@pytest.mark.parametrize("entries", [1, 10, 127, 128, 129, 400])
@pytest.mark.parametrize("size", [0, 100, 20_000])
@pytest.mark.parametrize("budget", [40, 500, 16_384, CATALOG_METADATA_BYTES])
def test_bounded_metadata_never_exceeds_its_limits(entries: int, size: int, budget: int) -> None:
    metadata = {f"entry_{index}": {"type": "text", "value": "x" * size} for index in range(entries)}
    bounded = bound_metadata(metadata, budget)
    if bounded is None:
        assert budget < 100  # only when not even the "entries omitted" note fits
        return
    assert len(json.dumps(bounded, separators=(",", ":"))) <= budget
    assert len(bounded) <= MAX_METADATA_ENTRIES
    kept = [name for name in bounded if name != OMITTED_METADATA_KEY]
    if len(kept) < entries:
        assert bounded[OMITTED_METADATA_KEY]["value"].startswith(f"{entries - len(kept)} of {entries}")
    else:
        assert OMITTED_METADATA_KEY not in bounded


def test_metadata_a_status_cannot_hold_is_left_out() -> None:
    metadata = {
        "ok": {"type": "int", "value": 1},
        "bad": {"type": "Not A Type", "value": 2},
        "k" * 300: {"type": "int"},
    }
    assert bound_metadata(metadata, 10_000) == {
        "ok": {"type": "int", "value": 1},
        OMITTED_METADATA_KEY: {"type": "text", "value": "2 of 3 entries omitted (size limit)"},
    }


def test_metadata_that_fits_is_kept_as_it_is() -> None:
    metadata = {"dagster/row_count": {"type": "int", "value": 120}, "ratio": {"type": "float", "value": "NaN"}}
    assert bound_metadata(metadata, 1000) == metadata
    assert bound_metadata({}, 1000) is None


def test_the_budget_of_an_asset_shrinks_with_the_run() -> None:
    small, medium, large = (AssetStatusBudget.for_run(n) for n in (3, 500, 5000))
    assert (small.metadata_bytes, small.message_chars, small.times) == (16 * 1024, MAX_MESSAGE_LENGTH, True)
    assert (medium.metadata_bytes, medium.message_chars, medium.times) == (524, 524, True)
    assert (large.message_chars, large.times) == (64, False)


def test_long_versions_become_distinct_hashes() -> None:
    assert short_string("1.4.2") == "1.4.2"
    first, second = short_string("a" * 300), short_string("a" * 299 + "b")
    assert first != second
    assert first is not None and len(first) <= MAX_SHORT_STRING and first.startswith("sha256:")


def test_cut_messages_say_so() -> None:
    assert cut_message("short", 10) == "short"
    assert cut_message("x" * 20, 10) == "x" * 9 + "…"
