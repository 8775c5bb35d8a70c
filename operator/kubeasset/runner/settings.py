"""The runner's command line and the environment variables it falls back to.

Every option can come from an argument or from the environment (an argument wins), so the controller
may pass long asset lists or run metadata through the Pod's env:

=========================== ====================== ==================================================
variable                    option                 meaning
=========================== ====================== ==================================================
KUBEASSET_MODULE            --module               Python module holding the Definitions
KUBEASSET_WORKING_DIRECTORY --working-directory    put first on sys.path (default: current directory)
KUBEASSET_ASSETS            --assets               comma-separated asset keys to run (execute)
KUBEASSET_RUN_NAME          --run                  run name (default: run-<random>)
KUBEASSET_STORAGE_URL       --storage              directory or fsspec URL of stored values
                                                   (default: /tmp/kubeasset/storage)
KUBEASSET_SCHEDULED_TIME    --scheduled-time       RFC 3339 time a scheduled run was due
KUBEASSET_RUN_TAGS          --tags                 JSON object of run tags
KUBEASSET_RUN_CONFIG        --config               JSON object, read by assets as context.run_config
KUBEASSET_TERMINATION_LOG   --termination-log      where the summary goes (default:
                                                   /dev/termination-log when it exists)
KUBEASSET_LOG_LEVEL         --log-level            logging level of kubeasset's stderr log (INFO)
=========================== ====================== ==================================================
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

from kubeasset.errors import RunnerError

DEFAULT_STORAGE_URL: Final = "/tmp/kubeasset/storage"
DEFAULT_TERMINATION_LOG: Final = "/dev/termination-log"

ENV = {
    "module": "KUBEASSET_MODULE",
    "working_directory": "KUBEASSET_WORKING_DIRECTORY",
    "assets": "KUBEASSET_ASSETS",
    "run": "KUBEASSET_RUN_NAME",
    "storage": "KUBEASSET_STORAGE_URL",
    "scheduled_time": "KUBEASSET_SCHEDULED_TIME",
    "tags": "KUBEASSET_RUN_TAGS",
    "config": "KUBEASSET_RUN_CONFIG",
    "termination_log": "KUBEASSET_TERMINATION_LOG",
    "log_level": "KUBEASSET_LOG_LEVEL",
}


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, so a bad command line still gets a summary and the documented code."""

    def error(self, message: str) -> NoReturn:
        raise RunnerError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m kubeasset.runner", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--module", help="module holding the Definitions [$KUBEASSET_MODULE]")
        sub.add_argument("--working-directory", help="prepended to sys.path [$KUBEASSET_WORKING_DIRECTORY]")
        sub.add_argument("--termination-log", help="summary file [$KUBEASSET_TERMINATION_LOG]")
        sub.add_argument("--log-level", help="stderr log level [$KUBEASSET_LOG_LEVEL]")
        sub.add_argument("--debug", action="store_true", help="print tracebacks of load errors on stderr")

    describe = commands.add_parser("describe", help="print the code location's assets and jobs as JSON")
    common(describe)
    execute = commands.add_parser("execute", help="materialize assets, streaming events on stdout")
    common(execute)
    execute.add_argument("--assets", help="comma-separated keys, e.g. raw,sales/orders [$KUBEASSET_ASSETS]")
    execute.add_argument("--run", help="run name [$KUBEASSET_RUN_NAME]")
    execute.add_argument("--storage", help="directory or fsspec URL for values [$KUBEASSET_STORAGE_URL]")
    execute.add_argument("--scheduled-time", help="RFC 3339 scheduled time [$KUBEASSET_SCHEDULED_TIME]")
    execute.add_argument("--tags", help="JSON object of run tags [$KUBEASSET_RUN_TAGS]")
    execute.add_argument("--config", help="JSON object of run config [$KUBEASSET_RUN_CONFIG]")
    return parser


def parse_arguments(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    """Parse ``argv`` and fill every option not given from the environment."""
    args = build_parser().parse_args(argv)
    for option, variable in ENV.items():
        if getattr(args, option, None) is None and hasattr(args, option) and environ.get(variable):
            setattr(args, option, environ[variable])
    if not args.module:
        raise RunnerError("no module given: pass --module or set KUBEASSET_MODULE")
    return args


def termination_log_path(args: argparse.Namespace) -> str | None:
    """Where to write the summary; None outside a Pod (no option, no env, no /dev/termination-log)."""
    if args.termination_log:
        return str(args.termination_log)
    return DEFAULT_TERMINATION_LOG if os.path.exists(DEFAULT_TERMINATION_LOG) else None


def parse_asset_list(text: str | None) -> list[str]:
    """``"a, b/c,,a"`` -> ``["a", "b/c"]``: split on commas, strip, drop empties and repeats."""
    if not text:
        raise RunnerError("no assets given: pass --assets a,b or set KUBEASSET_ASSETS")
    keys = [item.strip() for item in text.split(",") if item.strip()]
    if not keys:
        raise RunnerError(f"--assets {text!r} names no asset")
    return list(dict.fromkeys(keys))


def parse_json_object(text: str | None, option: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError; over-long integers; deep nesting
        reason = "it is nested too deeply" if isinstance(error, RecursionError) else str(error)[:300]
        raise RunnerError(f"{option} is not valid JSON: {reason}") from error
    if not isinstance(value, dict):
        raise RunnerError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def parse_scheduled_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise RunnerError(f"--scheduled-time {text!r} is not an RFC 3339 time: {error}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
