"""Metadata values: constructors, inference from plain values, the one JSON form, and errors."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

import pytest

from kubeasset import AssetKey, MaterializeResult, MetadataValue
from kubeasset.errors import InvalidMetadataError
from kubeasset.sdk.metadata import (
    ROW_COUNT_METADATA_KEY,
    metadata_from_json,
    metadata_to_json,
    normalize_metadata,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MetadataValue.text("hello"), {"type": "text", "value": "hello"}),
        (MetadataValue.int(42), {"type": "int", "value": 42}),
        (MetadataValue.float(0.5), {"type": "float", "value": 0.5}),
        (MetadataValue.bool(True), {"type": "bool", "value": True}),
        (MetadataValue.json({"a": [1, 2]}), {"type": "json", "value": {"a": [1, 2]}}),
        (MetadataValue.url("https://example.com/x"), {"type": "url", "value": "https://example.com/x"}),
        (MetadataValue.path(PurePosixPath("/data/x.parquet")), {"type": "path", "value": "/data/x.parquet"}),
        (MetadataValue.md("# Title"), {"type": "md", "value": "# Title"}),
        (
            MetadataValue.timestamp(datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
            {"type": "timestamp", "value": "2024-05-01T12:00:00.250000Z"},
        ),
        (MetadataValue.timestamp(0), {"type": "timestamp", "value": "1970-01-01T00:00:00Z"}),
        (MetadataValue.duration(12.5), {"type": "duration", "value": 12.5}),
        (MetadataValue.duration(timedelta(minutes=2)), {"type": "duration", "value": 120.0}),
        (MetadataValue.asset(AssetKey(["w", "orders"])), {"type": "asset", "value": "w/orders"}),
        (MetadataValue.null(), {"type": "null", "value": None}),
    ],
)
def test_constructors_have_one_json_form(value: MetadataValue, expected: dict[str, object]) -> None:
    assert value.to_json() == expected
    assert MetadataValue.from_json(json.loads(json.dumps(value.to_json()))) == value


def test_plain_values_are_typed_like_dagster() -> None:
    metadata = normalize_metadata(
        {
            "flag": True,
            "count": 3,
            "ratio": 0.25,
            "note": "text",
            "columns": ["id", "total"],
            "schema": {"id": "int"},
            "when": datetime(2024, 1, 2, tzinfo=UTC),
            "took": timedelta(seconds=1.5),
            "file": PurePosixPath("/tmp/x"),
            "source": AssetKey("raw"),
            "nothing": None,
        },
        owner="test",
    )
    assert {key: value.type for key, value in metadata.items()} == {
        "flag": "bool",
        "count": "int",
        "ratio": "float",
        "note": "text",
        "columns": "json",
        "schema": "json",
        "when": "timestamp",
        "took": "duration",
        "file": "path",
        "source": "asset",
        "nothing": "null",
    }


def test_non_finite_floats_survive_strict_json() -> None:
    metadata = normalize_metadata({"nan": math.nan, "inf": math.inf, "ninf": -math.inf}, owner="test")
    encoded = json.dumps(metadata_to_json(metadata), allow_nan=False)
    decoded = metadata_from_json(json.loads(encoded))
    assert math.isnan(decoded["nan"].value)
    assert decoded["inf"].value == math.inf and decoded["ninf"].value == -math.inf


def test_row_count_uses_dagsters_key_and_must_be_an_int() -> None:
    assert ROW_COUNT_METADATA_KEY == "dagster/row_count"
    result = MaterializeResult(value=[1, 2], metadata={"dagster/row_count": 2})
    assert result.metadata["dagster/row_count"] == MetadataValue.int(2)
    with pytest.raises(InvalidMetadataError, match="dagster/row_count"):
        MaterializeResult(metadata={"dagster/row_count": 2.5})


def test_json_value_is_copied() -> None:
    data = {"a": [1]}
    value = MetadataValue.json(data)
    data["a"].append(2)
    assert value.value == {"a": [1]}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MetadataValue.int(True), "needs an int"),
        (lambda: MetadataValue.int("3"), "needs an int"),  # type: ignore[arg-type]
        (lambda: MetadataValue.float("x"), "needs a number"),  # type: ignore[arg-type]
        (lambda: MetadataValue.text(3), "needs a str"),  # type: ignore[arg-type]
        (lambda: MetadataValue.json({"x": object()}), "not JSON-serializable"),
        (lambda: MetadataValue.json("[]"), "needs a dict or a list"),  # type: ignore[arg-type]
        (lambda: MetadataValue.duration("1s"), "needs seconds"),  # type: ignore[arg-type]
        (lambda: MetadataValue("weird", 1), "unknown metadata type 'weird'"),
        (lambda: normalize_metadata({"": 1}, owner="o"), "non-empty string"),
        (lambda: normalize_metadata({"x": {1, 2}}, owner="o"), "cannot use a set"),
        (lambda: normalize_metadata([("x", 1)], owner="o"), "must be a dict"),  # type: ignore[arg-type]
    ],
)
def test_invalid_metadata_is_refused(build: object, message: str) -> None:
    with pytest.raises(InvalidMetadataError, match=message):
        build()  # type: ignore[operator]


def test_materialize_result_without_value_stores_nothing() -> None:
    assert not MaterializeResult(metadata={"a": 1}).has_value
    assert MaterializeResult(value=None).has_value
