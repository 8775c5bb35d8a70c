"""Percentiles and the report every benchmark prints, so that all figures read the same way and carry the
conditions they were taken in (cores, Python, date, load)."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``: an observed value, never an
    interpolated one, so p99 of 100 samples is the 99th smallest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Target:
    """A bound a figure must stay under: ``Target("p99", 0.25)``."""

    statistic: str
    limit: float

    def met_by(self, figures: dict[str, float]) -> bool:
        return figures[self.statistic] <= self.limit


def figures_of(values: Sequence[float]) -> dict[str, float]:
    """count, median, p50, p95, p99, max, min and mean of ``values``."""
    if not values:
        return {
            "count": 0,
            "median": math.nan,
            "p50": math.nan,
            "p95": math.nan,
            "p99": math.nan,
            "max": math.nan,
            "min": math.nan,
            "mean": math.nan,
        }
    return {
        "count": len(values),
        "median": statistics.median(values),
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "min": min(values),
        "mean": statistics.fmean(values),
    }


def print_header(title: str, conditions: dict[str, object]) -> None:
    """The benchmark's name and the conditions its figures were taken in."""
    load1, load5, _ = os.getloadavg()
    print(f"== {title}")
    print(
        f"   date {datetime.now(UTC).isoformat(timespec='seconds')}  cores {os.cpu_count()}  "
        f"python {platform.python_version()}  load average at start {load1:.2f}/{load5:.2f} (1/5 min)"
    )
    for name, value in conditions.items():
        print(f"   {name}: {value}")


def print_figures(name: str, values: Sequence[float], *, unit: str = "s", targets: Sequence[Target] = ()) -> bool:
    """One line of figures (``unit`` "s" prints milliseconds) and the verdict for each target; returns
    whether every target was met."""
    found = figures_of(values)
    scale, shown = (1000.0, "ms") if unit == "s" else (1.0, unit)
    stats = "  ".join(f"{key} {found[key] * scale:.1f}" for key in ("median", "p50", "p95", "p99", "max"))
    print(f"   {name}: count {found['count']}  {stats}  ({shown})")
    all_met = True
    for target in targets:
        met = found["count"] > 0 and target.met_by(found)
        all_met = all_met and met
        print(
            f"     target {target.statistic} <= {target.limit * scale:g} {shown}: "
            f"{'met' if met else 'MISSED'} ({found[target.statistic] * scale:.1f})"
        )
    return all_met


def print_value(
    name: str, value: float, unit: str, target: float | None = None, *, higher_is_better: bool = False
) -> bool:
    """One single figure (a rate, a duration, a memory size) and its verdict against ``target``."""
    if target is None:
        print(f"   {name}: {value:.1f} {unit}")
        return True
    met = value >= target if higher_is_better else value <= target
    relation = ">=" if higher_is_better else "<="
    print(f"   {name}: {value:.1f} {unit}  target {relation} {target:g} {unit}: {'met' if met else 'MISSED'}")
    return met
