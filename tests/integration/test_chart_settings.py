"""The chart's values reach the controller: the Deployment ``helm template`` renders is read the way the
controller reads its environment (kubeasset.controller.environment), so a value the chart documents but the
controller ignores, or renders in a form the controller refuses, fails here."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kubeasset.cluster.helm_binary import HelmBinary
from kubeasset.controller.environment import apply_environment
from kubeasset.controller.operator import ControllerOptions
from tests.integration.chart_support import of_kind, render_chart

pytestmark = pytest.mark.helm


def controller_options(helm: HelmBinary, values: dict[str, Any] | None = None) -> ControllerOptions:
    """The options the controller container of the rendered Deployment starts with."""
    (deployment,) = of_kind(render_chart(helm, values=values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    environ = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    return apply_environment(ControllerOptions(), environ)


def test_the_default_values_configure_the_controller_as_values_yaml_documents(helm_binary: HelmBinary) -> None:
    options = controller_options(helm_binary)
    assert (options.log_level, options.json_logs, options.workers) == (logging.INFO, False, 8)
    assert options.max_concurrent_runs is None  # 0: no controller-wide limit
    assert (options.health_port, options.metrics_port) == (8080, 9090)
    pods = options.run_pods
    assert pods.resources == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    assert (pods.delete_succeeded_pod_after_seconds, pods.delete_failed_pod_after_seconds) == (3600, 86400)
    assert pods.image_pull_policy is None and pods.run_as_user is None and pods.pin_image_digest is True
    assert options.discovery.active_deadline_seconds > 0


def test_changed_values_reach_the_controller(helm_binary: HelmBinary) -> None:
    options = controller_options(
        helm_binary,
        {
            "controller.logLevel": "DEBUG",
            "controller.jsonLogs": True,
            "controller.workers": 4,
            "controller.maxConcurrentRuns": 20,
            "controller.runPods.imagePullPolicy": "Always",
            "controller.runPods.runAsUser": 1000,
            "controller.runPods.runTimeoutSeconds": 3600,
            "controller.runPods.startTimeoutSeconds": 300,
            "controller.runPods.pinImageDigest": False,
            "controller.podCleanup.succeededAfterSeconds": None,
            "controller.podCleanup.failedAfterSeconds": 600,
            "metrics.enabled": False,
            "watchNamespaces": ["shop"],
        },
    )
    assert (options.log_level, options.json_logs, options.workers) == (logging.DEBUG, True, 4)
    assert options.max_concurrent_runs == 20 and options.metrics_port is None
    pods = options.run_pods
    assert (pods.image_pull_policy, pods.run_as_user, pods.pin_image_digest) == ("Always", 1000, False)
    assert (pods.run_timeout_seconds, pods.start_timeout_seconds) == (3600, 300)
    assert (pods.delete_succeeded_pod_after_seconds, pods.delete_failed_pod_after_seconds) == (None, 600)
    assert pods.service_account_name  # the run ServiceAccount exists in the watched namespace
