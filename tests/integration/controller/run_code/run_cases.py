"""Assets for the AssetRun integration tests: a slow chain (live progress is observable), a chain with a
failing asset, and a chain that runs long enough to be canceled."""

import time

from kubeasset import Definitions, MaterializeResult, asset

#: Seconds each asset of the slow chain takes: long enough for a status write in between.
STEP_SECONDS = 1.0


@asset(group_name="slow")
def step_one() -> MaterializeResult:
    time.sleep(STEP_SECONDS)
    return MaterializeResult(value=1, metadata={"step": 1})


@asset(group_name="slow")
def step_two(step_one: int) -> int:
    time.sleep(STEP_SECONDS)
    return step_one + 1


@asset(group_name="slow")
def step_three(step_two: int) -> int:
    time.sleep(STEP_SECONDS)
    return step_two + 1


@asset(group_name="failing")
def template_source() -> str:
    return "hello {name}"


@asset(group_name="failing")
def report(template_source: str) -> str:
    raise ValueError("no template for the quarterly report")


@asset(group_name="failing")
def report_mail(report: str) -> str:
    return report


@asset(group_name="long")
def warm_up() -> int:
    return 1


@asset(group_name="long")
def endless(warm_up: int) -> int:
    time.sleep(120)
    return warm_up


@asset(group_name="long")
def after_endless(endless: int) -> int:
    return endless


defs = Definitions(
    assets=[step_one, step_two, step_three, template_source, report, report_mail, warm_up, endless, after_endless]
)
