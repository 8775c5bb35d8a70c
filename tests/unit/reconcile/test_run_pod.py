"""build_run_pod: the run's one Pod, as the API server and the runner will see it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeasset.api import AssetJob, AssetRun, CodeLocation, parse_resource
from kubeasset.api.assetrun import SCHEDULED_TIME_ANNOTATION
from kubeasset.errors import RunPodError
from kubeasset.reconcile.pod_settings import merge_pod_settings
from kubeasset.reconcile.run_pod import (
    MAX_ENV_STRING_BYTES,
    RUN_CONTAINER_NAME,
    RunPodDefaults,
    build_run_pod,
    deep_merge,
    run_image,
)
from kubeasset.runner.settings import parse_arguments, parse_asset_list, parse_json_object, parse_scheduled_time

FIXTURES = Path(__file__).parents[1] / "api" / "fixtures"
KEYS = ["raw/customers", "raw/orders", "cleaned_orders", "customer_lifetime_value"]
DIGEST = "sha256:" + "0a" * 32


def load(name: str) -> Any:
    return parse_resource(yaml.safe_load((FIXTURES / f"{name}.yaml").read_text()))


def location(**spec: Any) -> CodeLocation:
    data = yaml.safe_load((FIXTURES / "codelocation.yaml").read_text())
    data["spec"].update(spec)
    data["status"]["imageId"] = f"registry.example.com/shop@{DIGEST}"
    return CodeLocation.model_validate(data)


def job(**spec: Any) -> AssetJob:
    data = yaml.safe_load((FIXTURES / "assetjob.yaml").read_text())
    data["spec"].update(spec)
    return AssetJob.model_validate(data)


def run(**spec: Any) -> AssetRun:
    data = yaml.safe_load((FIXTURES / "assetrun.yaml").read_text())
    data["metadata"]["uid"] = "8f14e45f-ceea-467e-a6e7-1c4a9d1b2f3c"
    data["spec"].update(spec)
    data.pop("status")
    return AssetRun.model_validate(data)


def adhoc_run() -> AssetRun:
    return AssetRun.model_validate(
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetRun",
            "metadata": {"name": "adhoc-1", "namespace": "analytics", "uid": "u-2"},
            "spec": {"codeLocation": "shop", "selection": "key:raw/orders", "config": {"limit": 5}},
        }
    )


def build(
    the_run: AssetRun | None = None,
    *,
    the_job: AssetJob | None = None,
    no_job: bool = False,
    the_location: CodeLocation | None = None,
    keys: list[str] | None = None,
    settings: RunPodDefaults | None = None,
) -> dict[str, Any]:
    return build_run_pod(
        the_run or run(),
        job=None if no_job else (the_job or job()),
        location=the_location or location(),
        asset_keys=KEYS if keys is None else keys,
        settings=settings or RunPodDefaults(),
    )


def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    assert only["name"] == RUN_CONTAINER_NAME
    result: dict[str, Any] = only
    return result


def env(pod: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container(pod)["env"]}


def test_same_inputs_give_a_byte_identical_manifest() -> None:
    first, second = build(), build()
    assert json.dumps(first) == json.dumps(second)


def test_the_pod_is_named_after_its_run_and_owned_by_it() -> None:
    pod = build()
    assert pod["metadata"]["name"] == "sales-daily-29015580"
    assert pod["metadata"]["namespace"] == "analytics"
    assert pod["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "kubeasset.dev/v1alpha1",
            "kind": "AssetRun",
            "name": "sales-daily-29015580",
            "uid": "8f14e45f-ceea-467e-a6e7-1c4a9d1b2f3c",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_a_run_without_uid_cannot_own_a_pod() -> None:
    the_run = run()
    the_run.metadata.uid = None
    with pytest.raises(RunPodError, match="uid"):
        build(the_run)


def test_labels_identify_the_run_and_carry_its_tags() -> None:
    labels = build()["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "kubeasset"
    assert labels["app.kubernetes.io/component"] == "run"
    assert labels["kubeasset.dev/code-location"] == "shop"
    assert labels["kubeasset.dev/job"] == "sales-job"
    assert labels["kubeasset.dev/run"] == "sales-daily-29015580"
    assert labels["team"] == "sales"  # job tag
    assert labels["trigger"] == "nightly"  # run tag
    assert "kubeasset.dev/job" not in build(adhoc_run(), no_job=True)["metadata"]["labels"]


def test_kubeasset_labels_win_over_user_labels_and_tags() -> None:
    the_location = location(pod={"labels": {"kubeasset.dev/run": "spoofed", "team": "data"}})
    labels = build(run(tags={"app.kubernetes.io/component": "x"}), the_location=the_location)["metadata"]["labels"]
    assert labels["kubeasset.dev/run"] == "sales-daily-29015580"
    assert labels["app.kubernetes.io/component"] == "run"
    assert labels["team"] == "sales"  # a tag wins over a Pod settings label


def test_the_pod_is_locked_down() -> None:
    pod = build(the_location=location(pod=None))
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container(pod)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": False,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(pod)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container(pod)["command"] == ["python", "-m", "kubeasset.runner", "execute"]
    assert "args" not in container(pod)


def test_security_contexts_from_settings_replace_the_defaults() -> None:
    the_location = location(
        pod={"securityContext": {"readOnlyRootFilesystem": True}, "podSecurityContext": {"runAsUser": 1000}}
    )
    pod = build(the_location=the_location)
    assert container(pod)["securityContext"] == {"readOnlyRootFilesystem": True}
    assert pod["spec"]["securityContext"] == {"runAsUser": 1000}


def test_the_runner_reads_back_what_the_pod_sets() -> None:
    pod = build()
    values = {name: value for name, value in env(pod).items() if isinstance(value, str)}
    args = parse_arguments(["execute"], values)
    assert args.module == "shop"
    assert args.working_directory == "/app"
    assert args.run == "sales-daily-29015580"
    assert args.storage == "file:///data/shop"
    assert parse_asset_list(args.assets) == KEYS
    assert parse_json_object(args.tags, "--tags") == {
        "team": "sales",
        "example.com/cost-center": "4711",
        "trigger": "nightly",
    }
    assert parse_json_object(args.config, "--config") == {"report": {"currency": "EUR", "top": 10}}
    assert parse_scheduled_time(args.scheduled_time) == datetime(2025, 3, 2, 5, 0, tzinfo=UTC)


def test_a_scheduled_run_carries_its_scheduled_time_as_annotation_and_env() -> None:
    pod = build()
    assert pod["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == "2025-03-02T05:00:00Z"
    assert env(pod)["KUBEASSET_SCHEDULED_TIME"] == "2025-03-02T05:00:00Z"
    manual = build(adhoc_run(), no_job=True)
    assert SCHEDULED_TIME_ANNOTATION not in manual["metadata"].get("annotations", {})
    assert "KUBEASSET_SCHEDULED_TIME" not in env(manual)


def test_runner_variables_come_first_and_cannot_be_overridden() -> None:
    the_location = location(
        pod={
            "env": [
                {"name": "KUBEASSET_ASSETS", "value": "everything"},
                {"name": "KUBEASSET_LOG_LEVEL", "value": "DEBUG"},
                {"name": "OUT", "value": "$(KUBEASSET_RUN_NAME).csv"},
            ]
        }
    )
    items = container(build(the_location=the_location, the_job=job(pod=None)))["env"]
    names = [item["name"] for item in items]
    assert names.index("KUBEASSET_RUN_NAME") < names.index("OUT")
    assert names.count("KUBEASSET_ASSETS") == 1
    assert {item["name"]: item["value"] for item in items}["KUBEASSET_ASSETS"] == ",".join(KEYS)
    assert "KUBEASSET_LOG_LEVEL" in names


def test_job_pod_settings_are_laid_over_the_location_settings() -> None:
    the_job = job(
        pod={
            "env": [{"name": "SHOP_REGION", "value": "us"}, {"name": "EXTRA", "value": "1"}],
            "envFrom": [{"configMapRef": {"name": "sales"}}],
            "resources": {"requests": {"cpu": "2"}},
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "spot", "operator": "Exists"}],
            "volumes": [{"name": "assets", "emptyDir": {}}],
            "volumeMounts": [{"name": "assets", "mountPath": "/data", "readOnly": True}],
            "serviceAccountName": "sales-runner",
        }
    )
    pod = build(the_job=the_job)
    values = env(pod)
    assert values["SHOP_REGION"] == "us"  # replaced in place
    assert values["DB_PASSWORD"] == {"secretKeyRef": {"name": "shop-db", "key": "password"}}  # kept
    names = [item["name"] for item in container(pod)["env"]]
    assert names.index("SHOP_REGION") < names.index("DB_PASSWORD") < names.index("EXTRA")
    sources = [item.get("configMapRef") or item.get("secretRef") for item in container(pod)["envFrom"]]
    assert [source["name"] for source in sources] == ["shop-settings", "shop-s3", "sales"]  # concatenated
    assert container(pod)["resources"] == {"requests": {"cpu": "2"}}  # replaced whole
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/arch": "amd64", "pool": "batch"}
    assert [t["key"] for t in pod["spec"]["tolerations"]] == ["dedicated", "spot"]
    assert pod["spec"]["volumes"] == [{"name": "assets", "emptyDir": {}}]
    assert container(pod)["volumeMounts"] == [{"name": "assets", "mountPath": "/data", "readOnly": True}]
    assert pod["spec"]["serviceAccountName"] == "sales-runner"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert pod["spec"]["affinity"]["nodeAffinity"]  # kept from the location, unknown fields and all


def test_volume_mounts_merge_by_mount_path() -> None:
    base = location(pod={"volumeMounts": [{"name": "a", "mountPath": "/data"}, {"name": "a", "mountPath": "/x"}]})
    over = job(pod={"volumeMounts": [{"name": "b", "mountPath": "/data"}]})
    assert merge_pod_settings(base.spec.pod, over.spec.pod)["volumeMounts"] == [
        {"name": "b", "mountPath": "/data"},
        {"name": "a", "mountPath": "/x"},
    ]


def test_run_config_is_deep_merged_over_the_job_config() -> None:
    pod = build(run(config={"report": {"top": 3}, "dry_run": True}))
    assert json.loads(env(pod)["KUBEASSET_RUN_CONFIG"]) == {
        "report": {"currency": "EUR", "top": 3},
        "dry_run": True,
    }
    assert deep_merge({"a": {"b": 1}, "c": [1]}, {"a": 2, "c": [2]}) == {"a": 2, "c": [2]}


def test_run_tags_win_over_job_tags() -> None:
    pod = build(run(tags={"team": "finance"}))
    assert json.loads(env(pod)["KUBEASSET_RUN_TAGS"])["team"] == "finance"
    assert pod["metadata"]["labels"]["team"] == "finance"


def test_an_adhoc_run_uses_the_location_and_the_controller_defaults() -> None:
    settings = RunPodDefaults(
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}},
        service_account_name="kubeasset-runs",
        image_pull_policy="Always",
        run_as_user=1000,
        run_timeout_seconds=7200,
    )
    pod = build(adhoc_run(), no_job=True, the_location=location(pod=None), settings=settings)
    assert container(pod)["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert container(pod)["imagePullPolicy"] == "Always"
    assert pod["spec"]["serviceAccountName"] == "kubeasset-runs"
    assert pod["spec"]["securityContext"]["runAsUser"] == 1000
    assert pod["spec"]["activeDeadlineSeconds"] == 7200
    assert json.loads(env(pod)["KUBEASSET_RUN_CONFIG"]) == {"limit": 5}
    assert "KUBEASSET_RUN_TAGS" not in env(pod)


def test_the_job_run_timeout_is_the_active_deadline() -> None:
    assert build(the_job=job(runTimeoutSeconds=900))["spec"]["activeDeadlineSeconds"] == 900
    assert "activeDeadlineSeconds" not in build(the_job=job(runTimeoutSeconds=None))["spec"]


def test_settings_win_over_controller_defaults() -> None:
    settings = RunPodDefaults(resources={"requests": {"cpu": "100m"}}, service_account_name="default-runner")
    pod = build(settings=settings)
    assert container(pod)["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}}  # the job's
    assert pod["spec"]["serviceAccountName"] == "shop-runner"  # the location's


def test_no_storage_url_leaves_the_runner_default() -> None:
    pod = build(the_location=location(storage=None, workingDirectory=None))
    assert "KUBEASSET_STORAGE_URL" not in env(pod)
    assert "KUBEASSET_WORKING_DIRECTORY" not in env(pod)


class TestImage:
    def test_the_discovered_digest_is_run(self) -> None:
        assert container(build())["image"] == f"registry.example.com/shop@{DIGEST}"

    def test_docker_pullable_image_ids_are_understood(self) -> None:
        the_location = location()
        assert the_location.status is not None
        the_location.status.image_id = f"docker-pullable://registry.example.com/shop@{DIGEST}"
        assert run_image(the_location, pin_digest=True) == f"registry.example.com/shop@{DIGEST}"

    def test_a_bare_image_id_is_not_pullable(self) -> None:
        the_location = location()
        assert the_location.status is not None
        the_location.status.image_id = DIGEST
        assert run_image(the_location, pin_digest=True) == "registry.example.com/shop:1.4.2"

    def test_a_discovery_of_an_older_spec_is_not_trusted(self) -> None:
        the_location = location()
        the_location.metadata.generation = 4  # the image changed; discovery has not run yet
        assert run_image(the_location, pin_digest=True) == "registry.example.com/shop:1.4.2"

    def test_a_failed_discovery_is_not_trusted(self) -> None:
        the_location = location()
        assert the_location.status is not None
        the_location.status.conditions[0].status = "False"  # type: ignore[assignment]
        assert run_image(the_location, pin_digest=True) == "registry.example.com/shop:1.4.2"

    def test_pinning_can_be_turned_off(self) -> None:
        pod = build(settings=RunPodDefaults(pin_image_digest=False))
        assert container(pod)["image"] == "registry.example.com/shop:1.4.2"


class TestAssetList:
    def test_five_thousand_assets_of_twenty_characters_fit(self) -> None:
        keys = [f"asset_{index:014d}" for index in range(5000)]
        pod = build(keys=keys)
        assert parse_asset_list(env(pod)["KUBEASSET_ASSETS"]) == keys

    def test_ten_thousand_assets_are_refused_with_advice(self) -> None:
        keys = [f"warehouse/table_{index:08d}" for index in range(10000)]
        with pytest.raises(RunPodError, match=r"KUBEASSET_ASSETS .* more than the 131,072 bytes.*split the job"):
            build(keys=keys)

    def test_the_limit_is_linux_max_arg_strlen(self) -> None:
        key_length = 63
        # NAME=k1,k2,...,kn plus a NUL: 17 + n * 64 bytes.
        fitting = (MAX_ENV_STRING_BYTES - len("KUBEASSET_ASSETS=")) // (key_length + 1)
        keys = [f"{index:063d}" for index in range(fitting)]
        build(keys=keys)
        with pytest.raises(RunPodError):
            build(keys=[*keys, "x" * 63])

    def test_no_asset_is_refused(self) -> None:
        with pytest.raises(RunPodError, match="no asset"):
            build(keys=[])

    def test_invalid_or_repeated_keys_are_refused(self) -> None:
        with pytest.raises(RunPodError, match="invalid asset key"):
            build(keys=["raw/orders", "a,b"])
        with pytest.raises(RunPodError, match="listed twice: raw/orders"):
            build(keys=["raw/orders", "raw/orders"])


def test_an_oversized_config_is_refused() -> None:
    with pytest.raises(RunPodError, match="KUBEASSET_RUN_CONFIG"):
        build(run(config={"blob": "x" * 200_000}))


def test_an_oversized_pod_is_refused() -> None:
    big_env = [{"name": f"V{index}", "value": "x" * 30000} for index in range(40)]
    with pytest.raises(RunPodError, match="etcd"):
        build(the_location=location(pod={"env": big_env}))


def test_building_does_not_modify_the_inputs() -> None:
    the_location, the_job, the_run = location(), job(), run()
    before = (the_location.model_dump(), the_job.model_dump(), the_run.model_dump())
    pod = build(the_run, the_job=the_job, the_location=the_location)
    container(pod)["securityContext"]["capabilities"]["drop"].append("NET_RAW")
    assert (the_location.model_dump(), the_job.model_dump(), the_run.model_dump()) == before
    assert build(the_run, the_job=the_job, the_location=the_location) != pod
