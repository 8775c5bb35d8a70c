"""Two tiny asset groups for tests/integration/gitops: ``good`` materializes, ``bad`` fails, so one code location
gives both a Succeeded and a Failed AssetRun for kubectl wait, kstatus and the Argo CD health checks."""

from __future__ import annotations

from kubeasset import Definitions, asset


@asset(group_name="good")
def greeting() -> str:
    return "hello"


@asset(group_name="bad")
def broken() -> int:
    raise RuntimeError("this asset fails on purpose (tests/integration/gitops)")


defs = Definitions(assets=[greeting, broken])
