"""Execution events: what the executor reports live while it runs assets, and their JSON form.

The same events reach ``materialize(on_event=...)`` callbacks in-process and, one JSON line each, the
controller through the runner's stdout (docs/runner-events.md documents the JSON). Field names in JSON
are camelCase, times are RFC 3339 UTC, durations are float seconds, keys are ``"a/b"`` strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, TypeAlias

from kubeasset.errors import DefinitionError, ProtocolError
from kubeasset.graph import AssetKey
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.metadata import MetadataValue, format_timestamp, metadata_from_json, metadata_to_json

#: Durations beyond this (about 30 years) are refused: no run takes that long, and times computed from
#: them would overflow.
_MAX_DURATION_SECONDS: Final = 1e9


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunStarted:
    """The run begins; ``asset_keys`` are the assets it will run, in execution (topological) order."""

    TYPE: ClassVar[str] = "RunStarted"
    run_name: str
    asset_keys: tuple[AssetKey, ...]
    timestamp: datetime = field(default_factory=utc_now)

    def _fields(self) -> dict[str, Any]:
        return {"assets": [key.to_user_string() for key in self.asset_keys]}


@dataclass(frozen=True)
class AssetStarted:
    """One asset begins: its inputs are loaded next, then its function runs."""

    TYPE: ClassVar[str] = "AssetStarted"
    run_name: str
    asset_key: AssetKey
    timestamp: datetime = field(default_factory=utc_now)

    def _fields(self) -> dict[str, Any]:
        return {"key": self.asset_key.to_user_string()}


@dataclass(frozen=True)
class AssetMaterialized:
    """One asset succeeded. ``data_version`` hashes the stored value (None when nothing was stored)."""

    TYPE: ClassVar[str] = "AssetMaterialized"
    run_name: str
    asset_key: AssetKey
    duration_seconds: float
    metadata: Mapping[str, MetadataValue] = field(default_factory=lambda: MappingProxyType({}))
    code_version: str | None = None
    data_version: str | None = None
    stored: bool = False
    timestamp: datetime = field(default_factory=utc_now)

    def _fields(self) -> dict[str, Any]:
        return {
            "key": self.asset_key.to_user_string(),
            "durationSeconds": self.duration_seconds,
            "metadata": metadata_to_json(self.metadata),
            "codeVersion": self.code_version,
            "dataVersion": self.data_version,
            "stored": self.stored,
        }


@dataclass(frozen=True)
class AssetFailed:
    """One asset raised (while loading inputs, computing, or storing its value)."""

    TYPE: ClassVar[str] = "AssetFailed"
    run_name: str
    asset_key: AssetKey
    error: ErrorInfo
    duration_seconds: float
    timestamp: datetime = field(default_factory=utc_now)

    def _fields(self) -> dict[str, Any]:
        return {
            "key": self.asset_key.to_user_string(),
            "durationSeconds": self.duration_seconds,
            "error": self.error.to_json(),
        }


@dataclass(frozen=True)
class AssetSkipped:
    """One asset did not run because an upstream in this run did not materialize.

    ``upstream``: its direct upstreams in the run that failed or were skipped; ``failed_upstream``: the
    failed assets at the origin of the skip (for ``a`` fails -> ``b`` skipped -> ``c`` skipped, ``c``
    has upstream ``[b]`` and failed_upstream ``[a]``).
    """

    TYPE: ClassVar[str] = "AssetSkipped"
    run_name: str
    asset_key: AssetKey
    upstream: tuple[AssetKey, ...]
    failed_upstream: tuple[AssetKey, ...]
    timestamp: datetime = field(default_factory=utc_now)

    def _fields(self) -> dict[str, Any]:
        return {
            "key": self.asset_key.to_user_string(),
            "upstream": [key.to_user_string() for key in self.upstream],
            "failedUpstream": [key.to_user_string() for key in self.failed_upstream],
        }


@dataclass(frozen=True)
class RunFinished:
    """The run ended. ``success``: every asset materialized; ``canceled``: interrupted (SIGTERM/Ctrl-C),
    in which case the assets that never finished count as canceled."""

    TYPE: ClassVar[str] = "RunFinished"
    run_name: str
    success: bool
    counts: Mapping[str, int]
    duration_seconds: float
    canceled: bool = False
    timestamp: datetime = field(default_factory=utc_now)

    def _fields(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "canceled": self.canceled,
            "counts": dict(self.counts),
            "durationSeconds": self.duration_seconds,
        }


ExecutionEvent: TypeAlias = (
    RunStarted | AssetStarted | AssetMaterialized | AssetFailed | AssetSkipped | RunFinished
)

_EVENT_CLASSES = (RunStarted, AssetStarted, AssetMaterialized, AssetFailed, AssetSkipped, RunFinished)
EVENT_TYPES: Mapping[str, type[ExecutionEvent]] = MappingProxyType({cls.TYPE: cls for cls in _EVENT_CLASSES})


def event_to_json(event: ExecutionEvent) -> dict[str, Any]:
    """The JSON object of an event: ``type``, ``time``, ``run``, then the event's own fields."""
    return {
        "type": event.TYPE,
        "time": format_timestamp(event.timestamp),
        "run": event.run_name,
        **event._fields(),
    }


def event_from_json(data: Mapping[str, Any]) -> ExecutionEvent:
    """Parse what :func:`event_to_json` wrote (the controller's side of the protocol)."""
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        raise ProtocolError(f"unknown event type {kind!r}; known: {', '.join(EVENT_TYPES)}")
    try:
        common: dict[str, Any] = {
            "run_name": str(data["run"]),
            "timestamp": _time(data["time"]),
        }
        if kind == RunStarted.TYPE:
            return RunStarted(asset_keys=tuple(_keys(data["assets"])), **common)
        if kind == RunFinished.TYPE:
            return RunFinished(
                success=bool(data["success"]),
                canceled=bool(data.get("canceled", False)),
                counts=MappingProxyType({str(k): int(v) for k, v in data["counts"].items()}),
                duration_seconds=_seconds(data["durationSeconds"]),
                **common,
            )
        common["asset_key"] = AssetKey.from_user_string(data["key"])
        if kind == AssetStarted.TYPE:
            return AssetStarted(**common)
        if kind == AssetMaterialized.TYPE:
            return AssetMaterialized(
                duration_seconds=_seconds(data["durationSeconds"]),
                metadata=MappingProxyType(metadata_from_json(data.get("metadata") or {})),
                code_version=_optional_str(data.get("codeVersion"), "codeVersion"),
                data_version=_optional_str(data.get("dataVersion"), "dataVersion"),
                stored=bool(data.get("stored", False)),
                **common,
            )
        if kind == AssetFailed.TYPE:
            return AssetFailed(
                error=ErrorInfo.from_json(data["error"]),
                duration_seconds=_seconds(data["durationSeconds"]),
                **common,
            )
        return AssetSkipped(
            upstream=tuple(_keys(data["upstream"])),
            failed_upstream=tuple(_keys(data.get("failedUpstream") or [])),
            **common,
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, DefinitionError) as error:
        # The event is cut: a line with megabytes of metadata must not become a megabyte log message.
        raise ProtocolError(f"malformed {kind} event: {str(error)[:300]}: {repr(dict(data))[:300]}") from error


def _time(value: Any) -> datetime:
    """An RFC 3339 time; one without a UTC offset is refused (it could not be compared with the others)."""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return moment.astimezone(UTC)


def _seconds(value: Any) -> float:
    """A duration: a finite, non-negative number of seconds (at most about 30 years)."""
    seconds = float(value)
    if not 0 <= seconds <= _MAX_DURATION_SECONDS:
        raise ValueError(f"durationSeconds {value!r} is not between 0 and {_MAX_DURATION_SECONDS:.0f}")
    return seconds


def _optional_str(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _keys(items: Any) -> list[AssetKey]:
    return [AssetKey.from_user_string(item) for item in items]
