"""Bad runner arguments, one table row each (what a hand-written AssetRun or a corrupted Pod spec could pass
to ``python -m kubeasset.runner execute``): asset keys with path characters, non-ASCII or of 10 KB, JSON
config nested too deeply or with an over-long integer. Each ends the runner with exit code 2 ("could not
start"), its reason on stderr and in a termination summary within Kubernetes' 4 KB, and no asset run."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from kubeasset.runner.main import main
from kubeasset.sdk.runner_protocol import (
    EXIT_COULD_NOT_START,
    TERMINATION_MESSAGE_LIMIT,
    parse_event_line,
    parse_run_summary,
)

MODULE = "bad_arguments_pipeline"
PIPELINE = """
    from kubeasset import Definitions, asset

    @asset
    def raw() -> int:
        return 1

    defs = Definitions(assets=[raw])
"""

ROWS = {
    "key ../etc": (["--assets", "../etc"], "'../etc' is not an asset key"),
    "key /etc/passwd": (["--assets", "raw,/etc/passwd"], "'/etc/passwd' is not an asset key"),
    "key a//b": (["--assets", "a//b"], "'a//b' is not an asset key"),
    "key not ASCII": (["--assets", "äpfel"], "'äpfel' is not an asset key"),
    "key of 10 KB": (["--assets", "k" * 10_000], "is not an asset key"),
    "unknown key": (["--assets", "raw,etc/passwd"], "unknown asset etc/passwd"),
    "config nested 5,000 deep": (["--assets", "raw", "--config", '{"a":' * 5000 + "1" + "}" * 5000], "too deeply"),
    "config with a 5,000-digit integer": (["--assets", "raw", "--config", '{"a":' + "9" * 5000 + "}"], "not valid"),
    "config not JSON": (["--assets", "raw", "--config", "{oops"], "--config is not valid JSON"),
    "tags of 10 KB": (["--assets", "raw", "--tags", json.dumps({"team": "x" * 10_000})], "a Kubernetes label value"),
    "scheduled time garbage": (["--assets", "raw", "--scheduled-time", "\x7f" * 100], "not an RFC 3339 time"),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_bad_runner_arguments_exit_2_with_the_reason_in_a_bounded_summary(
    row: tuple[list[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args, message = row
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(PIPELINE))
    termination = tmp_path / "termination"
    for variable in [name for name in os.environ if name.startswith("KUBEASSET_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("KUBEASSET_TERMINATION_LOG", str(termination))

    exit_code = main(["execute", "--module", MODULE, "--working-directory", str(tmp_path), *args])

    captured = capsys.readouterr()
    assert exit_code == EXIT_COULD_NOT_START
    assert message in captured.err
    assert [line for line in captured.out.splitlines() if parse_event_line(line)] == []
    text = termination.read_text()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    summary = parse_run_summary(text)
    assert summary.result == "Error" and summary.exit_code == EXIT_COULD_NOT_START
    assert summary.error is not None and message in summary.error["message"]
