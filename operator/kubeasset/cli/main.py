"""Entry point of the ``kubeasset`` command: assembles the command groups and is the one place where
errors become exit codes and one readable line (a traceback only with ``--debug``)."""

from __future__ import annotations

import sys

import click

from kubeasset.cli.cluster_commands import cluster
from kubeasset.cli.code_location_commands import describe, select
from kubeasset.cli.controller_commands import controller
from kubeasset.cli.crds_command import crds
from kubeasset.cli.dev_command import dev
from kubeasset.cli.materialize_command import materialize
from kubeasset.cli.run_commands import launch, runs
from kubeasset.cli.schedule_commands import schedule
from kubeasset.errors import KubeassetError

#: Exit code for input kubeasset refuses (bad selection, unloadable module, invalid definitions).
EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="kubeasset")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """kubeasset: Dagster-style asset pipelines, run natively on Kubernetes."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(describe)
cli.add_command(select)
cli.add_command(materialize)
cli.add_command(crds)
cli.add_command(cluster)
cli.add_command(schedule)
cli.add_command(controller)
cli.add_command(launch)
cli.add_command(runs)
cli.add_command(dev)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (also used by tests)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        # Commands return their exit code (materialize: 1 when an asset failed); None means success.
        result = cli.main(args=args, prog_name="kubeasset", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        return usage.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KubeassetError as error:
        if debug:
            # A module that failed to import: its own traceback is what the person needs, not ours.
            original = getattr(error, "traceback_text", None)
            if original:
                click.echo(original, err=True)
            raise
        click.echo(f"error: {error}", err=True)
        return EXIT_USAGE
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
