"""What a run tells the Asset catalog: a new ``lastMaterialization`` for each asset it materialized and a
``lastFailure`` for each asset it failed on, bounded to what an Asset object can hold.

Derived from a :class:`~kubeasset.reconcile.run_progress.RunProgress`, so the catalog learns of each
materialization while the run is still going (sensors react to upstream materializations early), and
applying the same update again changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeasset.api.asset import AssetFailure, Materialization
from kubeasset.reconcile.run_progress import RunProgress
from kubeasset.reconcile.status_bounds import CATALOG_METADATA_BYTES, bound_metadata, cut_message, short_string


@dataclass(frozen=True)
class CatalogUpdate:
    """What the catalog records for one asset of a run: a new ``lastMaterialization`` or ``lastFailure``
    (exactly one is set). Applying it twice is a no-op for a catalog that compares run name and time."""

    key: str
    materialization: Materialization | None = None
    failure: AssetFailure | None = None


def catalog_updates(
    progress: RunProgress, *, run_name: str, code_versions: Mapping[str, str | None] | None = None
) -> tuple[CatalogUpdate, ...]:
    """The Asset catalog's new entries from a run: every materialization (with its metadata bounded to
    CATALOG_METADATA_BYTES) and every failure, in the run's order.

    ``code_versions`` (key -> the definition's code version, from the Asset objects' spec) fills in the
    code version of a materialization whose event was not read, so that it is not taken for Stale.

    Example::

        for update in catalog_updates(progress, run_name=run.metadata.name):
            apply_to_asset(asset_name(update.key), update)
    """
    updates = [
        CatalogUpdate(
            key=record.key,
            materialization=Materialization.model_validate(
                {
                    "runName": run_name,
                    "time": record.time,
                    "metadata": bound_metadata(record.metadata, CATALOG_METADATA_BYTES),
                    "codeVersion": short_string(
                        record.code_version if record.reported else (code_versions or {}).get(record.key)
                    ),
                    "dataVersion": short_string(record.data_version),
                }
            ),
        )
        for record in progress.materializations
    ]
    updates += [
        CatalogUpdate(
            key=record.key,
            failure=AssetFailure(run_name=run_name, time=record.time, message=cut_message(record.message)),
        )
        for record in progress.failures
    ]
    order = {status.key: index for index, status in enumerate(progress.assets)}
    return tuple(sorted(updates, key=lambda update: order.get(update.key, len(order))))
