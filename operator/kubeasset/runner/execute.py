"""``runner execute``: materialize the given assets, one event line per step, then the summary."""

from __future__ import annotations

import argparse
import signal
import sys
import uuid
from types import FrameType
from typing import Any

from kubeasset.errors import (
    CodeLocationLoadError,
    DefinitionError,
    InvalidAssetKeyError,
    RunnerError,
    StorageError,
)
from kubeasset.graph import AssetKey
from kubeasset.runner.output import EventWriter, LineTrackingStdout, write_termination_message
from kubeasset.runner.settings import (
    DEFAULT_STORAGE_URL,
    parse_asset_list,
    parse_json_object,
    parse_scheduled_time,
    termination_log_path,
)
from kubeasset.sdk.code_location import load_definitions
from kubeasset.sdk.executor import RunInfo, execute_assets
from kubeasset.sdk.filesystem_io_manager import FilesystemIOManager
from kubeasset.sdk.naming import validate_tags
from kubeasset.sdk.runner_protocol import (
    EXIT_ASSETS_FAILED,
    EXIT_COULD_NOT_START,
    EXIT_INTERRUPTED_BASE,
    EXIT_SUCCESS,
    build_error_summary,
    build_run_summary,
)

#: How many defined keys an "unknown asset" message lists before saying "...".
_LISTED_KEYS = 20
#: How much of a bad asset key a message quotes.
_SHOWN_CHARS = 100


class _Interruption:
    """Turns SIGTERM (Pod deletion, run cancel) into a KeyboardInterrupt the executor handles, and
    remembers the signal for the exit code. The previous handlers come back with :meth:`restore`."""

    _SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signal_number = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for number in self._SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)

    def ignore(self) -> None:
        for number in self._SIGNALS:
            signal.signal(number, signal.SIG_IGN)

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_number = signal.Signals(signum)
        raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED_BASE + int(self.signal_number)


def run_execute(args: argparse.Namespace) -> int:
    run_name = str(args.run or f"run-{uuid.uuid4().hex[:8]}")
    termination_log = termination_log_path(args)
    interruption = _Interruption()
    interruption.install()
    # From the import of the user's module on, prints go through the tracker (see LineTrackingStdout).
    original_stdout = sys.stdout
    stdout = LineTrackingStdout(original_stdout)
    sys.stdout = stdout
    try:
        summary, exit_code = _execute(args, run_name, stdout, interruption)
    except KeyboardInterrupt:  # a signal outside the executor's loop: before or after the assets ran
        message = "interrupted before the run could report its result"
        print(f"kubeasset runner: {message}", file=sys.stderr)
        exit_code = interruption.exit_code
        summary = build_error_summary(
            run_name, error_type="Interrupted", message=message, exit_code=exit_code
        )
    finally:
        sys.stdout = original_stdout
        # The outcome is decided: a late SIGTERM must not cut the summary short.
        interruption.ignore()
    try:
        write_termination_message(termination_log, summary)
    finally:
        interruption.restore()
    return exit_code


def _execute(
    args: argparse.Namespace, run_name: str, stdout: LineTrackingStdout, interruption: _Interruption
) -> tuple[str, int]:
    """Run the assets; return the termination summary and the exit code."""
    try:
        assets = parse_asset_list(args.assets)
        keys = _parse_keys(assets)
        run = RunInfo(
            run_name=run_name,
            tags=validate_tags(parse_json_object(args.tags, "--tags"), owner="--tags"),
            config=parse_json_object(args.config, "--config"),
            scheduled_time=parse_scheduled_time(args.scheduled_time),
        )
        definitions = load_definitions(str(args.module), args.working_directory)
        unknown = [key for key in keys if key not in definitions.asset_graph]
        if unknown:
            defined = sorted(key.to_user_string() for key in definitions.asset_graph.keys)
            raise RunnerError(_unknown_message(unknown, defined))
        io_manager = FilesystemIOManager(args.storage or DEFAULT_STORAGE_URL)
    except (RunnerError, CodeLocationLoadError, StorageError, DefinitionError) as error:
        print(f"kubeasset runner: {error}", file=sys.stderr)
        if args.debug and isinstance(error, CodeLocationLoadError) and error.traceback_text:
            print(error.traceback_text, file=sys.stderr, end="")
        cause = error.cause_type if isinstance(error, CodeLocationLoadError) else None
        summary = build_error_summary(
            run_name,
            error_type=cause or type(error).__name__,
            message=str(error),
            exit_code=EXIT_COULD_NOT_START,
        )
        return summary, EXIT_COULD_NOT_START

    result = execute_assets(
        definitions, keys, io_manager=io_manager, run=run, on_event=EventWriter(stdout), keep_values=False
    )
    if result.canceled:
        exit_code = interruption.exit_code
    else:
        exit_code = EXIT_SUCCESS if result.success else EXIT_ASSETS_FAILED
    return build_run_summary(result, assets, exit_code=exit_code), exit_code


def _parse_keys(assets: list[str]) -> list[AssetKey]:
    keys = []
    for text in assets:
        try:
            keys.append(AssetKey.from_user_string(text))
        except InvalidAssetKeyError as error:
            # A long key is quoted by its start: the summary (1,500 characters) must still say what is wrong.
            shown = repr(text) if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]!r}… ({len(text)} characters)"
            reason = str(error) if len(str(error)) <= 2 * _SHOWN_CHARS else str(error)[: 2 * _SHOWN_CHARS] + "…"
            raise RunnerError(f"--assets: {shown} is not an asset key: {reason}") from error
    return keys


def _unknown_message(unknown: list[AssetKey], defined: list[str]) -> str:
    listed = ", ".join(defined[:_LISTED_KEYS]) + (", ..." if len(defined) > _LISTED_KEYS else "")
    names = ", ".join(key.to_user_string() for key in unknown)
    return (
        f"unknown asset{'s' if len(unknown) > 1 else ''} {names}: not defined in the code location "
        f"({len(defined)} assets: {listed or 'none'})"
    )
