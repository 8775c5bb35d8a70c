"""materialize(): order, values, metadata, events, failures, skips, raise_on_error, cancellation."""

from __future__ import annotations

import pytest

from kubeasset import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
    materialize,
)
from kubeasset.errors import EmptySelectionError, SelectionError, StorageError
from kubeasset.sdk import (
    AssetFailed,
    AssetMaterialized,
    AssetSkipped,
    AssetStarted,
    AssetState,
    ExecutionEvent,
    RunFinished,
    RunStarted,
)

calls: list[str] = []


@asset
def raw_orders() -> list[int]:
    calls.append("raw_orders")
    return [3, 1, 2]


@asset(key_prefix="warehouse", code_version="7")
def orders(raw_orders: list[int]) -> MaterializeResult:
    calls.append("orders")
    rows = sorted(raw_orders)
    return MaterializeResult(
        value=rows,
        metadata={
            "dagster/row_count": len(rows),
            "dashboard": MetadataValue.url("https://example.com/orders"),
            "preview": MetadataValue.md("| id |"),
            "load_time": MetadataValue.duration(1.25),
            "ratio": 0.5,
            "columns": ["id"],
            "complete": True,
        },
    )


@asset(deps=[orders])
def notify() -> None:
    calls.append("notify")


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def test_runs_in_topological_order_and_passes_values() -> None:
    @asset(ins={"orders": AssetIn(key="warehouse/orders")})
    def total(context: AssetExecutionContext, orders: list[int]) -> int:
        return sum(orders)

    result = materialize([notify, total, orders, raw_orders], run_name="r1")

    assert result.success
    assert calls == ["raw_orders", "orders", "notify"]
    assert result.run_name == "r1"
    assert result.asset_value("warehouse/orders") == [1, 2, 3]
    assert result.asset_value("total") == 6
    assert result.materialized_keys == [
        AssetKey("raw_orders"),
        AssetKey(["warehouse", "orders"]),
        AssetKey("notify"),
        AssetKey("total"),
    ]
    assert result.failed_keys == [] and result.skipped_keys == []


def test_materialize_result_metadata_types_reach_result_and_event() -> None:
    events: list[ExecutionEvent] = []
    result = materialize([raw_orders, orders], on_event=events.append)

    orders_result = result.asset_result("warehouse/orders")
    assert orders_result.state is AssetState.MATERIALIZED
    assert {key: value.type for key, value in orders_result.metadata.items()} == {
        "dagster/row_count": "int",
        "dashboard": "url",
        "preview": "md",
        "load_time": "duration",
        "ratio": "float",
        "columns": "json",
        "complete": "bool",
    }
    assert orders_result.metadata["dagster/row_count"].value == 3
    assert orders_result.code_version == "7"
    materialized = [e for e in events if isinstance(e, AssetMaterialized) and e.asset_key == orders.key]
    assert len(materialized) == 1
    assert materialized[0].metadata == orders_result.metadata
    assert materialized[0].code_version == "7"
    assert materialized[0].data_version == orders_result.data_version is not None
    assert materialized[0].duration_seconds >= 0


def test_events_arrive_live_in_order() -> None:
    seen: list[str] = []

    def on_event(event: ExecutionEvent) -> None:
        key = getattr(event, "asset_key", None)
        seen.append(f"{type(event).__name__}:{key}" if key else type(event).__name__)

    @asset
    def observer(raw_orders: list[int]) -> int:
        # The events of upstream assets were delivered before this asset's function ran.
        seen.append("observer-ran")
        return 1

    result = materialize([raw_orders, observer], on_event=on_event)
    assert seen == [
        "RunStarted",
        "AssetStarted:raw_orders",
        "AssetMaterialized:raw_orders",
        "AssetStarted:observer",
        "observer-ran",
        "AssetMaterialized:observer",
        "RunFinished",
    ]
    assert isinstance(result.events[0], RunStarted) and isinstance(result.events[-1], RunFinished)
    assert result.events[0].asset_keys == (AssetKey("raw_orders"), AssetKey("observer"))
    finished = result.events[-1]
    assert finished.success and dict(finished.counts) == {
        "total": 2,
        "materialized": 2,
        "failed": 0,
        "skipped": 0,
        "canceled": 0,
    }


def test_context_carries_run_information_and_output_metadata() -> None:
    seen: dict[str, object] = {}

    @asset
    def inspect_context(context: AssetExecutionContext) -> int:
        seen.update(
            run_name=context.run_name,
            run_id=context.run_id,
            key=context.asset_key,
            tags=dict(context.run_tags),
            config=dict(context.run_config),
        )
        context.add_output_metadata({"seen": True})
        return 1

    result = materialize(
        [inspect_context], run_name="ctx-run", tags={"team": "sales"}, run_config={"limit": 5}
    )
    assert seen == {
        "run_name": "ctx-run",
        "run_id": "ctx-run",
        "key": AssetKey("inspect_context"),
        "tags": {"team": "sales"},
        "config": {"limit": 5},
    }
    assert result.asset_result("inspect_context").metadata["seen"] == MetadataValue.bool(True)


def test_failure_skips_downstream_and_names_the_failed_upstream() -> None:
    @asset
    def broken(raw_orders: list[int]) -> list[int]:
        raise ValueError(f"bad row in {len(raw_orders)} rows")

    @asset
    def child(broken: list[int]) -> int:
        return 1

    @asset(deps=[child])
    def grandchild() -> int:
        return 1

    @asset
    def independent(raw_orders: list[int]) -> int:
        return len(raw_orders)

    events: list[ExecutionEvent] = []
    result = materialize(
        [raw_orders, broken, child, grandchild, independent], raise_on_error=False, on_event=events.append
    )

    assert not result.success
    assert result.failed_keys == [AssetKey("broken")]
    assert result.skipped_keys == [AssetKey("child"), AssetKey("grandchild")]
    assert result.asset_value("independent") == 3

    failure = result.asset_result("broken")
    assert failure.state is AssetState.FAILED
    assert failure.error is not None
    assert failure.error.type == "ValueError"
    assert failure.error.message == "bad row in 3 rows"
    # The traceback starts in user code, not in the executor.
    assert failure.error.traceback.splitlines()[0] == "Traceback (most recent call last):"
    assert "in broken" in failure.error.traceback.splitlines()[1] + failure.error.traceback.splitlines()[2]
    assert "executor.py" not in failure.error.traceback
    assert isinstance(failure.exception, ValueError)

    grandchild_result = result.asset_result("grandchild")
    assert grandchild_result.upstream == (AssetKey("child"),)
    assert grandchild_result.failed_upstream == (AssetKey("broken"),)

    failed_events = [e for e in events if isinstance(e, AssetFailed)]
    assert [e.asset_key for e in failed_events] == [AssetKey("broken")]
    assert failed_events[0].error == failure.error
    skipped = {e.asset_key: e for e in events if isinstance(e, AssetSkipped)}
    assert skipped[AssetKey("child")].upstream == (AssetKey("broken"),)
    assert skipped[AssetKey("grandchild")].failed_upstream == (AssetKey("broken"),)
    # A skipped asset is never started.
    assert not [e for e in events if isinstance(e, AssetStarted) and e.asset_key in skipped]
    with pytest.raises(Exception, match=r"asset broken did not materialize \(Failed\): ValueError"):
        result.asset_value("broken")


def test_raise_on_error_reraises_the_first_user_exception_after_the_run() -> None:
    class OrdersError(Exception):
        pass

    @asset
    def first(raw_orders: list[int]) -> int:
        raise OrdersError("first")

    @asset
    def second(raw_orders: list[int]) -> int:
        raise KeyError("second")

    @asset
    def last_independent() -> int:
        calls.append("last_independent")
        return 1

    with pytest.raises(OrdersError, match="first"):
        materialize([raw_orders, first, second, last_independent])
    # The run went on after the failures before raising.
    assert "last_independent" in calls


def test_selection_runs_only_selected_and_loads_sources_from_the_io_manager() -> None:
    from kubeasset.sdk import InMemoryIOManager

    io = InMemoryIOManager()
    materialize([raw_orders, orders], io_manager=io)
    calls.clear()

    result = materialize([raw_orders, orders], selection="key:warehouse/orders", io_manager=io)
    assert calls == ["orders"]
    assert list(result.asset_results) == [AssetKey(["warehouse", "orders"])]


def test_unstored_source_fails_the_asset_that_needs_it() -> None:
    result = materialize([raw_orders, orders], selection=["warehouse/orders"], raise_on_error=False)
    failure = result.asset_result("warehouse/orders")
    assert failure.state is AssetState.FAILED
    assert failure.error is not None
    assert failure.error.type == "kubeasset.errors.StoredValueNotFoundError"
    assert "needs the value of raw_orders" in failure.error.message
    assert "storage=" in failure.error.message


def test_materialize_result_without_value_cannot_feed_a_parameter() -> None:
    @asset
    def export() -> MaterializeResult:
        return MaterializeResult(metadata={"table": "x"})

    @asset
    def reads_export(export: object) -> int:
        return 1

    @asset(deps=[export])
    def after_export() -> int:
        return 1

    result = materialize([export, reads_export, after_export], raise_on_error=False)
    assert result.asset_result("export").state is AssetState.MATERIALIZED
    assert not result.asset_result("export").stored
    assert result.asset_result("export").data_version is None
    assert result.asset_result("after_export").state is AssetState.MATERIALIZED
    error = result.asset_result("reads_export").error
    assert error is not None and "list export in deps=" in error.message
    assert isinstance(result.asset_result("reads_export").exception, StorageError)


def test_none_annotated_asset_stores_nothing() -> None:
    result = materialize([raw_orders, orders, notify])
    assert result.asset_result("notify").state is AssetState.MATERIALIZED
    assert not result.asset_result("notify").stored
    with pytest.raises(Exception, match="stored no value"):
        result.asset_value("notify")


def test_data_version_is_stable_and_follows_the_value() -> None:
    state = {"rows": [1, 2]}

    @asset
    def table() -> list[int]:
        return list(state["rows"])

    first = materialize([table]).asset_result("table").data_version
    second = materialize([table]).asset_result("table").data_version
    state["rows"] = [1, 2, 3]
    third = materialize([table]).asset_result("table").data_version
    assert first == second and first != third
    assert first is not None and len(first) == 32

    @asset
    def versioned() -> MaterializeResult:
        return MaterializeResult(value=1, data_version="2024-05-01")

    assert materialize([versioned]).asset_result("versioned").data_version == "2024-05-01"


def test_invalid_runtime_metadata_fails_the_asset_with_a_clear_message() -> None:
    @asset
    def bad_metadata() -> MaterializeResult:
        return MaterializeResult(value=1, metadata={"x": {1, 2}})

    result = materialize([bad_metadata], raise_on_error=False)
    error = result.asset_result("bad_metadata").error
    assert error is not None
    assert error.type == "kubeasset.errors.InvalidMetadataError"
    assert "cannot use a set" in error.message


def test_accepts_definitions_and_asset_selection_objects() -> None:
    from kubeasset import AssetSelection

    defs = Definitions(assets=[raw_orders, orders, notify])
    result = materialize(defs, selection=AssetSelection.keys("raw_orders").downstream(depth=1))
    assert list(result.asset_results) == [AssetKey("raw_orders"), AssetKey(["warehouse", "orders"])]


def test_empty_selection_and_unknown_keys_are_errors() -> None:
    with pytest.raises(EmptySelectionError, match="group:nothing"):
        materialize([raw_orders], selection="group:nothing")
    with pytest.raises(SelectionError, match="nope"):
        materialize([raw_orders], selection=["nope"])


def test_storage_and_io_manager_are_exclusive(tmp_path: object) -> None:
    from kubeasset.sdk import InMemoryIOManager

    with pytest.raises(TypeError, match="not both"):
        materialize([raw_orders], storage=str(tmp_path), io_manager=InMemoryIOManager())


def test_keyboard_interrupt_cancels_the_rest_and_propagates() -> None:
    events: list[ExecutionEvent] = []

    @asset
    def interrupted(raw_orders: list[int]) -> int:
        raise KeyboardInterrupt

    @asset
    def later(interrupted: int) -> int:
        return 1

    with pytest.raises(KeyboardInterrupt):
        materialize([raw_orders, interrupted, later], on_event=events.append)
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.canceled and not finished.success
    assert dict(finished.counts) == {"total": 3, "materialized": 1, "failed": 0, "skipped": 0, "canceled": 2}
