"""``kubeasset crds``: write the CustomResourceDefinitions generated from the API models."""

from __future__ import annotations

from pathlib import Path

import click

from kubeasset.api.crds import REGENERATE_COMMAND, generate_crds, write_crds
from kubeasset.api.reference import write_reference


@click.command()
@click.option(
    "--out",
    "out_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write one YAML file per kind into; repeat it to write several folders. The repository "
    f"keeps them in crds/ and in the Helm chart: `{REGENERATE_COMMAND}`. "
    "Without it (and without --reference), all CRDs are printed to stdout as one multi-document YAML stream.",
)
@click.option(
    "--reference",
    "reference_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the Markdown resource reference (every kind, field, printer column and condition) to "
    "this file; the repository keeps it in docs/reference.md.",
)
def crds(out_dirs: tuple[Path, ...], reference_file: Path | None) -> None:
    """Generate the CRD YAML (kubectl apply -f the result) and the resource reference from the models."""
    if not out_dirs and reference_file is None:
        click.echo("---\n".join(generate_crds().values()), nl=False)
        return
    for out_dir in out_dirs:
        for path in write_crds(out_dir):
            click.echo(f"wrote {path}")
    if reference_file is not None:
        click.echo(f"wrote {write_reference(reference_file)}")
