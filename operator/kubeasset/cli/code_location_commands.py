"""``kubeasset describe`` and ``kubeasset select``: what a code location defines, and what a selection
expression picks from it, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubeasset.cli.code_location_options import code_location_options, load
from kubeasset.cli.table import render_table
from kubeasset.runner.describe import describe_definitions
from kubeasset.selection import resolve_selection


@click.command()
@code_location_options
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON document `runner describe` prints.")
def describe(module_name: str, working_directory: Path | None, as_json: bool) -> None:
    """List a code location's assets (in topological order) and jobs."""
    definitions = load(module_name, working_directory)
    if as_json:
        click.echo(json.dumps(describe_definitions(definitions, module_name), indent=2))
        return
    graph = definitions.asset_graph
    rows = [
        [
            spec.key.to_user_string(),
            spec.group_name,
            ", ".join(dep.to_user_string() for dep in spec.deps) or "-",
            ", ".join(sorted(spec.kinds)) or "-",
            ", ".join(spec.owners) or "-",
            ", ".join(f"{k}={v}" if v else k for k, v in sorted(spec.tags.items())) or "-",
        ]
        for spec in (graph.specs[key] for key in graph.topological_order)
    ]
    click.echo(f"Assets ({len(rows)}):")
    click.echo(render_table(["KEY", "GROUP", "DEPS", "KINDS", "OWNERS", "TAGS"], rows))
    jobs = [
        [job.name, job.selection_text, str(len(definitions.resolve_job_assets(job.name))), job.description or ""]
        for job in definitions.jobs
    ]
    click.echo(f"\nJobs ({len(jobs)}):")
    if jobs:
        click.echo(render_table(["NAME", "SELECTION", "ASSETS", "DESCRIPTION"], jobs))


@click.command()
@code_location_options
@click.argument("expression")
def select(module_name: str, working_directory: Path | None, expression: str) -> None:
    """Print the keys EXPRESSION selects, one per line, in topological order.

    EXPRESSION is in the selection language (docs/selection.md), e.g.
    'group:sales and not tag:tier=bronze' or '+key:marketing_report'.
    """
    definitions = load(module_name, working_directory)
    for key in resolve_selection(expression, definitions.asset_graph):
        click.echo(key.to_user_string())
