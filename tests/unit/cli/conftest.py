"""Fixtures for the CLI tests: the repository's example code location and a way to run the command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeasset.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@dataclass
class Outcome:
    exit_code: int
    out: str
    err: str


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., Outcome]]:
    """Run ``kubeasset ARGS`` in-process from an empty directory; user modules are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)

    def run(*args: str) -> Outcome:
        code = main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    yield run
    for name in set(sys.modules) - before:
        if not name.startswith("kubeasset"):
            del sys.modules[name]
