"""The README's Troubleshooting tables explain every condition and Event reason the controller's planners can
write: the reasons are read from the source of operator/kubeasset/reconcile/ (every CamelCase string literal
that is not a docstring), so a new reason fails this test until a person documents what it means."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import kubeasset.reconcile

REPO = Path(__file__).resolve().parents[3]
RECONCILE = Path(kubeasset.reconcile.__file__).parent
_CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")

#: CamelCase literals in reconcile/ that are not reasons, by what they are. Adding to this list is a decision
#: that the word never reaches a condition's or an Event's reason.
NOT_REASONS = {
    # condition statuses and Event types
    "True",
    "False",
    "Unknown",
    "Normal",
    "Warning",
    # values written into Pod specs and kinds of objects
    "Never",
    "FallbackToLogsOnError",
    "RuntimeDefault",
    "Pod",
    "Lease",
    # leader election's decisions (reconcile/leader_lease.py), schedule decisions and concurrency policy values
    "Create",
    "Renew",
    "TakeOver",
    "Wait",
    "Launch",
    "Skip",
    "Replace",
    # kinds of the runner's JSON documents and of its errors (docs/runner-events.md)
    "CodeLocationDescription",
    "CodeLocationError",
    "CodeLocationLoadError",
    # pod_outcome's classification of a Pod, and the Pod conditions (and their reasons) it reads: a taint
    # eviction (DeletionByTaintManager) ends a run as NodeLost, with this word in the message only
    "NotCreated",
    "NotStarting",
    "DisruptionTarget",
    "PodScheduled",
    "Ready",
    "DeletionByTaintManager",
    # asset and per-asset states (status.state, status.assets[].state), not reasons
    "Missing",
    "Stale",
    "Skipped",
}


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and _CAMEL_CASE.match(node.value)
    }


def reconcile_reasons() -> set[str]:
    found: set[str] = set()
    for path in sorted(RECONCILE.glob("*.py")):
        found |= _literals(path)
    return found - NOT_REASONS


def troubleshooting_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Troubleshooting\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, "the README has no Troubleshooting section"
    return match.group(1)


def documented_reasons() -> set[str]:
    """Reasons in the first cell of the section's table rows (a cell may list several)."""
    reasons: set[str] = set()
    for line in troubleshooting_section().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            reasons |= set(re.findall(r"`([A-Za-z0-9]+)`", first_cell))
    return reasons


def test_the_reason_scan_finds_the_reasons_of_every_planner() -> None:
    # If the scan broke (a moved folder, a changed literal style) the next test would pass vacuously.
    reasons = reconcile_reasons()
    for known in (
        "ImportError",
        "InvalidCron",
        "WaitingForConcurrency",
        "OOMKilled",
        "AssetsFailed",
        "StartTimeout",
        "NoWatchedAssets",
        "UnknownCodeJob",
        "RunRetried",
        "ImagePullFailed",
    ):
        assert known in reasons
    assert len(reasons) > 60


def test_every_reason_in_reconcile_is_explained_in_the_troubleshooting_tables() -> None:
    missing = sorted(reconcile_reasons() - documented_reasons())
    assert not missing, f"reasons without a Troubleshooting row in README.md: {', '.join(missing)}"


def test_every_row_says_what_it_means_and_what_to_do() -> None:
    for line in troubleshooting_section().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            assert len(cells) == 3 and all(cells), f"a row needs reason, meaning and what to do: {line}"


def test_the_exclusions_are_still_literals_of_reconcile() -> None:
    # An exclusion that no longer occurs in the source would silently hide a future reason of that name.
    found: set[str] = set()
    for path in sorted(RECONCILE.glob("*.py")):
        found |= _literals(path)
    assert not NOT_REASONS - found, sorted(NOT_REASONS - found)
