"""Bad runner output on the real API server (issue 7, bad input): a run Pod, run by a local kubelet of this
module's own node, prints garbage event lines, bytes that are not UTF-8, a 2 MB line, events for a key with
path characters and for an asset not in the run, and a 3 MB event line of metadata. The run must still end
Succeeded, every asset Materialized, with a status message that counts what could not be read, and a
status that stays bounded (the metadata cut to the run's share, with a note)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.operator import ControllerThread
from kubeasset.reconcile.status_bounds import MAX_ASSET_METADATA_BYTES, OMITTED_METADATA_KEY
from tests.integration.controller.conftest import code_location, create, wait_for_condition
from tests.integration.controller.run_failure_helpers import asset_entry, asset_states, run_manifest, wait_for_phase

#: This module's own node: its kubelet runs only the Pods pinned to it.
NODE = "kubeasset-bad-output-tests"
CODE = Path(__file__).parent / "bad_output_code"


@pytest.fixture(scope="module")
def own_kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("bad-output-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


def test_a_run_whose_pod_prints_garbage_ends_with_every_result_and_says_what_it_could_not_read(
    api_client: client.ApiClient,
    controller: ControllerThread,
    own_kubelet: LocalKubelet,
    namespace: str,
    tmp_path: Path,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    location = code_location("noisy", "bad_output_assets", CODE, node=NODE, storage={"url": str(tmp_path)})
    create(custom, namespace, location)
    wait_for_condition(custom, namespace, "codelocations", "noisy", "True", timeout=90)
    create(
        custom,
        namespace,
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetJob",
            "metadata": {"name": "noisy-job"},
            "spec": {"codeLocation": "noisy", "selection": "*"},
        },
    )
    wait_for_condition(custom, namespace, "assetjobs", "noisy-job", "True", timeout=30)

    create(custom, namespace, run_manifest("noisy-1", "noisy-job"))
    run = wait_for_phase(custom, namespace, "noisy-1", {"Succeeded", "Failed", "Canceled"}, timeout=90)

    status: dict[str, Any] = run["status"]
    assert status["phase"] == "Succeeded", status
    assert asset_states(run) == {"noisy": "Materialized", "heavy": "Materialized", "last": "Materialized"}
    assert re.fullmatch(
        r"3 of 3 assets materialized( in \S+)?; 2 unreadable event lines \(see the Pod log\); "
        r"ignored events for 1 asset not in this run \(not_in_run\)",
        status["message"],
    ), status["message"]
    metadata = asset_entry(run, "heavy")["metadata"]
    assert OMITTED_METADATA_KEY in metadata and metadata["rows"] == {"type": "int", "value": 1}
    assert len(json.dumps(metadata, separators=(",", ":"))) <= MAX_ASSET_METADATA_BYTES
