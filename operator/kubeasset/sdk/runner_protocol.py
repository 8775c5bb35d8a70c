"""The wire format between the run Pod and the controller: event lines, the termination summary, the
``describe`` document's hash, and the runner's exit codes (docs/runner-events.md is the reference).

It lives in the SDK layer, not in the runner, so the runner (writer) and the controller's pure reconcile
functions (readers) share one implementation without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubeasset.errors import ProtocolError
from kubeasset.sdk.events import ExecutionEvent, event_from_json, event_to_json
from kubeasset.sdk.run_result import AssetState, RunResult

#: Version of every JSON document of the protocol (the ``"v"`` field). Readers reject other versions.
PROTOCOL_VERSION: Final = 1

#: Starts every event line on stdout. User output cannot produce it by accident.
EVENT_LINE_PREFIX: Final = "@@kubeasset@@ "

#: Kubernetes reads at most this many bytes of a container's termination message.
TERMINATION_MESSAGE_LIMIT: Final = 4096

# Exit codes of ``python -m kubeasset.runner``.
EXIT_SUCCESS: Final = 0
#: execute: at least one asset failed or was skipped. describe: the code location could not be loaded.
EXIT_ASSETS_FAILED: Final = 1
#: execute: the run could not start (bad arguments, code location load error, unknown asset key,
#: unusable storage); no asset ran. describe: bad arguments.
EXIT_COULD_NOT_START: Final = 2
#: The runner itself failed (a kubeasset bug): the traceback is on stderr.
EXIT_INTERNAL_ERROR: Final = 3
#: 128 + signal number: interrupted by SIGINT (130) or SIGTERM (143); unfinished assets are Canceled.
EXIT_INTERRUPTED_BASE: Final = 128

#: One character per asset in the summary's ``states`` string.
STATE_CODES: Final[Mapping[AssetState, str]] = {
    AssetState.MATERIALIZED: "M",
    AssetState.FAILED: "F",
    AssetState.SKIPPED: "S",
    AssetState.CANCELED: "C",
}
#: ``P``: the asset never got a result (the runner died first).
PENDING_CODE: Final = "P"
_KNOWN_CODES: Final = frozenset(STATE_CODES.values()) | {PENDING_CODE}

# Caps that keep one event line reasonably small for log storage and the controller's reader.
MAX_ERROR_MESSAGE_CHARS: Final = 8192
MAX_TRACEBACK_CHARS: Final = 32768
MAX_METADATA_ENTRY_CHARS: Final = 16384
# Caps inside the termination summary.
MAX_SUMMARY_ERROR_CHARS: Final = 200
MAX_SUMMARY_RUN_ERROR_CHARS: Final = 1500


# --- event lines -------------------------------------------------------------------------------------


def format_event_line(event: ExecutionEvent) -> str:
    """``@@kubeasset@@ {"v":1,"type":...}`` without the newline; oversized fields are cut (and say so)."""
    data: dict[str, Any] = {"v": PROTOCOL_VERSION, **event_to_json(event)}
    error = data.get("error")
    if isinstance(error, dict):
        error["message"] = _cut(error["message"], MAX_ERROR_MESSAGE_CHARS)
        error["traceback"] = _cut_head(error["traceback"], MAX_TRACEBACK_CHARS)
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        for key, entry in list(metadata.items()):
            size = len(json.dumps(entry))
            if size > MAX_METADATA_ENTRY_CHARS:
                metadata[key] = {"type": "text", "value": f"(omitted: {entry['type']} value of {size} bytes)"}
    return EVENT_LINE_PREFIX + json.dumps(data, separators=(",", ":"), allow_nan=False)


def parse_event_line(line: str) -> ExecutionEvent | None:
    """The event on a log line, or None for a line of user output.

    The prefix is searched anywhere in the line: user output that did not end with a newline may
    precede it. A line with the prefix but a malformed or other-version payload raises ProtocolError.
    """
    index = line.find(EVENT_LINE_PREFIX)
    if index < 0:
        return None
    payload = line[index + len(EVENT_LINE_PREFIX) :].strip()
    data = _load_json(payload, "event line")
    if not isinstance(data, dict):
        raise ProtocolError(f"event line is not a JSON object: {payload[:200]!r}")
    _check_version(data, "event line")
    return event_from_json(data)


# --- describe ----------------------------------------------------------------------------------------


def graph_hash(assets: Iterable[Mapping[str, Any]]) -> str:
    """Hash of the ``assets`` list of a describe document: the first 16 hex digits of the sha256 of
    its canonical JSON (keys sorted, no spaces). Equal graphs give equal hashes across processes.

    The JSON is hashed one asset at a time (the same bytes as the whole list's): for 10,000 assets the
    whole list's text would be a 1.3 MB string and its bytes another, only to be hashed."""
    digest = hashlib.sha256(b"[")
    for index, asset in enumerate(assets):
        if index:
            digest.update(b",")
        digest.update(json.dumps(asset, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode())
    digest.update(b"]")
    return digest.hexdigest()[:16]


# --- the termination summary -------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedAssetSummary:
    key: str
    error: str


@dataclass(frozen=True)
class RunSummary:
    """A parsed termination summary.

    ``states`` has one character per asset, in the order of the runner's ``--assets`` list (None when
    omitted for size); ``failed`` names failed assets with a one-line error (possibly not all of them:
    see ``truncated``); ``error`` is set when the run could not start.
    """

    run_name: str
    result: str
    exit_code: int
    counts: Mapping[str, int]
    states: str | None
    failed: tuple[FailedAssetSummary, ...]
    truncated: bool
    error: Mapping[str, str] | None
    duration_seconds: float | None

    def states_by_key(self, assets: Sequence[str]) -> dict[str, str]:
        """Map each key of the runner's ``--assets`` list to its state name (Materialized, Failed...)."""
        if self.states is None:
            raise ProtocolError("the summary omits per-asset states (too many assets); use the event lines")
        if len(self.states) != len(assets):
            raise ProtocolError(f"the summary has {len(self.states)} states for {len(assets)} assets")
        names = {code: state.value for state, code in STATE_CODES.items()} | {PENDING_CODE: "Pending"}
        return {key: names[code] for key, code in zip(assets, self.states, strict=True)}


def build_run_summary(
    result: RunResult, assets: Sequence[str], *, exit_code: int, limit: int = TERMINATION_MESSAGE_LIMIT
) -> str:
    """The summary of a finished run, at most ``limit`` bytes (ASCII-only JSON, so chars == bytes).

    Always present: version, run, result, exit code, counts and ``truncated``. Then, as space allows:
    ``states`` (dropped only beyond ~3,800 assets), and failed assets with their errors, in execution
    order. ``truncated`` is true when any failed entry or error text was left out or cut.
    """
    by_key = {key.to_user_string(): res for key, res in result.asset_results.items()}
    states = "".join(STATE_CODES[by_key[key].state] if key in by_key else PENDING_CODE for key in assets)
    outcome = "Canceled" if result.canceled else ("Succeeded" if result.success else "Failed")
    document: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "run": result.run_name,
        "result": outcome,
        "exitCode": exit_code,
        "counts": result.counts,
        "durationSeconds": round(result.duration_seconds, 3),
        "truncated": False,
        "states": states,
        "failed": [],
    }
    if _size(document) > limit:
        del document["states"]
        document["truncated"] = True
    for res in result.asset_results.values():
        if res.error is None:
            continue
        entry = {"key": res.key.to_user_string(), "error": res.error.one_line()}
        if len(entry["error"]) > MAX_SUMMARY_ERROR_CHARS:
            entry["error"] = _cut(entry["error"], MAX_SUMMARY_ERROR_CHARS)
            document["truncated"] = True
        document["failed"].append(entry)
        if _size(document) > limit:
            document["failed"].pop()
            document["truncated"] = True
            break
    text = _dump(document)
    if len(text) > limit:  # only a run name far beyond Kubernetes' own limits gets here
        raise ProtocolError(f"the run summary cannot fit in {limit} bytes")
    return text


def build_error_summary(
    run_name: str, *, error_type: str, message: str, exit_code: int, limit: int = TERMINATION_MESSAGE_LIMIT
) -> str:
    """The summary of a run that could not start (or of a failed describe): result ``Error``."""
    error = {"type": error_type, "message": _cut(message, MAX_SUMMARY_RUN_ERROR_CHARS)}
    document = {
        "v": PROTOCOL_VERSION,
        "run": run_name,
        "result": "Error",
        "exitCode": exit_code,
        "error": error,
    }
    text = _dump(document)
    if len(text) > limit:
        error["message"] = _cut(message, max(0, MAX_SUMMARY_RUN_ERROR_CHARS - (len(text) - limit)))
        text = _dump(document)
    return text


def parse_run_summary(text: str) -> RunSummary:
    """Parse a termination message written by the runner (the controller's side)."""
    data = _load_json(text, "termination message")
    if not isinstance(data, dict):
        raise ProtocolError(f"termination message is not a JSON object: {text[:200]!r}")
    _check_version(data, "termination message")
    states = data.get("states")
    if states is not None and not (isinstance(states, str) and set(states) <= _KNOWN_CODES):
        raise ProtocolError(
            f"malformed termination message: states {str(states)[:200]!r} is not a string of state codes"
        )
    try:
        run_error = data.get("error")
        return RunSummary(
            run_name=str(data["run"]),
            result=str(data["result"]),
            exit_code=int(data["exitCode"]),
            counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
            states=states,
            failed=tuple(
                FailedAssetSummary(key=str(item["key"]), error=str(item["error"]))
                for item in data.get("failed") or ()
            ),
            truncated=bool(data.get("truncated", False)),
            error={str(k): str(v) for k, v in run_error.items()} if isinstance(run_error, dict) else None,
            duration_seconds=float(data["durationSeconds"]) if "durationSeconds" in data else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ProtocolError(f"malformed termination message: {error!r}: {text[:200]!r}") from error


def _load_json(text: str, what: str) -> Any:
    """``text`` as JSON, or ProtocolError for anything a reader should not accept: not JSON, nested
    deeper than Python's recursion limit, integers beyond Python's digit limit, NaN or infinite numbers
    (they would overflow the times and counts computed from them)."""
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)[:200]
        raise ProtocolError(f"{what} is not valid JSON: {reason}: {text[:200]!r}") from error


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is out of range")
    return number


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _check_version(data: Mapping[str, Any], what: str) -> None:
    if data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"{what} has protocol version {data.get('v')!r}; this kubeasset reads version {PROTOCOL_VERSION} "
            "(the run image and the controller run different kubeasset versions)"
        )


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _size(document: Mapping[str, Any]) -> int:
    return len(_dump(document))


def _cut(text: str, limit: int) -> str:
    """Keep the start of ``text`` (where a message says what went wrong)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _cut_head(text: str, limit: int) -> str:
    """Keep the end of ``text`` (where a traceback says where it went wrong)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
