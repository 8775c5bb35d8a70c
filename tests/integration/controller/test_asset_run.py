"""AssetRuns run: the real controller creates the run Pod, the package's local kubelet runs the runner with
the local Python, and the run's status, the Asset catalog and the Events follow, live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.integration.conftest import eventually
from tests.integration.controller.conftest import (
    EXAMPLES,
    GROUP,
    SHOP_ASSETS,
    VERSION,
    asset_job,
    code_location,
    create,
    get,
    items,
    wait_for_condition,
)

RUN_CODE = Path(__file__).parent / "run_code"
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Canceled"})
def run_manifest(name: str, job: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AssetRun",
        "metadata": {"name": name},
        "spec": {"job": job, **spec},
    }


def ready_job(
    custom: client.CustomObjectsApi, namespace: str, tmp_path: Path, *, module: str, folder: Path, selection: str
) -> None:
    """A Ready CodeLocation ``loc`` (values stored under tmp_path) and a Ready AssetJob ``job``."""
    create(custom, namespace, code_location("loc", module, folder, storage={"url": str(tmp_path / "storage")}))
    create(custom, namespace, asset_job("job", "loc", selection))
    wait_for_condition(custom, namespace, "codelocations", "loc", "True", timeout=90)
    wait_for_condition(custom, namespace, "assetjobs", "job", "True", timeout=30)


def wait_for_phase(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    phases: frozenset[str] = FINAL_PHASES,
    timeout: float = 60,
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def reached() -> bool:
        found["run"] = get(custom, namespace, "assetruns", name)
        return ((found["run"] or {}).get("status") or {}).get("phase") in phases

    try:
        eventually(reached, f"AssetRun {name} in phase {sorted(phases)}", timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen status: {(found.get('run') or {}).get('status')}") from None
    return dict(found["run"])


def states(run: dict[str, Any]) -> dict[str, str]:
    return {entry["key"]: entry["state"] for entry in (run.get("status") or {}).get("assets") or ()}


def run_pods(core: client.CoreV1Api, namespace: str, run: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"kubeasset.dev/run={run}").items)


def events_of(core: client.CoreV1Api, namespace: str, name: str) -> list[client.CoreV1Event]:
    return list(core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items)


def test_a_run_of_the_whole_shop_materializes_every_asset_and_fills_the_catalog(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    ready_job(custom, namespace, tmp_path, module="shop", folder=EXAMPLES, selection="*")
    create(custom, namespace, run_manifest("shop-1", "job"))
    run = wait_for_phase(custom, namespace, "shop-1", timeout=90)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert states(run) == dict.fromkeys(SHOP_ASSETS, "Materialized")
    by_key = {entry["key"]: entry for entry in status["assets"]}
    assert by_key["cleaned_orders"]["metadata"]["dagster/row_count"]["type"] == "int"
    assert by_key["cleaned_orders"]["metadata"]["dagster/row_count"]["value"] > 0
    assert by_key["raw/orders"]["metadata"]["path"]["type"] == "path"
    assert status["summary"]["materialized"] == 9 and status["summary"]["total"] == 9
    assert status["podName"] == "shop-1" and status["startTime"] and status["completionTime"]
    succeeded = next(entry for entry in status["conditions"] if entry["type"] == "Succeeded")
    assert succeeded["status"] == "True"

    # The catalog: each Asset records this run's materialization and is Materialized.
    catalog = {asset["spec"]["key"]: asset for asset in items(custom, namespace, "assets")}
    assert set(catalog) == set(SHOP_ASSETS)

    def catalog_filled() -> bool:
        catalog.update({asset["spec"]["key"]: asset for asset in items(custom, namespace, "assets")})
        return all(
            ((asset.get("status") or {}).get("lastMaterialization") or {}).get("runName") == "shop-1"
            for asset in catalog.values()
        )

    eventually(catalog_filled, "every Asset recording run shop-1", timeout=20)
    cleaned = catalog["cleaned_orders"]["status"]
    assert cleaned["state"] == "Materialized"
    assert cleaned["lastMaterialization"]["codeVersion"] == "2"
    assert cleaned["lastMaterialization"]["metadata"]["dagster/row_count"]["value"] > 0
    assert cleaned["lastMaterialization"]["time"]
    assert {asset["status"]["state"] for asset in catalog.values()} == {"Materialized"}

    # One Pod, owned by the run, with kubeasset's labels, no API credentials and the restricted profile.
    pods = run_pods(core, namespace, "shop-1")
    assert [pod.metadata.name for pod in pods] == ["shop-1"]
    pod = pods[0]
    assert pod.metadata.labels["app.kubernetes.io/managed-by"] == "kubeasset"
    assert pod.metadata.labels["app.kubernetes.io/component"] == "run"
    assert pod.metadata.labels["kubeasset.dev/job"] == "job"
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("AssetRun", "shop-1", run["metadata"]["uid"], True)
    assert pod.spec.automount_service_account_token is False
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.security_context.run_as_non_root is True
    context = pod.spec.containers[0].security_context
    assert context.allow_privilege_escalation is False
    assert context.capabilities.drop == ["ALL"]
    assert not run["metadata"].get("finalizers")

    reasons = [event.reason for event in events_of(core, namespace, "shop-1")]
    assert "RunSucceeded" in reasons
    eventually(
        lambda: (
            ((get(custom, namespace, "assetjobs", "job") or {}).get("status") or {}).get("lastRun", {}).get("phase")
            == "Succeeded"
        ),
        "the job's lastRun being shop-1, Succeeded",
        timeout=20,
    )
    job = get(custom, namespace, "assetjobs", "job")
    assert job["status"]["lastRun"]["name"] == "shop-1"  # type: ignore[index]


def test_the_status_shows_assets_materializing_one_by_one_while_the_run_goes(
    custom: client.CustomObjectsApi, namespace: str, tmp_path: Path
) -> None:
    ready_job(custom, namespace, tmp_path, module="run_cases", folder=RUN_CODE, selection="group:slow")
    create(custom, namespace, run_manifest("slow-1", "job"))
    seen: list[tuple[str | None, dict[str, str]]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = get(custom, namespace, "assetruns", "slow-1") or {}
        phase = (run.get("status") or {}).get("phase")
        if not seen or seen[-1] != (phase, states(run)):
            seen.append((phase, states(run)))
        if phase in FINAL_PHASES:
            break
        time.sleep(0.1)
    assert seen[-1][0] == "Succeeded", seen
    partial = [
        observed
        for phase, observed in seen
        if phase == "Running" and "Materialized" in observed.values() and set(observed.values()) != {"Materialized"}
    ]
    assert partial, f"no intermediate status with some assets materialized: {seen}"
    # The chain turns Materialized from its first asset on: never a later asset before an earlier one.
    order = ["step_one", "step_two", "step_three"]
    for observed in partial:
        done = [observed.get(key) == "Materialized" for key in order]
        assert done == sorted(done, reverse=True), observed
    phases = [phase for phase, _ in seen]
    assert phases.index("Running") < phases.index("Succeeded")


def test_a_failing_asset_fails_the_run_skips_downstream_and_reports_the_error(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    ready_job(custom, namespace, tmp_path, module="run_cases", folder=RUN_CODE, selection="group:failing")
    create(custom, namespace, run_manifest("fail-1", "job"))
    run = wait_for_phase(custom, namespace, "fail-1")
    status = run["status"]
    assert status["phase"] == "Failed"
    succeeded = next(entry for entry in status["conditions"] if entry["type"] == "Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "AssetsFailed")
    assert states(run) == {"template_source": "Materialized", "report": "Failed", "report_mail": "Skipped"}
    by_key = {entry["key"]: entry for entry in status["assets"]}
    assert "no template for the quarterly report" in by_key["report"]["message"]
    assert "no template for the quarterly report" in status["message"]

    warnings = [event for event in events_of(core, namespace, "fail-1") if event.type == "Warning"]
    assert any("no template for the quarterly report" in (event.message or "") for event in warnings), [
        (event.reason, event.message) for event in warnings
    ]

    def catalog_marks_the_failure() -> bool:
        assets = {asset["spec"]["key"]: asset for asset in items(custom, namespace, "assets")}
        report = assets["report"].get("status") or {}
        source = assets["template_source"].get("status") or {}
        return report.get("state") == "Failed" and source.get("state") == "Materialized"

    eventually(catalog_marks_the_failure, "the catalog marking report Failed", timeout=20)
    report = next(asset for asset in items(custom, namespace, "assets") if asset["spec"]["key"] == "report")
    assert report["status"]["lastFailure"]["runName"] == "fail-1"
    assert "no template" in report["status"]["lastFailure"]["message"]


def test_canceling_a_running_run_stops_its_pod_and_cancels_the_unfinished_assets(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    ready_job(custom, namespace, tmp_path, module="run_cases", folder=RUN_CODE, selection="group:long")
    create(custom, namespace, run_manifest("cancel-1", "job"))

    def endless_running() -> bool:
        observed = states(get(custom, namespace, "assetruns", "cancel-1") or {})
        return observed.get("warm_up") == "Materialized" and observed.get("endless") == "Running"

    eventually(endless_running, "asset endless running", timeout=60)
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "assetruns", "cancel-1", {"spec": {"cancel": True}}
    )
    run = wait_for_phase(custom, namespace, "cancel-1", timeout=60)
    assert run["status"]["phase"] == "Canceled", run["status"]
    assert states(run) == {"warm_up": "Materialized", "endless": "Canceled", "after_endless": "Canceled"}
    assert run["spec"]["cancel"] is True
    eventually(lambda: not run_pods(core, namespace, "cancel-1"), "the canceled run's Pod going away", timeout=30)
    assert "RunCanceled" in [event.reason for event in events_of(core, namespace, "cancel-1")]


def test_deleting_a_run_deletes_its_pod(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    ready_job(custom, namespace, tmp_path, module="run_cases", folder=RUN_CODE, selection="group:long")
    create(custom, namespace, run_manifest("gone-1", "job"))
    eventually(lambda: bool(run_pods(core, namespace, "gone-1")), "the run's Pod", timeout=30)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "assetruns", "gone-1")
    eventually(lambda: not run_pods(core, namespace, "gone-1"), "the Pod garbage-collected with its run", timeout=60)
    assert get(custom, namespace, "assetruns", "gone-1") is None


def test_finished_runs_beyond_the_jobs_history_limit_go_with_their_pods(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    """successfulRunsHistoryLimit 1: when the second run succeeds, the first (and its kept Pod) is deleted.
    The runs carry the job label as ``kubeasset launch`` gives them; a run applied without it (GitOps) is
    never deleted."""
    create(custom, namespace, code_location("loc", "run_cases", RUN_CODE, storage={"url": str(tmp_path / "storage")}))
    job = asset_job("job", "loc", "key:template_source")
    job["spec"]["successfulRunsHistoryLimit"] = 1
    create(custom, namespace, job)
    wait_for_condition(custom, namespace, "assetjobs", "job", "True", timeout=90)

    def launched(name: str) -> dict[str, Any]:
        manifest = run_manifest(name, "job")
        manifest["metadata"]["labels"] = {"kubeasset.dev/job": "job"}
        return manifest

    create(custom, namespace, run_manifest("applied-by-hand", "job"))
    assert wait_for_phase(custom, namespace, "applied-by-hand")["status"]["phase"] == "Succeeded"
    create(custom, namespace, launched("kept-1"))
    assert wait_for_phase(custom, namespace, "kept-1")["status"]["phase"] == "Succeeded"
    assert run_pods(core, namespace, "kept-1"), "a finished run's Pod is kept for kubectl logs"
    create(custom, namespace, launched("kept-2"))
    assert wait_for_phase(custom, namespace, "kept-2")["status"]["phase"] == "Succeeded"

    eventually(lambda: get(custom, namespace, "assetruns", "kept-1") is None, "the older run deleted", timeout=30)
    eventually(lambda: not run_pods(core, namespace, "kept-1"), "its Pod garbage-collected", timeout=60)
    assert get(custom, namespace, "assetruns", "kept-2") is not None
    assert run_pods(core, namespace, "kept-2")
    assert get(custom, namespace, "assetruns", "applied-by-hand") is not None
