"""Trivial assets for the fault tests (tests/faults): the runs must be cheap so that a few hundred of them fit
in the tests' time, while their results still show whether the controller recorded them right.

Groups: ``pair`` (first -> second; ``second`` sleeps ``FAULT_SLEEP_SECONDS``, default 0, so a kill can land
while it runs), ``boom`` (ok -> fails, which raises: a run that must end Failed with ``ok`` Materialized),
``tick`` (tick: what the schedule runs).
"""

from __future__ import annotations

import os
import time

from kubeasset import Definitions, asset


@asset(group_name="pair")
def first() -> int:
    return 1


@asset(group_name="pair")
def second(first: int) -> int:
    time.sleep(float(os.environ.get("FAULT_SLEEP_SECONDS", "0")))
    return first + 1


@asset(group_name="boom")
def ok() -> int:
    return 1


@asset(group_name="boom")
def fails(ok: int) -> int:
    raise RuntimeError(f"fails on purpose (input {ok})")


@asset(group_name="tick")
def tick() -> str:
    return "tock"


defs = Definitions(assets=[first, second, ok, fails, tick])
