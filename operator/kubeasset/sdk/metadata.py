"""Typed metadata values and their one JSON form, shared by events, the run summary and the CRD status.

Every metadata entry, wherever it travels, is the JSON object ``{"type": <type>, "value": <value>}``:

========== ============================================== ===========================================
type       value in JSON                                  made by
========== ============================================== ===========================================
text       string                                         ``MetadataValue.text`` / a ``str``
int        integer                                        ``MetadataValue.int`` / an ``int``
float      number, or "NaN" / "Infinity" / "-Infinity"    ``MetadataValue.float`` / a ``float``
bool       true / false                                   ``MetadataValue.bool`` / a ``bool``
json       any JSON object or array                       ``MetadataValue.json`` / a ``dict``/``list``
url        string                                         ``MetadataValue.url``
path       string                                         ``MetadataValue.path`` / an ``os.PathLike``
md         string (Markdown)                              ``MetadataValue.md``
timestamp  RFC 3339 string in UTC ("2024-05-01T12:00:00Z") ``MetadataValue.timestamp`` / a ``datetime``
duration   number of seconds (float)                      ``MetadataValue.duration`` / a ``timedelta``
asset      asset key string ("warehouse/orders")          ``MetadataValue.asset`` / an ``AssetKey``
null       null                                           ``MetadataValue.null`` / ``None``
========== ============================================== ===========================================

Row counts follow Dagster's convention: an ``int`` under the key :data:`ROW_COUNT_METADATA_KEY`
(``"dagster/row_count"``), so that code written for Dagster reports row counts unchanged.
"""

from __future__ import annotations

import builtins
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from kubeasset.errors import InvalidMetadataError
from kubeasset.graph import AssetKey

#: Dagster's key for the number of rows of a materialized table (``TableMetadataSet.row_count``).
ROW_COUNT_METADATA_KEY: Final = "dagster/row_count"

#: Every metadata type, in the order of the table in this module's docstring.
METADATA_TYPES: Final = (
    "text",
    "int",
    "float",
    "bool",
    "json",
    "url",
    "path",
    "md",
    "timestamp",
    "duration",
    "asset",
    "null",
)

#: Longest metadata key: keys end up in the CRD status and in ``kubectl describe`` output.
MAX_METADATA_KEY_LENGTH: Final = 256

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass(frozen=True)
class MetadataValue:
    """One typed metadata value; build it with the static constructors, as in Dagster.

    Example::

        MaterializeResult(value=df, metadata={
            "dagster/row_count": len(df),                       # plain values are typed automatically
            "dashboard": MetadataValue.url("https://grafana.example.com/d/orders"),
            "preview": MetadataValue.md(df.head().to_markdown()),
            "load_time": MetadataValue.duration(12.5),          # seconds
        })
    """

    type: str
    value: Any

    def __post_init__(self) -> None:
        if self.type not in METADATA_TYPES:
            raise InvalidMetadataError(
                f"unknown metadata type {self.type!r}; use one of {', '.join(METADATA_TYPES)}"
            )

    # The constructors carry Dagster's names, so ``int``/``float``/``bool`` shadow the builtins inside
    # this class body: annotations below spell them ``builtins.int`` etc.

    @staticmethod
    def text(text: str) -> MetadataValue:
        """Plain text: ``MetadataValue.text("nightly load")``."""
        return MetadataValue("text", _require(text, str, "text"))

    @staticmethod
    def int(value: builtins.int) -> MetadataValue:
        """An integer: ``MetadataValue.int(42)``."""
        if isinstance(value, builtins.bool) or not isinstance(value, builtins.int):
            raise InvalidMetadataError(f"MetadataValue.int needs an int, got {type(value).__name__}")
        return MetadataValue("int", value)

    @staticmethod
    def float(value: builtins.float) -> MetadataValue:
        """A float (NaN and infinities allowed): ``MetadataValue.float(0.97)``."""
        if isinstance(value, builtins.bool) or not isinstance(value, builtins.int | builtins.float):
            raise InvalidMetadataError(f"MetadataValue.float needs a number, got {type(value).__name__}")
        return MetadataValue("float", builtins.float(value))

    @staticmethod
    def bool(value: builtins.bool) -> MetadataValue:
        """A boolean: ``MetadataValue.bool(len(df) > 1000)``."""
        return MetadataValue("bool", _require(value, builtins.bool, "bool"))

    @staticmethod
    def json(data: Mapping[str, Any] | list[Any] | tuple[Any, ...]) -> MetadataValue:
        """A JSON object or array: ``MetadataValue.json({"columns": ["id", "total"]})``."""
        if not isinstance(data, Mapping | list | tuple):
            raise InvalidMetadataError(
                f"MetadataValue.json needs a dict or a list, got {type(data).__name__}"
            )
        try:
            # A round trip both validates and copies: later mutation of the caller's dict changes nothing.
            normalized = json.loads(json.dumps(data, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise InvalidMetadataError(
                f"MetadataValue.json value is not JSON-serializable: {error}"
            ) from error
        return MetadataValue("json", normalized)

    @staticmethod
    def url(url: str) -> MetadataValue:
        """A link: ``MetadataValue.url("https://example.com/report")``."""
        return MetadataValue("url", _require(url, str, "url"))

    @staticmethod
    def path(path: str | os.PathLike[str]) -> MetadataValue:
        """A filesystem path or storage URL: ``MetadataValue.path("s3://bucket/orders.parquet")``."""
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        return MetadataValue("path", _require(path, str, "path"))

    @staticmethod
    def md(markdown: str) -> MetadataValue:
        """Markdown text: ``MetadataValue.md("| a | b |\\n|---|---|\\n| 1 | 2 |")``."""
        return MetadataValue("md", _require(markdown, str, "md"))

    @staticmethod
    def timestamp(value: datetime | builtins.float) -> MetadataValue:
        """A point in time (a datetime, or seconds since the epoch as in Dagster); naive means UTC."""
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, builtins.int | builtins.float) and not isinstance(value, builtins.bool):
            moment = datetime.fromtimestamp(value, tz=UTC)
        else:
            raise InvalidMetadataError(
                f"MetadataValue.timestamp needs a datetime or epoch seconds, got {type(value).__name__}"
            )
        return MetadataValue("timestamp", format_timestamp(moment))

    @staticmethod
    def duration(seconds: builtins.float | timedelta) -> MetadataValue:
        """A duration in seconds (or a timedelta): ``MetadataValue.duration(12.5)``."""
        if isinstance(seconds, timedelta):
            return MetadataValue("duration", seconds.total_seconds())
        if isinstance(seconds, builtins.bool) or not isinstance(seconds, builtins.int | builtins.float):
            raise InvalidMetadataError(
                f"MetadataValue.duration needs seconds or a timedelta, got {type(seconds).__name__}"
            )
        return MetadataValue("duration", builtins.float(seconds))

    @staticmethod
    def asset(key: AssetKey | str) -> MetadataValue:
        """A reference to another asset: ``MetadataValue.asset("warehouse/orders")``."""
        return MetadataValue("asset", AssetKey.coerce(key).to_user_string())

    @staticmethod
    def null() -> MetadataValue:
        """An explicit empty value: ``MetadataValue.null()``."""
        return MetadataValue("null", None)

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a metadata entry: ``{"type": ..., "value": ...}``."""
        value = self.value
        if self.type in ("float", "duration") and not math.isfinite(value):
            value = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return {"type": self.type, "value": value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetadataValue:
        """Inverse of :meth:`to_json`, for readers of events and summaries."""
        kind, value = data.get("type"), data.get("value")
        if not isinstance(kind, str):
            raise InvalidMetadataError(f"metadata entry {data!r} has no string 'type'")
        if kind in ("float", "duration") and isinstance(value, str):
            if value not in _NON_FINITE:
                raise InvalidMetadataError(f"metadata {kind} value {value!r} is not a number")
            value = _NON_FINITE[value]
        return cls(kind, value)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a 'Z' suffix; microseconds when not zero, like Kubernetes' MicroTime."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def to_metadata_value(value: Any) -> MetadataValue:
    """Type a plain Python value the way Dagster infers metadata types (MetadataValue passes through)."""
    if isinstance(value, MetadataValue):
        return value
    if value is None:
        return MetadataValue.null()
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    if isinstance(value, str):
        return MetadataValue.text(value)
    if isinstance(value, Mapping | list | tuple):
        return MetadataValue.json(value)
    if isinstance(value, datetime):
        return MetadataValue.timestamp(value)
    if isinstance(value, timedelta):
        return MetadataValue.duration(value)
    if isinstance(value, os.PathLike):
        return MetadataValue.path(value)
    if isinstance(value, AssetKey):
        return MetadataValue.asset(value)
    raise InvalidMetadataError(
        f"cannot use a {type(value).__name__} as a metadata value; use a number, str, bool, dict, list, "
        "datetime, timedelta, path or a MetadataValue.* constructor"
    )


def normalize_metadata(metadata: Mapping[str, Any] | None, *, owner: str) -> Mapping[str, MetadataValue]:
    """Validate keys and type every value; ``owner`` (e.g. ``"asset orders"``) prefixes error messages."""
    if metadata is None:
        return MappingProxyType({})
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"{owner}: metadata must be a dict, got {type(metadata).__name__}")
    normalized: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidMetadataError(
                f"{owner}: metadata key {key!r} must be a non-empty string of at most "
                f"{MAX_METADATA_KEY_LENGTH} characters"
            )
        try:
            typed = to_metadata_value(value)
        except InvalidMetadataError as error:
            raise InvalidMetadataError(f"{owner}: metadata {key!r}: {error}") from error
        if key == ROW_COUNT_METADATA_KEY and typed.type != "int":
            raise InvalidMetadataError(
                f"{owner}: metadata {ROW_COUNT_METADATA_KEY!r} must be an int (a row count), got {typed.type}"
            )
        normalized[key] = typed
    return MappingProxyType(normalized)


def metadata_to_json(metadata: Mapping[str, MetadataValue]) -> dict[str, dict[str, Any]]:
    """A whole metadata mapping in its JSON form, keys in insertion order."""
    return {key: value.to_json() for key, value in metadata.items()}


def metadata_from_json(data: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Inverse of :func:`metadata_to_json`."""
    return {key: MetadataValue.from_json(entry) for key, entry in data.items()}


def _require(value: Any, kind: type, constructor: str) -> Any:
    if not isinstance(value, kind):
        raise InvalidMetadataError(
            f"MetadataValue.{constructor} needs a {kind.__name__}, got {type(value).__name__}"
        )
    return value
