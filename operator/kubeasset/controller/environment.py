"""The controller's settings from ``KUBEASSET_*`` environment variables: how the Helm chart's Deployment
configures the controller (values.yaml ``controller.*``, ``health.port``, ``metrics.port``), and how a person
configures ``kubeasset controller run`` outside a cluster.

Every variable is optional; an empty value means "unset" (the chart renders a null value as ``""``). A value
that does not parse stops the controller at start with a message naming the variable, rather than running
with a default the user did not ask for. Variables the controller does not know are left alone: the same
prefix is used by the runner (``KUBEASSET_ASSETS``, ...) and by ``controller.extraEnv``.

Example::

    options = apply_environment(ControllerOptions(), {"KUBEASSET_WORKERS": "16", "KUBEASSET_METRICS_PORT": "0"})
    options.workers  # 16; options.metrics_port is None (0: not served)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError, field_validator

from kubeasset.controller.operator import ControllerOptions
from kubeasset.errors import ControllerError

#: What ``KUBEASSET_LOG_LEVEL`` accepts (any case), and the logging level each means.
LOG_LEVELS: Final = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
#: Container resources as a JSON object: {"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi"}}.
Resources = Json[dict[Literal["requests", "limits"], dict[str, str | int]]]
Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[int, Field(ge=0)]
PositiveSeconds = Annotated[int, Field(ge=1)]


class ControllerEnvironment(BaseModel):
    """The ``KUBEASSET_*`` variables the controller reads (field aliases are the variable names)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(None, alias="KUBEASSET_LOG_LEVEL")
    log_json: bool | None = Field(None, alias="KUBEASSET_LOG_JSON")
    workers: Annotated[int, Field(ge=1, le=256)] | None = Field(None, alias="KUBEASSET_WORKERS")
    max_concurrent_runs: Annotated[int, Field(ge=0)] | None = Field(None, alias="KUBEASSET_MAX_CONCURRENT_RUNS")
    run_service_account: str | None = Field(None, alias="KUBEASSET_RUN_SERVICE_ACCOUNT")
    run_pod_resources: Resources | None = Field(None, alias="KUBEASSET_RUN_POD_RESOURCES")
    run_pod_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None, alias="KUBEASSET_RUN_POD_IMAGE_PULL_POLICY"
    )
    run_pod_run_as_user: Annotated[int, Field(ge=0)] | None = Field(None, alias="KUBEASSET_RUN_POD_RUN_AS_USER")
    run_pod_termination_grace_period_seconds: Seconds | None = Field(
        None, alias="KUBEASSET_RUN_POD_TERMINATION_GRACE_PERIOD_SECONDS"
    )
    run_timeout_seconds: PositiveSeconds | None = Field(None, alias="KUBEASSET_RUN_TIMEOUT_SECONDS")
    run_start_timeout_seconds: PositiveSeconds | None = Field(None, alias="KUBEASSET_RUN_START_TIMEOUT_SECONDS")
    run_pod_pin_image_digest: bool | None = Field(None, alias="KUBEASSET_RUN_POD_PIN_IMAGE_DIGEST")
    discovery_active_deadline_seconds: PositiveSeconds | None = Field(
        None, alias="KUBEASSET_DISCOVERY_ACTIVE_DEADLINE_SECONDS"
    )
    discovery_pod_resources: Resources | None = Field(None, alias="KUBEASSET_DISCOVERY_POD_RESOURCES")
    pod_cleanup_succeeded_seconds: Seconds | None = Field(None, alias="KUBEASSET_POD_CLEANUP_SUCCEEDED_SECONDS")
    pod_cleanup_failed_seconds: Seconds | None = Field(None, alias="KUBEASSET_POD_CLEANUP_FAILED_SECONDS")
    health_port: Port | None = Field(None, alias="KUBEASSET_HEALTH_PORT")
    metrics_port: Port | None = Field(None, alias="KUBEASSET_METRICS_PORT")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


def read_environment(environ: Mapping[str, str]) -> ControllerEnvironment:
    """The controller's variables of ``environ``; raises ControllerError naming each bad variable."""
    # "" is unset (a null Helm value renders as ""); "null" too, as toJson renders a null map.
    given = {name: value for name, value in environ.items() if name.startswith("KUBEASSET_")}
    set_values = {name: value for name, value in given.items() if value.strip() not in ("", "null")}
    try:
        return ControllerEnvironment.model_validate(set_values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "?"
            problems.append(f"{name}={given.get(name, '')!r}: {item['msg']}")
        raise ControllerError("invalid controller setting: " + "; ".join(problems)) from error


def apply_environment(options: ControllerOptions, environ: Mapping[str, str]) -> ControllerOptions:
    """``options`` with what ``environ``'s ``KUBEASSET_*`` variables set laid over it.

    Ports: 0 turns the endpoint off. ``KUBEASSET_MAX_CONCURRENT_RUNS`` 0 means no controller-wide limit.
    """
    env = read_environment(environ)
    run_pods = options.run_pods
    pod_changes: dict[str, Any] = {
        "service_account_name": env.run_service_account,
        "resources": env.run_pod_resources,
        "image_pull_policy": env.run_pod_image_pull_policy,
        "run_as_user": env.run_pod_run_as_user,
        "termination_grace_period_seconds": env.run_pod_termination_grace_period_seconds,
        "run_timeout_seconds": env.run_timeout_seconds,
        "start_timeout_seconds": env.run_start_timeout_seconds,
        "pin_image_digest": env.run_pod_pin_image_digest,
        "delete_succeeded_pod_after_seconds": env.pod_cleanup_succeeded_seconds,
        "delete_failed_pod_after_seconds": env.pod_cleanup_failed_seconds,
    }
    run_pods = dataclasses.replace(run_pods, **{k: v for k, v in pod_changes.items() if v is not None})
    discovery_changes: dict[str, Any] = {
        "active_deadline_seconds": env.discovery_active_deadline_seconds,
        "resources": env.discovery_pod_resources,
    }
    discovery = dataclasses.replace(options.discovery, **{k: v for k, v in discovery_changes.items() if v is not None})
    changes: dict[str, Any] = {"run_pods": run_pods, "discovery": discovery}
    if env.log_level is not None:
        changes["log_level"] = LOG_LEVELS[env.log_level]
    if env.log_json is not None:
        changes["json_logs"] = env.log_json
    if env.workers is not None:
        changes["workers"] = env.workers
    if env.max_concurrent_runs is not None:
        changes["max_concurrent_runs"] = env.max_concurrent_runs or None
    if env.health_port is not None:
        changes["health_port"] = env.health_port or None
    if env.metrics_port is not None:
        changes["metrics_port"] = env.metrics_port or None
    return dataclasses.replace(options, **changes)
