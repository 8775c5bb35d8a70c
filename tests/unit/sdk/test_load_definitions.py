"""load_definitions: import a code location like Dagster, and fail with one actionable error."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubeasset import AssetKey
from kubeasset.errors import CodeLocationLoadError
from kubeasset.sdk import load_definitions

ModuleFactory = Callable[[str], str]


@pytest.fixture
def make_module(tmp_path: Path) -> Iterator[ModuleFactory]:
    """Write a uniquely named module into tmp_path; restore sys.path and sys.modules afterwards."""
    saved_path = list(sys.path)
    created: list[str] = []

    def make(source: str) -> str:
        name = f"kubeasset_test_defs_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        created.append(name)
        return name

    yield make
    sys.path[:] = saved_path
    for name in created:
        sys.modules.pop(name, None)


GOOD = textwrap.dedent("""
    from kubeasset import Definitions, asset, define_asset_job

    @asset
    def a() -> int:
        return 1

    defs = Definitions(assets=[a], jobs=[define_asset_job("all")])
""")


def test_loads_the_one_definitions_from_the_working_directory(
    make_module: ModuleFactory, tmp_path: Path
) -> None:
    module = make_module(GOOD)
    defs = load_definitions(module, working_directory=tmp_path)
    assert defs.asset_graph.topological_order == (AssetKey("a"),)
    assert sys.path[0] == str(tmp_path)


def test_defaults_to_the_current_directory(
    make_module: ModuleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = make_module(GOOD)
    monkeypatch.chdir(tmp_path)
    assert len(load_definitions(module).assets) == 1


def test_the_same_object_under_two_names_is_one_definitions(
    make_module: ModuleFactory, tmp_path: Path
) -> None:
    module = make_module(GOOD + "\nalias = defs\n")
    assert len(load_definitions(module, tmp_path).jobs) == 1


def test_no_definitions_names_the_module_and_its_assets(make_module: ModuleFactory, tmp_path: Path) -> None:
    module = make_module(
        """
        from kubeasset import asset

        @asset
        def lonely() -> int:
            return 1
        """
    )
    with pytest.raises(CodeLocationLoadError) as raised:
        load_definitions(module, tmp_path)
    message = str(raised.value)
    assert f"module {module!r} defines no Definitions object" in message
    assert "lonely" in message and "defs = Definitions(" in message
    assert raised.value.module == module


def test_several_definitions_lists_the_candidates(make_module: ModuleFactory, tmp_path: Path) -> None:
    module = make_module(GOOD + "\nother = Definitions(assets=[a])\n")
    with pytest.raises(CodeLocationLoadError, match=r"has 2 Definitions objects \(defs, other\)") as raised:
        load_definitions(module, tmp_path)
    assert raised.value.candidates == ("defs", "other")


def test_import_error_keeps_type_message_and_traceback(make_module: ModuleFactory, tmp_path: Path) -> None:
    module = make_module(
        """
        def helper():
            raise RuntimeError("database unreachable")

        helper()
        """
    )
    with pytest.raises(CodeLocationLoadError) as raised:
        load_definitions(module, tmp_path)
    error = raised.value
    assert f"cannot load module {module!r}: RuntimeError: database unreachable" == str(error)
    assert error.cause_type == "RuntimeError"
    assert error.traceback_text is not None
    assert "in helper" in error.traceback_text and "database unreachable" in error.traceback_text


def test_invalid_graph_at_import_names_the_cause(make_module: ModuleFactory, tmp_path: Path) -> None:
    module = make_module(
        """
        from kubeasset import Definitions, asset

        @asset(deps=["b"])
        def a() -> int:
            return 1

        @asset(deps=["a"])
        def b() -> int:
            return 1

        defs = Definitions(assets=[a, b])
        """
    )
    with pytest.raises(CodeLocationLoadError, match=r"CycleError: dependency cycle: a -> b -> a") as raised:
        load_definitions(module, tmp_path)
    assert raised.value.cause_type == "CycleError"


def test_syntax_error(make_module: ModuleFactory, tmp_path: Path) -> None:
    module = make_module("def broken(:\n")
    with pytest.raises(CodeLocationLoadError, match="SyntaxError") as raised:
        load_definitions(module, tmp_path)
    assert raised.value.cause_type == "SyntaxError"


def test_sys_exit_at_import_is_a_load_error(make_module: ModuleFactory, tmp_path: Path) -> None:
    module = make_module("import sys\nsys.exit(3)\n")
    with pytest.raises(CodeLocationLoadError, match="SystemExit"):
        load_definitions(module, tmp_path)


def test_missing_module_points_at_module_and_directory(make_module: ModuleFactory, tmp_path: Path) -> None:
    with pytest.raises(
        CodeLocationLoadError, match=r"no module named 'kubeasset_nope_x'.*" + str(tmp_path)
    ) as raised:
        load_definitions("kubeasset_nope_x.defs", tmp_path)
    assert raised.value.cause_type == "ModuleNotFoundError"


def test_missing_dependency_of_the_module_is_reported_as_such(
    make_module: ModuleFactory, tmp_path: Path
) -> None:
    module = make_module("import kubeasset_missing_dependency_zz\n")
    with pytest.raises(
        CodeLocationLoadError, match="ModuleNotFoundError: No module named 'kubeasset_missing_dependency_zz'"
    ):
        load_definitions(module, tmp_path)


def test_missing_working_directory(tmp_path: Path) -> None:
    with pytest.raises(CodeLocationLoadError, match="does not exist"):
        load_definitions("anything", tmp_path / "nope")
