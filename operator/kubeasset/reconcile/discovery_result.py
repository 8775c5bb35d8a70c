"""Reading what a discovery Pod said: its log (the ``describe`` document), its termination message and its
exit code, into the asset graph and the jobs defined in code, or into a failure a person can act on.

A graph is accepted only whole: the document's hash must match its own assets and the termination
message's hash (a log cut short, or a log of another container, is an error, never half a graph).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from kubeasset import errors
from kubeasset.errors import GraphError, InvalidAssetKeyError, KubeassetError
from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.sdk.runner_protocol import (
    EXIT_ASSETS_FAILED,
    EXIT_COULD_NOT_START,
    EXIT_INTERNAL_ERROR,
    EXIT_SUCCESS,
    PROTOCOL_VERSION,
    graph_hash,
)

# Ready=False reasons of a CodeLocation whose discovery ran but found no usable graph.
#: The module (or something it imports) raised while being imported.
IMPORT_ERROR: Final = "ImportError"
#: The definitions form no valid graph: a cycle, an unknown dependency, a duplicate key.
INVALID_GRAPH: Final = "InvalidGraph"
#: A definition is invalid in another way (a bad key or tag, a job's selection) or cannot be stored.
INVALID_DEFINITIONS: Final = "InvalidDefinitions"
#: The module imported but holds no, or several, Definitions objects.
DEFINITIONS_NOT_FOUND: Final = "DefinitionsNotFound"
#: The discovery itself failed: the runner crashed, was killed, or its output is unusable.
DISCOVERY_FAILED: Final = "DiscoveryFailed"

#: Reasons that come from the user's code: the same image and module give the same result, so
#: discovery is not retried until its input changes.
CODE_FAILURE_REASONS: Final = frozenset({IMPORT_ERROR, INVALID_GRAPH, INVALID_DEFINITIONS, DEFINITIONS_NOT_FOUND})

_DOCUMENT_KINDS: Final = ('"CodeLocationDescription"', '"CodeLocationError"')
_MAX_LOG_TAIL_LINES: Final = 5
_MAX_DETAIL_CHARS: Final = 2000


@dataclass(frozen=True)
class DiscoveredJob:
    """A job defined in code, as ``describe`` reported it; ``asset_keys`` in topological order."""

    name: str
    selection: str | None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    asset_keys: tuple[AssetKey, ...] = ()


@dataclass(frozen=True)
class DiscoveryFailure:
    """Why discovery gave no graph: a Ready reason (the constants above), the message, and the runner's
    ``causeType`` (``ModuleNotFoundError``, ``CycleError``...) when it reported one."""

    reason: str
    message: str
    cause_type: str | None = None

    @property
    def in_code(self) -> bool:
        """The user's code is at fault (not the Pod): retrying the same input cannot help."""
        return self.reason in CODE_FAILURE_REASONS


@dataclass(frozen=True)
class DiscoveryResult:
    """The outcome of one discovery: a graph with its jobs and hash, or a failure."""

    graph: AssetGraph | None = None
    jobs: tuple[DiscoveredJob, ...] = ()
    graph_hash: str | None = None
    module: str | None = None
    failure: DiscoveryFailure | None = None

    @property
    def ok(self) -> bool:
        return self.graph is not None and self.failure is None


def failed(reason: str, message: str, cause_type: str | None = None) -> DiscoveryResult:
    """A failed result: ``failed(DISCOVERY_FAILED, "the log holds no describe document")``."""
    return DiscoveryResult(failure=DiscoveryFailure(reason, message[:_MAX_DETAIL_CHARS], cause_type))


def parse_discovery(
    log_text: str, termination_message: str | None, exit_code: int | None, *, location_name: str | None = None
) -> DiscoveryResult:
    """Read a finished discovery Pod's output (never raises on bad output: that is a failed result).

    ``log_text`` is the container's log (stdout and stderr interleaved, as the API returns it);
    ``termination_message`` its ``state.terminated.message``; ``exit_code`` its exit code (None when
    unknown). ``location_name`` becomes the graph's ``code_location`` (for ``code_location:``
    selections).

    Example::

        result = parse_discovery(log, pod_status_message, 0, location_name="shop")
        if result.ok: assets = desired_assets(location, result.graph)
    """
    try:
        document = _find_document(log_text)
    except KubeassetError as error:
        return failed(DISCOVERY_FAILED, str(error))
    termination = _json_object(termination_message)
    if document is not None and document.get("kind") == "CodeLocationDescription":
        if exit_code not in (EXIT_SUCCESS, None):
            return failed(
                DISCOVERY_FAILED,
                f"the describe document was printed but the runner then exited with code {exit_code}"
                + _detail(log_text, termination_message),
            )
        return _description(document, termination, location_name)
    if document is not None:
        return _load_error(document)
    if termination is not None and termination.get("result") == "Error":
        summary_error = _mapping(termination.get("error"))
        cause = str(summary_error.get("type") or "") or None
        message = str(summary_error.get("message") or "the code location could not be loaded")
        return failed(reason_for_cause(cause), message, cause)
    return failed(DISCOVERY_FAILED, _no_document_message(exit_code) + _detail(log_text, termination_message))


def reason_for_cause(cause_type: str | None) -> str:
    """The Ready reason for the runner's ``causeType``: kubeasset's graph errors are InvalidGraph, its
    other definition and selection errors InvalidDefinitions, None (no single Definitions object)
    DefinitionsNotFound, and any other exception raised by the import ImportError."""
    # The Error summary names CodeLocationLoadError itself when there was no underlying exception.
    if cause_type is None or cause_type.endswith("CodeLocationLoadError"):
        return DEFINITIONS_NOT_FOUND
    error_class = getattr(errors, cause_type.rsplit(".", 1)[-1], None)
    if isinstance(error_class, type) and issubclass(error_class, GraphError):
        return INVALID_GRAPH
    if isinstance(error_class, type) and issubclass(error_class, (errors.DefinitionError, errors.SelectionError)):
        return INVALID_DEFINITIONS
    return IMPORT_ERROR


def termination_graph_hash(termination_message: str | None) -> str | None:
    """The graphHash of a successful describe's termination message (None otherwise): lets the controller
    tell, without reading the log, whether a finished discovery Pod found the graph already recorded."""
    termination = _json_object(termination_message)
    if termination is None or termination.get("result") != "Succeeded":
        return None
    value = termination.get("graphHash")
    return value if isinstance(value, str) else None


# --- pieces ---------------------------------------------------------------------------------------------


def _find_document(log_text: str) -> dict[str, Any] | None:
    """The last describe document (success or error) in the log, or None. The document is one line of
    stdout; the log interleaves stderr, where user code's prints go, so each candidate line is checked."""
    for line in _lines_from_the_end(log_text):
        stripped = line.strip()
        if not stripped.startswith("{") or not any(kind in stripped[:200] for kind in _DOCUMENT_KINDS):
            continue
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            # JSONDecodeError is a ValueError, as is an integer over Python's digit limit; nesting too deep
            # for the parser is a RecursionError. Either way it is not the runner's document.
            continue  # a cut document; without a complete one the caller reports the missing document
        if not isinstance(data, dict) or "v" not in data:
            continue  # JSON that user code printed to stderr while being imported
        if data.get("kind") not in ("CodeLocationDescription", "CodeLocationError"):
            continue
        if data.get("v") != PROTOCOL_VERSION:
            raise errors.ProtocolError(
                f"the describe document has protocol version {data.get('v')!r}; this controller reads version "
                f"{PROTOCOL_VERSION} (the image's kubeasset and the controller's are incompatible: align them)"
            )
        return data
    return None


def _lines_from_the_end(text: str) -> Iterator[str]:
    """The lines of ``text``, last first, cut one at a time: the document is usually the last line, and
    splitting a log of 10,000 assets' description into a list of lines would copy all of it."""
    end = len(text)
    while end > 0:
        start = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        yield text[start:end]
        end = start - 1
        if end > 0 and text[end] == "\n" and text[end - 1] == "\r":
            end -= 1  # a CRLF ending is one line break


def _description(
    document: Mapping[str, Any], termination: Mapping[str, Any] | None, location_name: str | None
) -> DiscoveryResult:
    assets = document.get("assets")
    jobs = document.get("jobs") or []
    claimed = document.get("graphHash")
    if not isinstance(assets, list) or not isinstance(jobs, list):
        return failed(DISCOVERY_FAILED, "the describe document has no assets/jobs lists")
    if graph_hash(assets) != claimed:
        return failed(DISCOVERY_FAILED, "the describe document's graphHash does not match its assets: it is corrupt")
    if termination is not None and termination.get("result") == "Succeeded":
        expected = (termination.get("graphHash"), termination.get("assets"), termination.get("jobs"))
        if expected != (claimed, len(assets), len(jobs)):
            return failed(
                DISCOVERY_FAILED,
                f"the log's describe document (graph {claimed}, {len(assets)} assets, {len(jobs)} jobs) is not "
                f"the one the runner finished with (graph {expected[0]}, {expected[1]} assets, {expected[2]} "
                "jobs): the log was cut or belongs to another container",
            )
    try:
        keys: dict[str, AssetKey] = {}
        specs = []
        for index, entry in enumerate(assets):
            specs.append(AssetSpec.from_dict(entry, keys))
            # The parsed document is this function's own: each entry is let go once its spec exists, so
            # a large graph's entries and specs are not all held at once.
            assets[index] = None
        graph = AssetGraph(specs, code_location=location_name)
    except GraphError as error:
        return failed(INVALID_GRAPH, str(error), type(error).__name__)
    except InvalidAssetKeyError as error:
        return failed(INVALID_DEFINITIONS, str(error), type(error).__name__)
    except (KeyError, TypeError, AttributeError) as error:
        return failed(DISCOVERY_FAILED, f"the describe document has a malformed asset entry: {error!r}")
    try:
        discovered = tuple(_job(entry) for entry in jobs)
    except InvalidAssetKeyError as error:
        return failed(INVALID_DEFINITIONS, str(error), type(error).__name__)
    except (KeyError, TypeError, AttributeError) as error:
        return failed(DISCOVERY_FAILED, f"the describe document has a malformed job entry: {error!r}")
    module = document.get("module")
    return DiscoveryResult(
        graph=graph,
        jobs=discovered,
        graph_hash=str(claimed),
        module=module if isinstance(module, str) else None,
    )


def _job(entry: Mapping[str, Any]) -> DiscoveredJob:
    return DiscoveredJob(
        name=str(entry["name"]),
        selection=entry.get("selection"),
        description=entry.get("description"),
        tags=MappingProxyType(dict(entry.get("tags") or {})),
        config=MappingProxyType(dict(entry.get("config") or {})),
        asset_keys=tuple(AssetKey.from_user_string(key) for key in entry.get("assetKeys") or ()),
    )


def _load_error(document: Mapping[str, Any]) -> DiscoveryResult:
    error = _mapping(document.get("error"))
    cause = error.get("causeType")
    cause_type = str(cause) if cause else None
    message = str(error.get("message") or "the code location could not be loaded")
    candidates = error.get("candidates") or []
    if cause_type is None and candidates and "candidates" not in message:
        message += f" (candidates: {', '.join(map(str, candidates))})"
    return failed(reason_for_cause(cause_type), message, cause_type)


def _no_document_message(exit_code: int | None) -> str:
    if exit_code == EXIT_SUCCESS:
        return "the runner exited 0 but its log holds no complete describe document (the log was cut?)"
    if exit_code == EXIT_ASSETS_FAILED:
        return "the code location could not be loaded, and the runner's error document is missing"
    if exit_code == EXIT_COULD_NOT_START:
        return "the runner rejected its arguments (exit 2): the image's kubeasset may be older than the controller's"
    if exit_code == EXIT_INTERNAL_ERROR:
        return "the runner crashed (exit 3, a kubeasset bug)"
    if exit_code is None:
        return "the discovery container ended without an exit code or a describe document"
    return f"the discovery container exited with code {exit_code} before printing its document"


def _detail(log_text: str, termination_message: str | None) -> str:
    """The termination message when it is not the runner's JSON (then it is the log's tail, under
    FallbackToLogsOnError), else the log's last lines: where a crash says what happened."""
    text = termination_message if termination_message and _json_object(termination_message) is None else None
    if text is None:
        tail = [line for line in log_text.splitlines()[-_MAX_LOG_TAIL_LINES:] if line.strip()]
        text = "\n".join(tail)
    text = text.strip()
    if not text:
        return ""
    if len(text) > _MAX_DETAIL_CHARS:
        text = "…" + text[-(_MAX_DETAIL_CHARS - 1) :]
    return f": {text}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, an integer over the digit limit, nesting too deep
        return None
    return data if isinstance(data, dict) else None
