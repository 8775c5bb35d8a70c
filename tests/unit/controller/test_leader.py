"""The leader-election glue without a cluster: a lost Lease stops the writers before the operator and fails the
run; a clean stop does not; the Lease's namespace defaults to the Pod's own; the command line elects by default."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubeasset.controller import operator
from kubeasset.controller.leader import default_namespace, run_while_leading
from kubeasset.errors import LeadershipLostError


class _Elector:
    """Loses its Lease after ``lose_after`` seconds (never when None)."""

    lease = "Lease ns/kubeasset-controller"

    def __init__(self, lose_after: float | None) -> None:
        self.lose_after = lose_after

    async def hold(self) -> None:
        if self.lose_after is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.lose_after or 0.0)
        raise LeadershipLostError(f"lost leadership of {self.lease} to pod-b")


def _operator(steps: list[str]) -> Any:
    async def operate(flag: Any) -> None:
        steps.append("operator started")
        await flag  # the future run_while_leading hands kopf
        steps.append("operator stopped")

    return operate


def test_losing_the_lease_stops_the_writers_first_then_the_operator_and_fails_the_run() -> None:
    steps: list[str] = []

    async def scenario() -> None:
        await run_while_leading(
            _Elector(lose_after=0.05),  # type: ignore[arg-type]
            _operator(steps),
            on_lost=lambda: steps.append("writers stopped"),
        )

    with pytest.raises(LeadershipLostError, match="to pod-b"):
        asyncio.run(scenario())
    assert steps == ["operator started", "writers stopped", "operator stopped"]


@pytest.mark.parametrize("flag_type", [threading.Event, asyncio.Event])
def test_a_stop_flag_stops_the_operator_without_an_error(flag_type: type[Any]) -> None:
    steps: list[str] = []

    async def scenario() -> None:
        stop = flag_type()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        await run_while_leading(
            _Elector(lose_after=None),  # type: ignore[arg-type]
            _operator(steps),
            stop_flag=stop,
            on_lost=lambda: steps.append("writers stopped"),
        )

    asyncio.run(asyncio.wait_for(scenario(), 5))
    assert steps == ["operator started", "operator stopped"]


def test_without_election_the_operator_gets_the_callers_flag() -> None:
    seen: list[Any] = []
    stop = threading.Event()

    async def operate(flag: Any) -> None:
        seen.append(flag)

    asyncio.run(run_while_leading(None, operate, stop_flag=stop))
    assert seen == [stop]


def test_the_lease_lives_in_the_pods_namespace_else_default(tmp_path: Path) -> None:
    file = tmp_path / "namespace"
    assert default_namespace(file) == "default"
    file.write_text("kubeasset-system\n")
    assert default_namespace(file) == "kubeasset-system"
    file.write_text("")
    assert default_namespace(file) == "default"


def test_the_command_line_elects_a_leader_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeasset.cli.main import cli

    ran: list[operator.ControllerOptions] = []
    monkeypatch.setattr(operator, "run", ran.append)
    monkeypatch.setattr(operator, "configure_logging", lambda *args, **kwargs: None)
    runner = CliRunner()
    assert runner.invoke(cli, ["controller", "run", "-n", "shop"]).exit_code == 0
    assert runner.invoke(cli, ["controller", "run", "--no-leader-elect"]).exit_code == 0
    assert runner.invoke(cli, ["controller", "run", "--leader-election-namespace", "ops"]).exit_code == 0
    elect, no_elect, ops = ran
    assert elect.leader_election and elect.lease_name == "kubeasset-controller"
    assert not no_elect.leader_election
    assert ops.leader_election_namespace == "ops"
    assert not operator.ControllerOptions().leader_election  # the in-process embedding stays single

    from kubeasset.controller.__main__ import main

    monkeypatch.setattr("kubeasset.controller.__main__.run", ran.append)
    monkeypatch.setattr("kubeasset.controller.__main__.configure_logging", lambda *args, **kwargs: None)
    assert main(["--no-leader-elect"]) == 0 and not ran[-1].leader_election
    assert main(["--leader-election-id", "tenant-a"]) == 0 and ran[-1].lease_name == "tenant-a"
