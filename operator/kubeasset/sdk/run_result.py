"""The outcome of a run: one result per asset, plus the run's events, as ``materialize`` returns it."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kubeasset.errors import KubeassetError
from kubeasset.graph import AssetKey, CoercibleToAssetKey
from kubeasset.sdk.error_info import ErrorInfo
from kubeasset.sdk.events import ExecutionEvent
from kubeasset.sdk.io_manager import InputContext, IOManager
from kubeasset.sdk.materialize_result import NO_VALUE
from kubeasset.sdk.metadata import MetadataValue


class AssetState(enum.StrEnum):
    """Final state of an asset in a run; values are the AssetRun status states."""

    MATERIALIZED = "Materialized"
    FAILED = "Failed"
    #: An upstream in the same run failed or was skipped (see ``AssetResult.failed_upstream``).
    SKIPPED = "Skipped"
    #: The run was interrupted before (or while) this asset ran.
    CANCELED = "Canceled"


@dataclass(frozen=True)
class AssetResult:
    """What happened to one asset.

    ``value`` is the computed value while the run keeps values (``materialize`` does; the runner drops
    each value once no later asset needs it), else :data:`NO_VALUE`. ``exception`` is the original
    exception object of a failure (``error`` its serializable description).
    """

    key: AssetKey
    state: AssetState
    duration_seconds: float = 0.0
    metadata: Mapping[str, MetadataValue] = field(default_factory=lambda: MappingProxyType({}))
    code_version: str | None = None
    data_version: str | None = None
    stored: bool = False
    error: ErrorInfo | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    upstream: tuple[AssetKey, ...] = ()
    failed_upstream: tuple[AssetKey, ...] = ()
    value: Any = field(default=NO_VALUE, repr=False, compare=False)

    @property
    def success(self) -> bool:
        return self.state is AssetState.MATERIALIZED


class RunResult:
    """The result of :func:`materialize` (and of the runner's execution).

    Example::

        result = materialize([raw_orders, orders], raise_on_error=False)
        result.success                       # False if any asset failed or was skipped
        result.asset_value("orders")         # the value orders returned
        result.failed_keys                   # [AssetKey(['raw_orders'])]
        result.asset_result("orders").state  # AssetState.SKIPPED
    """

    def __init__(
        self,
        *,
        run_name: str,
        asset_results: Sequence[AssetResult],
        events: Sequence[ExecutionEvent],
        duration_seconds: float,
        canceled: bool,
        io_manager: IOManager,
    ) -> None:
        self.run_name = run_name
        self.asset_results: Mapping[AssetKey, AssetResult] = MappingProxyType(
            {result.key: result for result in asset_results}
        )
        self._events = events
        self.duration_seconds = duration_seconds
        self.canceled = canceled
        self._io_manager = io_manager

    @property
    def events(self) -> tuple[ExecutionEvent, ...]:
        """Every event of the run, RunStarted to RunFinished, as ``on_event`` received them."""
        return tuple(self._events)

    @property
    def success(self) -> bool:
        """True when every asset of the run materialized."""
        return not self.canceled and all(result.success for result in self.asset_results.values())

    def asset_result(self, key: CoercibleToAssetKey) -> AssetResult:
        asset_key = AssetKey.coerce(key)
        try:
            return self.asset_results[asset_key]
        except KeyError:
            ran = ", ".join(k.to_user_string() for k in self.asset_results) or "none"
            raise KubeassetError(
                f"asset {asset_key} was not part of run {self.run_name} (ran: {ran})"
            ) from None

    def asset_value(self, key: CoercibleToAssetKey) -> Any:
        """The value an asset of this run produced; loaded through the IO manager if not kept in memory."""
        result = self.asset_result(key)
        if result.state is not AssetState.MATERIALIZED:
            detail = f": {result.error.one_line()}" if result.error else ""
            raise KubeassetError(f"asset {result.key} did not materialize ({result.state.value}){detail}")
        if result.value is not NO_VALUE:
            return result.value
        if not result.stored:
            raise KubeassetError(
                f"asset {result.key} stored no value (it returned MaterializeResult without value=, or is "
                "annotated -> None)"
            )
        return self._io_manager.load_input(
            InputContext(asset_key=result.key, downstream_key=result.key, run_name=self.run_name)
        )

    def _keys_in(self, state: AssetState) -> list[AssetKey]:
        return [key for key, result in self.asset_results.items() if result.state is state]

    @property
    def materialized_keys(self) -> list[AssetKey]:
        return self._keys_in(AssetState.MATERIALIZED)

    @property
    def failed_keys(self) -> list[AssetKey]:
        return self._keys_in(AssetState.FAILED)

    @property
    def skipped_keys(self) -> list[AssetKey]:
        return self._keys_in(AssetState.SKIPPED)

    @property
    def canceled_keys(self) -> list[AssetKey]:
        return self._keys_in(AssetState.CANCELED)

    @property
    def counts(self) -> dict[str, int]:
        """Assets per state, plus the total: the ``counts`` of RunFinished and of the run summary."""
        counts = {"total": len(self.asset_results)}
        for state in AssetState:
            counts[state.value.lower()] = len(self._keys_in(state))
        return counts

    @property
    def first_exception(self) -> BaseException | None:
        """The exception of the first asset (in execution order) that failed."""
        for result in self.asset_results.values():
            if result.exception is not None:
                return result.exception
        return None

    def __repr__(self) -> str:
        return f"<RunResult {self.run_name}: success={self.success} {self.counts}>"
