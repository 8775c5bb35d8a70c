"""IO managers: values persist across runs through storage; missing or unstorable values fail clearly."""

from __future__ import annotations

import pickle
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubeasset import AssetIn, AssetKey, FilesystemIOManager, IOManager, asset, materialize
from kubeasset.errors import StorageError
from kubeasset.sdk import AssetState, InputContext, OutputContext

runs: list[str] = []


@asset(key_prefix="lake")
def raw() -> list[int]:
    runs.append("raw")
    return [1, 2, 3]


@asset(deps=[raw])
def audit() -> int:
    runs.append("audit")
    return 0


@asset(ins={"values": AssetIn(key="lake/raw")})
def summary(values: list[int]) -> int:
    runs.append("summary")
    return sum(values)


@pytest.fixture(autouse=True)
def _reset() -> None:
    runs.clear()


def test_second_run_loads_the_unselected_upstream_from_storage(tmp_path: Path) -> None:
    first = materialize([raw, summary], storage=tmp_path)
    assert first.success and runs == ["raw", "summary"]
    stored = tmp_path / "lake" / "raw"
    assert pickle.loads(stored.read_bytes()) == [1, 2, 3]
    assert first.asset_result("lake/raw").metadata["path"].value == str(stored)

    runs.clear()
    second = materialize([raw, summary], selection=["summary"], storage=tmp_path)
    assert runs == ["summary"]  # raw was loaded, not recomputed
    assert second.asset_value("summary") == 6
    assert list(second.asset_results) == [AssetKey("summary")]


def test_missing_stored_value_fails_only_that_asset(tmp_path: Path) -> None:
    result = materialize(
        [raw, summary, audit], selection=["summary", "audit"], storage=tmp_path, raise_on_error=False
    )
    summary_result = result.asset_result("summary")
    assert summary_result.state is AssetState.FAILED
    assert summary_result.error is not None
    assert summary_result.error.type == "kubeasset.errors.StoredValueNotFoundError"
    assert f"no stored value at {tmp_path / 'lake' / 'raw'}" in summary_result.error.message
    assert "materialize lake/raw first" in summary_result.error.message
    # deps= upstreams are never loaded: audit runs although lake/raw was never stored.
    assert result.asset_result("audit").state is AssetState.MATERIALIZED


def test_fsspec_url_storage() -> None:
    url = f"memory://kubeasset-test-{uuid.uuid4().hex}"
    materialize([raw], storage=url)
    runs.clear()
    result = materialize([raw, summary], selection="summary", storage=url)
    assert runs == ["summary"] and result.asset_value("summary") == 6
    path = result.asset_result("summary").metadata["path"].value
    assert path.startswith("memory://") and path.endswith(f"{url.removeprefix('memory://')}/summary")


def test_values_are_read_back_through_storage_when_asked(tmp_path: Path) -> None:
    io = FilesystemIOManager(tmp_path)
    result = materialize([raw], io_manager=io)
    assert io.load_input(InputContext(asset_key=raw.key, downstream_key=raw.key, run_name="x")) == [1, 2, 3]
    assert result.asset_value("lake/raw") == [1, 2, 3]


def test_unpicklable_value_fails_the_asset_and_leaves_no_partial_file(tmp_path: Path) -> None:
    @asset
    def lock() -> Any:
        return threading.Lock()

    result = materialize([lock], storage=tmp_path, raise_on_error=False)
    error = result.asset_result("lock").error
    assert error is not None
    assert error.type == "kubeasset.errors.StorageError"
    assert "cannot be pickled" in error.message
    assert list(tmp_path.rglob("*")) == []


def test_failed_store_keeps_the_previous_value(tmp_path: Path) -> None:
    state: dict[str, Any] = {"value": [1]}

    @asset
    def flaky() -> Any:
        return state["value"]

    materialize([flaky], storage=tmp_path)
    state["value"] = threading.Lock()
    materialize([flaky], storage=tmp_path, raise_on_error=False)
    assert pickle.loads((tmp_path / "flaky").read_bytes()) == [1]


def test_storage_that_is_not_a_directory_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "lake"
    blocker.write_text("a file where a directory is needed")
    result = materialize([raw], storage=tmp_path, raise_on_error=False)
    error = result.asset_result("lake/raw").error
    assert error is not None and "cannot store the value of lake/raw" in error.message


def test_custom_io_manager_receives_keys_and_can_add_metadata() -> None:
    class RecordingIOManager(IOManager):
        def __init__(self) -> None:
            self.stored: dict[AssetKey, Any] = {}
            self.loaded: list[tuple[AssetKey, AssetKey]] = []

        def handle_output(self, context: OutputContext, obj: Any) -> None:
            self.stored[context.asset_key] = obj
            context.add_output_metadata({"where": "dict"})

        def load_input(self, context: InputContext) -> Any:
            self.loaded.append((context.asset_key, context.downstream_key))
            return self.stored[context.asset_key]

    io = RecordingIOManager()
    materialize([raw], io_manager=io)
    result = materialize([raw, summary], selection="summary", io_manager=io)
    assert io.stored == {AssetKey(["lake", "raw"]): [1, 2, 3], AssetKey("summary"): 6}
    assert io.loaded == [(AssetKey(["lake", "raw"]), AssetKey("summary"))]
    assert result.asset_result("summary").metadata["where"].value == "dict"


def test_io_manager_errors_fail_the_asset() -> None:
    class BrokenIOManager(IOManager):
        def handle_output(self, context: OutputContext, obj: Any) -> None:
            raise OSError("disk full")

        def load_input(self, context: InputContext) -> Any:
            raise AssertionError("not called")

    result = materialize([raw, audit], io_manager=BrokenIOManager(), raise_on_error=False)
    assert result.asset_result("lake/raw").error is not None
    assert result.asset_result("lake/raw").error.message == "disk full"  # type: ignore[union-attr]
    assert result.asset_result("audit").state is AssetState.SKIPPED


def test_unknown_fsspec_protocol_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot use storage"):
        FilesystemIOManager("nosuchprotocol://bucket/x")
