"""The one engine that runs assets: ``materialize()``, the CLI and the pod runner all call it.

It runs the requested assets one at a time in topological order, in this process. A value passes in
memory to the assets of the same run that need it, and is stored through the IO manager; an upstream
that is not part of the run is loaded through the IO manager. An asset whose upstream in the run failed
or was skipped is skipped. Every step is reported live as an :mod:`kubeasset.sdk.events` event.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from kubeasset.errors import SelectionError, StorageError
from kubeasset.graph import AssetKey
from kubeasset.sdk.assets_definition import AssetsDefinition
from kubeasset.sdk.context import AssetExecutionContext
from kubeasset.sdk.definitions import Definitions
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.events import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    AssetStarted,
    ExecutionEvent,
    RunFinished,
    RunStarted,
)
from kubeasset.sdk.io_manager import InputContext, IOManager, OutputContext
from kubeasset.sdk.materialize_result import NO_VALUE, MaterializeResult
from kubeasset.sdk.metadata import MetadataValue
from kubeasset.sdk.run_result import AssetResult, AssetState, RunResult

EventCallback = Callable[[ExecutionEvent], None]

_log = logging.getLogger("kubeasset.executor")


@dataclass(frozen=True)
class RunInfo:
    """Who is running: the run's name, tags, config and (for scheduled runs) scheduled time."""

    run_name: str
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    scheduled_time: datetime | None = None


def execute_assets(
    definitions: Definitions,
    asset_keys: Iterable[AssetKey],
    *,
    io_manager: IOManager,
    run: RunInfo,
    on_event: EventCallback | None = None,
    keep_values: bool = True,
) -> RunResult:
    """Run exactly ``asset_keys`` (in topological order, whatever the given order) and return the result.

    Raises :class:`kubeasset.errors.SelectionError` before running anything if a key is not defined.
    Exceptions raised by asset code never escape: they become the asset's FAILED result. A
    KeyboardInterrupt (the runner turns SIGTERM into one) stops the run: the asset in progress and the
    ones not started are CANCELED and the run result is returned with ``canceled=True``; the caller
    decides whether to re-raise. ``keep_values=False`` drops each value once no later asset of the run
    needs it, so a long run holds only the values still needed.
    """
    graph = definitions.asset_graph
    requested = list(dict.fromkeys(asset_keys))
    unknown = [key for key in requested if key not in graph]
    if unknown:
        raise SelectionError(
            "not defined in the code location: "
            + ", ".join(key.to_user_string() for key in unknown)
            + f" ({len(graph)} assets are defined)"
        )
    order = graph.toposort(requested)
    return _Run(definitions, order, io_manager, run, on_event, keep_values).execute()


class _Run:
    """The state of one execution; :meth:`execute` is the loop."""

    def __init__(
        self,
        definitions: Definitions,
        order: list[AssetKey],
        io_manager: IOManager,
        run: RunInfo,
        on_event: EventCallback | None,
        keep_values: bool,
    ) -> None:
        self.definitions = definitions
        self.order = order
        self.in_run = frozenset(order)
        self.io_manager = io_manager
        self.run = run
        self.on_event = on_event
        self.keep_values = keep_values
        self.events: list[ExecutionEvent] = []
        self.results: dict[AssetKey, AssetResult] = {}
        # Values computed in this run, and how many assets of the run still have to read each one.
        self.values: dict[AssetKey, Any] = {}
        self.readers_left: dict[AssetKey, int] = {key: 0 for key in order}
        for key in order:
            for upstream in set(definitions.assets_by_key[key].input_keys.values()):
                if upstream in self.in_run:
                    self.readers_left[upstream] += 1

    def emit(self, event: ExecutionEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def execute(self) -> RunResult:
        started = time.perf_counter()
        self.emit(RunStarted(run_name=self.run.run_name, asset_keys=tuple(self.order)))
        canceled = False
        for position, key in enumerate(self.order):
            try:
                self.results[key] = self.run_one(key)
            except KeyboardInterrupt:
                canceled = True
                for pending in self.order[position:]:
                    self.results[pending] = AssetResult(key=pending, state=AssetState.CANCELED)
                break
        # RunResult reads the event list lazily, so it includes the RunFinished emitted just after.
        result = RunResult(
            run_name=self.run.run_name,
            asset_results=[self.results[key] for key in self.order],
            events=self.events,
            duration_seconds=time.perf_counter() - started,
            canceled=canceled,
            io_manager=self.io_manager,
        )
        self.emit(
            RunFinished(
                run_name=self.run.run_name,
                success=result.success,
                counts=MappingProxyType(result.counts),
                duration_seconds=result.duration_seconds,
                canceled=canceled,
            )
        )
        return result

    def run_one(self, key: AssetKey) -> AssetResult:
        assets_def = self.definitions.assets_by_key[key]
        not_materialized = [
            dep
            for dep in assets_def.spec.deps
            if dep in self.in_run and self.results[dep].state is not AssetState.MATERIALIZED
        ]
        if not_materialized:
            return self.skip(key, not_materialized)

        self.emit(AssetStarted(run_name=self.run.run_name, asset_key=key))
        started = time.perf_counter()
        try:
            outcome = self.compute(assets_def)
        # The one deliberate catch-all of kubeasset: whatever asset code (or a user IO manager) raises
        # fails that asset, is reported, and the run goes on with the assets that do not depend on it.
        except Exception as error:  # noqa: BLE001
            duration = time.perf_counter() - started
            # Skip this frame and compute()'s: the traceback starts in the user's code or IO manager.
            info = ErrorInfo.from_exception(error, skip_frames=2)
            _log.error("asset %s failed: %s", key, info.one_line())
            self.emit(
                AssetFailed(run_name=self.run.run_name, asset_key=key, error=info, duration_seconds=duration)
            )
            return AssetResult(
                key=key,
                state=AssetState.FAILED,
                duration_seconds=duration,
                error=info,
                exception=error,
                code_version=assets_def.spec.code_version,
            )
        finally:
            self.release_inputs(assets_def)
        value, metadata, data_version, stored = outcome
        duration = time.perf_counter() - started
        self.emit(
            AssetMaterialized(
                run_name=self.run.run_name,
                asset_key=key,
                duration_seconds=duration,
                metadata=metadata,
                code_version=assets_def.spec.code_version,
                data_version=data_version,
                stored=stored,
            )
        )
        return AssetResult(
            key=key,
            state=AssetState.MATERIALIZED,
            duration_seconds=duration,
            metadata=metadata,
            code_version=assets_def.spec.code_version,
            data_version=data_version,
            stored=stored,
            value=value if self.keep_values else NO_VALUE,
        )

    def skip(self, key: AssetKey, not_materialized: list[AssetKey]) -> AssetResult:
        failed_roots: list[AssetKey] = []
        for dep in not_materialized:
            dep_result = self.results[dep]
            origins = [dep] if dep_result.state is AssetState.FAILED else list(dep_result.failed_upstream)
            failed_roots.extend(origin for origin in origins if origin not in failed_roots)
        self.emit(
            AssetSkipped(
                run_name=self.run.run_name,
                asset_key=key,
                upstream=tuple(not_materialized),
                failed_upstream=tuple(failed_roots),
            )
        )
        # A skipped asset will not read its inputs: let go of the values it was holding on to.
        self.release_inputs(self.definitions.assets_by_key[key])
        return AssetResult(
            key=key,
            state=AssetState.SKIPPED,
            upstream=tuple(not_materialized),
            failed_upstream=tuple(failed_roots),
        )

    def compute(
        self, assets_def: AssetsDefinition
    ) -> tuple[Any, Mapping[str, MetadataValue], str | None, bool]:
        """Load inputs, call the function, store the value: (value, metadata, data version, stored)."""
        key = assets_def.key
        kwargs = {name: self.load(upstream, key) for name, upstream in assets_def.input_keys.items()}
        context = AssetExecutionContext(
            run_name=self.run.run_name,
            asset_key=key,
            run_tags=self.run.tags,
            run_config=self.run.config,
            scheduled_time=self.run.scheduled_time,
        )
        returned = assets_def.fn(context, **kwargs) if assets_def.has_context else assets_def.fn(**kwargs)

        metadata: dict[str, MetadataValue] = dict(context.output_metadata)
        data_version: str | None = None
        if isinstance(returned, MaterializeResult):
            metadata.update(returned.metadata)
            value = returned.value
            data_version = returned.data_version
        else:
            value = returned if assets_def.stores_value else NO_VALUE

        stored = False
        if value is not NO_VALUE:
            output = OutputContext(asset_key=key, run_name=self.run.run_name)
            self.io_manager.handle_output(output, value)
            metadata.update(output.output_metadata)
            stored = True
            if data_version is None:
                data_version = hash_value(value)
            if self.keep_values or self.readers_left[key] > 0:
                self.values[key] = value
        return value, MappingProxyType(metadata), data_version, stored

    def load(self, upstream: AssetKey, downstream: AssetKey) -> Any:
        if upstream in self.in_run:
            if upstream in self.values:
                return self.values[upstream]
            # It ran (we only get here when it materialized) but produced nothing to pass on.
            raise StorageError(
                f"asset {downstream} takes {upstream} as a parameter, but {upstream} stored no value in "
                "this run (it returned MaterializeResult without value=, or is annotated -> None); "
                f"list {upstream} in deps= instead of as a parameter, or return its value"
            )
        return self.io_manager.load_input(
            InputContext(asset_key=upstream, downstream_key=downstream, run_name=self.run.run_name)
        )

    def release_inputs(self, assets_def: AssetsDefinition) -> None:
        for upstream in set(assets_def.input_keys.values()):
            if upstream not in self.in_run:
                continue
            self.readers_left[upstream] -= 1
            if not self.keep_values and self.readers_left[upstream] == 0:
                self.values.pop(upstream, None)


class _HashWriter:
    """A write-only file object feeding a hash, so hashing a value never holds its whole pickle."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


def hash_value(value: Any) -> str | None:
    """A stable data version for a value: sha256 of its pickle (first 32 hex digits), or None when the
    value cannot be pickled (an IO manager that stores it some other way may still succeed)."""
    writer = _HashWriter()
    try:
        pickle.dump(value, writer, protocol=4)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return writer.digest.hexdigest()[:32]
