"""``kubeasset crds``: write the CustomResourceDefinitions generated from the API models."""

from __future__ import annotations

from pathlib import Path

import click

from kubeasset.api.crds import generate_crds, write_crds


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write one YAML file per kind into (the repository keeps them in crds/). "
    "Without it, all CRDs are printed to stdout as one multi-document YAML stream.",
)
def crds(out_dir: Path | None) -> None:
    """Generate the CRD YAML from the models (kubectl apply -f the result)."""
    if out_dir is None:
        click.echo("---\n".join(generate_crds().values()), nl=False)
        return
    for path in write_crds(out_dir):
        click.echo(f"wrote {path}")
