"""The controller's KUBEASSET_* settings: what the Helm chart sets reaches the controller's options, and a bad
value stops it at start with the variable's name (tests/integration/test_chart_settings.py feeds it the
chart's rendered Deployment)."""

from __future__ import annotations

import logging

import pytest

from kubeasset.controller.environment import apply_environment
from kubeasset.controller.operator import ControllerOptions
from kubeasset.errors import ControllerError
from kubeasset.reconcile.run_pod import RunPodDefaults


def test_every_setting_reaches_the_controller_options() -> None:
    options = apply_environment(
        ControllerOptions(),
        {
            "KUBEASSET_LOG_LEVEL": "debug",
            "KUBEASSET_LOG_JSON": "true",
            "KUBEASSET_WORKERS": "16",
            "KUBEASSET_MAX_CONCURRENT_RUNS": "25",
            "KUBEASSET_RUN_SERVICE_ACCOUNT": "kubeasset-run",
            "KUBEASSET_RUN_POD_RESOURCES": '{"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"memory":"1Gi"}}',
            "KUBEASSET_RUN_POD_IMAGE_PULL_POLICY": "IfNotPresent",
            "KUBEASSET_RUN_POD_RUN_AS_USER": "1000",
            "KUBEASSET_RUN_POD_TERMINATION_GRACE_PERIOD_SECONDS": "45",
            "KUBEASSET_RUN_TIMEOUT_SECONDS": "7200",
            "KUBEASSET_RUN_START_TIMEOUT_SECONDS": "600",
            "KUBEASSET_RUN_POD_PIN_IMAGE_DIGEST": "false",
            "KUBEASSET_DISCOVERY_ACTIVE_DEADLINE_SECONDS": "300",
            "KUBEASSET_DISCOVERY_POD_RESOURCES": '{"limits":{"memory":"2Gi"}}',
            "KUBEASSET_POD_CLEANUP_SUCCEEDED_SECONDS": "3600",
            "KUBEASSET_POD_CLEANUP_FAILED_SECONDS": "86400",
            "KUBEASSET_HEALTH_PORT": "8080",
            "KUBEASSET_METRICS_PORT": "9090",
        },
    )
    assert (options.log_level, options.json_logs, options.workers) == (logging.DEBUG, True, 16)
    assert options.max_concurrent_runs == 25
    assert (options.health_port, options.metrics_port) == (8080, 9090)
    assert options.run_pods == RunPodDefaults(
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        service_account_name="kubeasset-run",
        image_pull_policy="IfNotPresent",
        run_as_user=1000,
        termination_grace_period_seconds=45,
        run_timeout_seconds=7200,
        start_timeout_seconds=600,
        pin_image_digest=False,
        delete_succeeded_pod_after_seconds=3600,
        delete_failed_pod_after_seconds=86400,
    )
    assert options.discovery.active_deadline_seconds == 300
    assert options.discovery.resources == {"limits": {"memory": "2Gi"}}


def test_nothing_set_empty_or_null_keeps_the_defaults_and_zero_turns_things_off() -> None:
    default = ControllerOptions()
    unset = {"KUBEASSET_RUN_POD_IMAGE_PULL_POLICY": "", "KUBEASSET_RUN_POD_RESOURCES": "null", "HOME": "/root"}
    assert apply_environment(default, {}) == default
    assert apply_environment(default, unset) == default
    off = apply_environment(
        ControllerOptions(health_port=1, metrics_port=2, max_concurrent_runs=3),
        {"KUBEASSET_METRICS_PORT": "0", "KUBEASSET_HEALTH_PORT": "0", "KUBEASSET_MAX_CONCURRENT_RUNS": "0"},
    )
    assert (off.health_port, off.metrics_port, off.max_concurrent_runs) == (None, None, None)


def test_the_runners_own_variables_are_left_alone() -> None:
    environ = {"KUBEASSET_ASSETS": "a,b", "KUBEASSET_LOG_LEVEL": "WARNING", "KUBEASSET_CACHE_DIR": "/x"}
    assert apply_environment(ControllerOptions(), environ).log_level == logging.WARNING


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KUBEASSET_WORKERS", "many", "KUBEASSET_WORKERS='many': Input should be a valid integer"),
        ("KUBEASSET_WORKERS", "0", "KUBEASSET_WORKERS='0': Input should be greater than or equal to 1"),
        ("KUBEASSET_LOG_LEVEL", "chatty", "KUBEASSET_LOG_LEVEL='chatty': Input should be 'DEBUG'"),
        ("KUBEASSET_LOG_JSON", "maybe", "KUBEASSET_LOG_JSON='maybe': Input should be a valid boolean"),
        ("KUBEASSET_RUN_POD_RESOURCES", "{cpu: 1}", "KUBEASSET_RUN_POD_RESOURCES='{cpu: 1}': Invalid JSON"),
        ("KUBEASSET_RUN_POD_RESOURCES", '{"request": {}}', "KUBEASSET_RUN_POD_RESOURCES="),
        ("KUBEASSET_METRICS_PORT", "70000", "KUBEASSET_METRICS_PORT='70000': Input should be less than"),
        ("KUBEASSET_RUN_POD_IMAGE_PULL_POLICY", "Sometimes", "Input should be 'Always', 'IfNotPresent' or 'Never'"),
    ],
)
def test_a_bad_value_stops_the_controller_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ControllerError, match="invalid controller setting") as raised:
        apply_environment(ControllerOptions(), {name: value})
    assert message in str(raised.value)
