"""Run the README's GitOps health checks the way Argo CD and Flux run them: the Argo CD Lua scripts in a real Lua
runtime (lupa; Argo CD runs gopher-lua with the object as the global ``obj``), and Flux's CEL health check
expressions with cel-python (the object's top-level fields as variables). Shared by the unit tests (status
shapes built with the API models) and the integration tests (objects read from the API server)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import lupa
import yaml

REPO = Path(__file__).resolve().parents[3]
LUA_FOLDER = REPO / "docs" / "gitops"
#: Kind -> the Lua file of its Argo CD health check (as the README's argocd-cm snippet assigns them).
ARGOCD_SCRIPTS = {
    "CodeLocation": "argocd-health-codelocation.lua",
    "AssetJob": "argocd-health-codelocation.lua",
    "AssetSchedule": "argocd-health-codelocation.lua",
    "AssetSensor": "argocd-health-codelocation.lua",
    "AssetRun": "argocd-health-assetrun.lua",
}


def argocd_health(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(status, message) of Argo CD's health check for ``obj``: Healthy, Progressing, Degraded or Suspended."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = runtime.table_from(dict(obj), recursive=True)
    script = (LUA_FOLDER / ARGOCD_SCRIPTS[obj["kind"]]).read_text(encoding="utf-8")
    result = runtime.execute(script)
    return str(result["status"]), str(result["message"])


def readme_block(marker: str) -> str:
    """The first fenced code block after the HTML comment ``<!-- marker...`` in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"<!-- {marker}")
    match = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL).search(text, start)
    assert match, f"no code block after <!-- {marker} in the README"
    return match.group(1)


@cache
def flux_expressions() -> dict[str, dict[str, str]]:
    """Kind -> {inProgress, failed, current} from the README's Kustomization healthCheckExprs."""
    kustomization = yaml.safe_load(readme_block("flux-health"))
    return {
        entry["kind"]: {name: entry[name] for name in ("inProgress", "failed", "current") if name in entry}
        for entry in kustomization["spec"]["healthCheckExprs"]
    }


_CEL = celpy.Environment()


@cache
def _program(expression: str) -> Any:
    return _CEL.program(_CEL.compile(expression))


def flux_health(obj: Mapping[str, Any]) -> set[str]:
    """The names of the README's expressions for ``obj``'s kind that hold (inProgress, failed, current); none
    holding means Flux keeps waiting, as for InProgress."""
    activation = {name: celpy.json_to_cel(value) for name, value in obj.items()}
    holding = set()
    for name, expression in flux_expressions()[obj["kind"]].items():
        try:
            result = _program(expression).evaluate(activation)
        except celpy.CELEvalError:
            # An object without the field (no status yet): the expression does not hold, Flux keeps waiting.
            continue
        if result == celpy.celtypes.BoolType(True):
            holding.add(name)
    return holding
