"""The options every command that loads a code location shares: ``-m MODULE`` and ``-d DIR``, found the
way Dagster finds a code location (the working directory on ``sys.path``, the one ``Definitions``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeasset.sdk import Definitions, load_definitions

F = TypeVar("F", bound=Callable[..., Any])


def code_location_options(command: F) -> F:
    """Add ``-m/--module`` and ``-d/--working-directory`` to a click command."""
    command = click.option(
        "-d",
        "--working-directory",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Folder put first on the import path (default: the current directory).",
    )(command)
    command = click.option(
        "-m",
        "--module",
        "module_name",
        required=True,
        help="Python module holding one Definitions object (conventionally named defs).",
    )(command)
    return command


def load(module_name: str, working_directory: Path | None) -> Definitions:
    return load_definitions(module_name, str(working_directory) if working_directory else None)
