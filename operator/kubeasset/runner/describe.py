"""``runner describe``: the code location's assets and jobs as one JSON document on stdout."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from kubeasset.errors import CodeLocationLoadError
from kubeasset.runner.output import write_termination_message
from kubeasset.runner.settings import termination_log_path
from kubeasset.sdk.code_location import load_definitions
from kubeasset.sdk.definitions import Definitions
from kubeasset.sdk.metadata import metadata_to_json
from kubeasset.sdk.runner_protocol import (
    EXIT_ASSETS_FAILED,
    EXIT_SUCCESS,
    PROTOCOL_VERSION,
    build_error_summary,
    graph_hash,
)


def describe_definitions(definitions: Definitions, module: str) -> dict[str, Any]:
    """The describe document (see docs/runner-events.md): assets in topological order, then jobs."""
    graph = definitions.asset_graph
    assets = []
    for key in graph.topological_order:
        entry = graph.specs[key].to_dict()
        entry["metadata"] = metadata_to_json(definitions.assets_by_key[key].metadata)
        assets.append(entry)
    jobs = [
        {
            "name": job.name,
            "selection": job.selection_text,
            "description": job.description,
            "tags": dict(job.tags),
            "config": dict(job.config),
            "assetKeys": [key.to_user_string() for key in definitions.resolve_job_assets(job.name)],
        }
        for job in definitions.jobs
    ]
    return {
        "v": PROTOCOL_VERSION,
        "kind": "CodeLocationDescription",
        "module": module,
        "graphHash": graph_hash(assets),
        "assets": assets,
        "jobs": jobs,
    }


def run_describe(args: argparse.Namespace) -> int:
    module = str(args.module)
    termination_log = termination_log_path(args)
    try:
        # Whatever user code prints while importing goes to stderr: stdout carries only the document.
        with contextlib.redirect_stdout(sys.stderr):
            definitions = load_definitions(module, args.working_directory)
    except CodeLocationLoadError as error:
        document = {
            "v": PROTOCOL_VERSION,
            "kind": "CodeLocationError",
            "error": {
                "type": type(error).__name__,
                "causeType": error.cause_type,
                "message": str(error),
                "module": module,
                "candidates": list(error.candidates),
                "traceback": error.traceback_text,
            },
        }
        print(json.dumps(document, separators=(",", ":")), flush=True)
        print(f"kubeasset runner: {error}", file=sys.stderr)
        if args.debug and error.traceback_text:
            print(error.traceback_text, file=sys.stderr, end="")
        write_termination_message(
            termination_log,
            build_error_summary(
                "describe",
                error_type=error.cause_type or type(error).__name__,
                message=str(error),
                exit_code=EXIT_ASSETS_FAILED,
            ),
        )
        return EXIT_ASSETS_FAILED
    document = describe_definitions(definitions, module)
    print(json.dumps(document, separators=(",", ":"), allow_nan=False), flush=True)
    write_termination_message(
        termination_log,
        json.dumps(
            {
                "v": PROTOCOL_VERSION,
                "run": "describe",
                "result": "Succeeded",
                "exitCode": EXIT_SUCCESS,
                "assets": len(definitions.assets),
                "jobs": len(definitions.jobs),
                "graphHash": document["graphHash"],
            },
            separators=(",", ":"),
        ),
    )
    return EXIT_SUCCESS
