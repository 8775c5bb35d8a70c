"""The runner's entry point: parse the command line, dispatch, and map every outcome to an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence

from kubeasset.errors import RunnerError
from kubeasset.runner.describe import run_describe
from kubeasset.runner.execute import run_execute
from kubeasset.runner.output import write_termination_message
from kubeasset.runner.settings import DEFAULT_TERMINATION_LOG, ENV, parse_arguments
from kubeasset.sdk.runner_protocol import EXIT_COULD_NOT_START, EXIT_INTERNAL_ERROR, build_error_summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``describe`` or ``execute`` and return the exit code (docs/runner-events.md lists them)."""
    try:
        args = parse_arguments(argv, os.environ)
        _configure_logging(args.log_level)
    except RunnerError as error:
        print(f"kubeasset runner: {error}", file=sys.stderr)
        path = os.environ.get(ENV["termination_log"]) or (
            DEFAULT_TERMINATION_LOG if os.path.exists(DEFAULT_TERMINATION_LOG) else None
        )
        summary = build_error_summary(
            os.environ.get(ENV["run"], ""),
            error_type=type(error).__name__,
            message=str(error),
            exit_code=EXIT_COULD_NOT_START,
        )
        write_termination_message(path, summary)
        return EXIT_COULD_NOT_START
    try:
        if args.command == "describe":
            return run_describe(args)
        return run_execute(args)
    # A bug in kubeasset itself (user code's exceptions are handled before they get here): keep the
    # traceback on stderr and exit with the code reserved for it, so it is never taken for an asset failure.
    except Exception:  # noqa: BLE001
        print("kubeasset runner: internal error (please report it):", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def _configure_logging(level: str | None) -> None:
    name = str(level or "INFO").upper()
    if not isinstance(logging.getLevelName(name), int):
        raise RunnerError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        stream=sys.stderr, level=name, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
