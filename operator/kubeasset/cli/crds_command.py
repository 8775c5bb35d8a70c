"""``kubeasset crds``: write the CustomResourceDefinitions generated from the API models."""

from __future__ import annotations

from pathlib import Path

import click

from kubeasset.api.crds import REGENERATE_COMMAND, generate_crds, write_crds


@click.command()
@click.option(
    "--out",
    "out_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write one YAML file per kind into; repeat it to write several folders. The repository "
    f"keeps them in crds/ and in the Helm chart: `{REGENERATE_COMMAND}`. "
    "Without it, all CRDs are printed to stdout as one multi-document YAML stream.",
)
def crds(out_dirs: tuple[Path, ...]) -> None:
    """Generate the CRD YAML from the models (kubectl apply -f the result)."""
    if not out_dirs:
        click.echo("---\n".join(generate_crds().values()), nl=False)
        return
    for out_dir in out_dirs:
        for path in write_crds(out_dir):
            click.echo(f"wrote {path}")
