"""``kubeasset materialize``: run a code location's assets in this process, with live progress per asset
and a summary table, exactly as a run Pod would (the same executor), but on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kubeasset.cli.code_location_options import code_location_options, load
from kubeasset.cli.progress import ProgressPrinter, render_summary
from kubeasset.cli.run_commands import parse_tags
from kubeasset.sdk import materialize as run_materialize
from kubeasset.selection import CoercibleToAssetSelection

#: Exit code when the run did not materialize every selected asset.
EXIT_ASSETS_FAILED = 1

#: Where local runs keep asset values between invocations, like Dagster's $DAGSTER_HOME/storage.
DEFAULT_STORAGE = os.path.join(".kubeasset", "storage")


@click.command()
@code_location_options
@click.option("--select", "selection", default=None, help="Selection expression (default: every asset).")
@click.option("--job", "job_name", default=None, help="Run the assets of this job defined in the code location.")
@click.option(
    "--storage",
    default=None,
    help="Directory or fsspec URL for asset values; a later run loads upstream values from here. "
    f"Default: $KUBEASSET_STORAGE or {DEFAULT_STORAGE} under the current directory.",
)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Run tag (repeatable).")
@click.option("--run-name", default=None, help="Name of the run (default: local-<random>).")
def materialize(
    module_name: str,
    working_directory: Path | None,
    selection: str | None,
    job_name: str | None,
    storage: str | None,
    tags: tuple[str, ...],
    run_name: str | None,
) -> int:
    """Materialize assets in this process; exits 1 when any asset did not materialize."""
    if selection is not None and job_name is not None:
        raise click.UsageError("use --select or --job, not both")
    definitions = load(module_name, working_directory)
    chosen: CoercibleToAssetSelection | None = selection
    run_tags = parse_tags(tags)
    if job_name is not None:
        job = definitions.get_job(job_name)
        chosen = definitions.resolve_job_assets(job_name)
        run_tags = {**job.tags, **run_tags}
    if storage is None:
        storage = os.environ.get("KUBEASSET_STORAGE") or DEFAULT_STORAGE
    printer = ProgressPrinter()
    result = run_materialize(
        definitions,
        chosen,
        storage=storage,
        run_name=run_name,
        tags=run_tags,
        raise_on_error=False,
        on_event=printer,
    )
    click.echo(render_summary(result))
    return 0 if result.success else EXIT_ASSETS_FAILED

