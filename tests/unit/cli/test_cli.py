"""The kubeasset command as a person uses it on the example code location and on broken ones."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.unit.cli.conftest import EXAMPLES, Outcome

RunCli = Callable[..., Outcome]
SHOP = ("-d", str(EXAMPLES), "-m", "shop")


def test_describe_lists_assets_in_dependency_order_and_jobs(run_cli: RunCli) -> None:
    outcome = run_cli("describe", *SHOP)
    assert outcome.exit_code == 0, outcome.err
    keys = [line.split()[0] for line in outcome.out.splitlines()[2:11]]
    assert len(keys) == 9 and "raw/orders" in keys
    assert keys.index("raw/orders") < keys.index("cleaned_orders") < keys.index("marketing_report")
    assert "sales_job" in outcome.out and "group:marketing" in outcome.out


def test_describe_json_is_the_runner_document(run_cli: RunCli) -> None:
    outcome = run_cli("describe", *SHOP, "--json")
    document = yaml.safe_load(outcome.out)
    assert {asset["key"] for asset in document["assets"]} >= {"raw/orders", "marketing_report"}
    jobs = {job["name"]: job for job in document["jobs"]}
    assert jobs["marketing_job"]["assetKeys"] == ["raw/campaigns", "campaign_performance", "marketing_report"]


def test_select_prints_keys_in_topological_order(run_cli: RunCli) -> None:
    outcome = run_cli("select", *SHOP, "+key:top_customers")
    assert outcome.exit_code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert set(lines) == {"raw/orders", "raw/customers", "cleaned_orders", "customer_lifetime_value", "top_customers"}
    assert lines.index("raw/orders") < lines.index("cleaned_orders") < lines.index("top_customers")
    assert lines[-1] == "top_customers"


def test_select_with_a_syntax_error_exits_2_with_one_message_and_no_traceback(run_cli: RunCli) -> None:
    outcome = run_cli("select", *SHOP, "group:sales and (")
    assert outcome.exit_code == 2
    assert outcome.out == ""
    assert outcome.err.startswith("error: selection syntax error at column")
    assert "Traceback" not in outcome.err


def test_unknown_module_is_a_one_line_error(run_cli: RunCli) -> None:
    outcome = run_cli("describe", "-d", str(EXAMPLES), "-m", "no_such_module")
    assert outcome.exit_code == 2
    assert "no_such_module" in outcome.err and "Traceback" not in outcome.err


def test_materialize_runs_the_example_and_stores_values_for_the_next_run(run_cli: RunCli, tmp_path: Path) -> None:
    storage = tmp_path / "values"
    first = run_cli("materialize", *SHOP, "--storage", str(storage))
    assert first.exit_code == 0, first.out + first.err
    assert "materialized  raw/orders" in first.out
    assert "9 materialized, 0 failed, 0 skipped of 9" in first.out

    # A second run of one downstream asset reads its upstream values from storage.
    second = run_cli("materialize", *SHOP, "--storage", str(storage), "--select", "key:top_customers")
    assert second.exit_code == 0, second.out + second.err
    assert "1 materialized, 0 failed, 0 skipped of 1" in second.out


def test_materialize_a_job_runs_its_assets_only(run_cli: RunCli, tmp_path: Path) -> None:
    outcome = run_cli("materialize", *SHOP, "--job", "marketing_job", "--storage", str(tmp_path / "s"))
    # The job's upstream (cleaned_orders, top_customers) was never stored: its assets fail to load them.
    assert outcome.exit_code == 1
    assert "campaign_performance" in outcome.out and "cleaned_orders" in outcome.out


def test_materialize_default_storage_is_under_the_current_directory(run_cli: RunCli, tmp_path: Path) -> None:
    outcome = run_cli("materialize", *SHOP, "--select", "group:sales")
    assert outcome.exit_code == 0, outcome.out + outcome.err
    assert (tmp_path / ".kubeasset" / "storage" / "raw" / "orders").exists()


def _write_module(folder: Path, source: str) -> None:
    (folder / "broken_location.py").write_text(textwrap.dedent(source))


def test_materialize_reports_failures_and_exits_1(run_cli: RunCli, tmp_path: Path) -> None:
    _write_module(
        tmp_path,
        """
        from kubeasset import Definitions, asset

        @asset
        def source() -> int:
            raise ValueError("the source database is down")

        @asset
        def report(source: int) -> int:
            return source + 1

        @asset
        def independent() -> int:
            return 7

        defs = Definitions(assets=[source, report, independent])
        """,
    )
    outcome = run_cli("materialize", "-m", "broken_location", "--storage", str(tmp_path / "s"))
    assert outcome.exit_code == 1
    assert "failed        source: ValueError: the source database is down" in outcome.out
    assert "skipped       report: upstream source did not materialize" in outcome.out
    assert "materialized  independent" in outcome.out
    assert "Traceback (most recent call last)" in outcome.out  # the user's own error, to debug it
    assert "1 materialized, 1 failed, 1 skipped of 3" in outcome.out


def test_invalid_definitions_are_one_line_unless_debug(run_cli: RunCli, tmp_path: Path) -> None:
    _write_module(
        tmp_path,
        """
        from kubeasset import Definitions, asset

        @asset(deps=["missing_upstream"])
        def orphan() -> int:
            return 1

        defs = Definitions(assets=[orphan])
        """,
    )
    outcome = run_cli("describe", "-m", "broken_location")
    assert outcome.exit_code == 2
    assert "missing_upstream" in outcome.err and "Traceback" not in outcome.err


def test_materialize_rejects_select_with_job(run_cli: RunCli) -> None:
    outcome = run_cli("materialize", *SHOP, "--select", "*", "--job", "sales_job")
    assert outcome.exit_code == 2
    assert "--select or --job" in outcome.err


def test_crds_command_writes_one_file_per_kind(run_cli: RunCli, tmp_path: Path) -> None:
    outcome = run_cli("crds", "--out", str(tmp_path / "crds"))
    assert outcome.exit_code == 0, outcome.err
    kinds = {
        yaml.safe_load(path.read_text())["spec"]["names"]["kind"] for path in (tmp_path / "crds").glob("*.yaml")
    }
    assert kinds == {"CodeLocation", "Asset", "AssetJob", "AssetSchedule", "AssetSensor", "AssetRun"}
