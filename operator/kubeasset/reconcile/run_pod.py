"""The one Pod of an AssetRun, as a manifest: the same run, job, code location and asset list always give
the same dict, so a re-delivered event or a restarted controller asks for the very Pod it created before.

What goes in (notes/controller-design.md, "Run Pods"; docs/runner-events.md for the runner's side):

* ``python -m kubeasset.runner execute`` configured through the environment only (an argument would win
  over the env, so env alone keeps one source of truth): KUBEASSET_RUN_NAME, KUBEASSET_MODULE,
  KUBEASSET_WORKING_DIRECTORY, KUBEASSET_ASSETS (comma list, topological order), KUBEASSET_STORAGE_URL,
  KUBEASSET_SCHEDULED_TIME, KUBEASSET_RUN_TAGS, KUBEASSET_RUN_CONFIG. They come first, so the user's
  variables may reference them (``$(KUBEASSET_RUN_NAME)``); a user variable of the same name is dropped;
  KUBEASSET_LOG_LEVEL is left to the user.
* the location's then the job's Pod settings (kubeasset.reconcile.pod_settings); run tags (the job's,
  overridden by the run's) become labels too, so ``kubectl get pods -l team=sales`` finds a team's runs;
  kubeasset's own labels win over both;
* no API credentials, the "restricted" security profile, ``restartPolicy: Never``,
  ``activeDeadlineSeconds`` = the job's run timeout, ``FallbackToLogsOnError`` (a runner that dies before
  writing its summary still leaves the tail of its log as the termination message).

Size bound. Linux refuses to start a process when one environment string exceeds MAX_ARG_STRLEN
(131,072 bytes: "argument list too long"), and the API server refuses objects beyond etcd's request
limit (1.5 MiB). KUBEASSET_ASSETS is one such string: with keys of 20 characters it holds about 6,000
assets, with 30 characters about 4,200 (a job has at most kubeasset.api.types.MAX_ASSETS = 5,000).
Beyond that, and for a manifest beyond MAX_POD_MANIFEST_BYTES, :func:`build_run_pod` raises
RunPodError with the sizes and what to do, so the run fails with a clear message rather than a Pod that
never starts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import SCHEDULED_TIME_ANNOTATION, AssetRun, TriggerType
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.conditions import READY, ConditionStatus, find_condition
from kubeasset.api.types import ASSET_KEY_PATTERN, format_time
from kubeasset.errors import ApiModelError, RunPodError
from kubeasset.reconcile.naming import COMPONENT_RUN, child_labels, owner_reference, run_pod_name
from kubeasset.reconcile.pod_settings import (
    RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    RESTRICTED_POD_SECURITY_CONTEXT,
    merge_pod_settings,
    without_empty,
)

#: The name of the run Pod's container (pod_outcome.classify_pod reads its status by this name).
RUN_CONTAINER_NAME: Final = "run"
RUNNER_COMMAND: Final = ("python", "-m", "kubeasset.runner", "execute")
#: Where the runner writes its summary (its default when the file exists, as it does in a Pod).
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"

#: Linux's MAX_ARG_STRLEN (32 pages of 4 KiB): the longest ``NAME=value`` string execve accepts,
#: terminating NUL included.
MAX_ENV_STRING_BYTES: Final = 131072
#: The largest Pod manifest built: etcd's default request limit is 1.5 MiB, and the kubelet's status,
#: managedFields and annotations added by admission webhooks need room too.
MAX_POD_MANIFEST_BYTES: Final = 1024 * 1024

ENV_RUN_NAME: Final = "KUBEASSET_RUN_NAME"
ENV_MODULE: Final = "KUBEASSET_MODULE"
ENV_WORKING_DIRECTORY: Final = "KUBEASSET_WORKING_DIRECTORY"
ENV_ASSETS: Final = "KUBEASSET_ASSETS"
ENV_STORAGE_URL: Final = "KUBEASSET_STORAGE_URL"
ENV_SCHEDULED_TIME: Final = "KUBEASSET_SCHEDULED_TIME"
ENV_RUN_TAGS: Final = "KUBEASSET_RUN_TAGS"
ENV_RUN_CONFIG: Final = "KUBEASSET_RUN_CONFIG"

_ASSET_KEY_RE: Final = re.compile(ASSET_KEY_PATTERN)
#: A pullable image reference by digest, as a container status's ``imageID`` holds it (Docker-based
#: runtimes prefix ``docker-pullable://``; a bare ``sha256:...`` image ID is not pullable).
_IMAGE_DIGEST_RE: Final = re.compile(r"^(?:docker-pullable://)?([^\s@]+@sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class RunPodDefaults:
    """Controller-wide defaults of run Pods (Helm values), used where neither the code location nor the
    job says otherwise.

    Example::

        RunPodDefaults(resources={"requests": {"cpu": "100m", "memory": "256Mi"}}, run_as_user=1000)
    """

    resources: Mapping[str, Mapping[str, str | int]] | None = None
    """Container resources when the settings give none (a Pod without requests is evicted first)."""
    service_account_name: str | None = None
    """The run Pods' service account when the settings name none (its token is never mounted)."""
    image_pull_policy: str | None = None
    """Always, IfNotPresent or Never when the settings say nothing; unset: Kubernetes' default."""
    run_as_user: int | None = None
    """runAsUser of the default Pod securityContext, for images whose USER is a name (runAsNonRoot
    cannot verify a name); unset: the image's numeric USER."""
    termination_grace_period_seconds: int = 30
    """How long the runner has, after SIGTERM (cancel, deletion), to report the canceled assets."""
    run_timeout_seconds: int | None = None
    """activeDeadlineSeconds of runs whose job sets no runTimeoutSeconds (and of ad-hoc runs)."""
    start_timeout_seconds: int | None = None
    """Start timeout of runs whose job sets none (for classify_pod; not part of the manifest)."""
    pin_image_digest: bool = True
    """Run the image digest the code location's discovery ran (status.imageId), so that a mutable tag
    such as ``:latest`` runs exactly the code whose graph was discovered."""
    delete_succeeded_pod_after_seconds: int | None = None
    """Delete a succeeded run's Pod this long after the run finished (the results stay in the run's
    status); None: keep it as long as the run exists (it goes with the run)."""
    delete_failed_pod_after_seconds: int | None = None
    """The same for failed and canceled runs (kept longer by the chart: their logs explain the failure)."""


def build_run_pod(
    run: AssetRun,
    *,
    job: AssetJob | None,
    location: CodeLocation,
    asset_keys: Sequence[str],
    settings: RunPodDefaults,
) -> dict[str, Any]:
    """The Pod manifest of ``run``, which runs ``asset_keys`` (topological order) of ``location``.

    ``run`` must be the object read from the API server (its uid goes into the ownerReference).
    Raises RunPodError when the Pod cannot be built (no asset, an invalid key, a size limit).

    Example::

        pod = build_run_pod(run, job=job, location=location, asset_keys=job.status.assets,
                            settings=RunPodDefaults())
        core_v1.create_namespaced_pod(run.metadata.namespace, pod)  # 409: it exists, fine
    """
    run_name = run.metadata.name
    if not run_name:
        raise RunPodError("cannot build a run Pod for an AssetRun without metadata.name")
    keys = _checked_keys(run_name, asset_keys)
    try:
        owner = owner_reference(run)
    except ApiModelError as error:
        raise RunPodError(str(error)) from error
    pod_settings = merge_pod_settings(location.spec.pod, job.spec.pod if job is not None else None)
    tags = {**((job.spec.tags or {}) if job is not None else {}), **(run.spec.tags or {})}
    config = deep_merge((job.spec.config or {}) if job is not None else {}, run.spec.config or {})
    scheduled = scheduled_time(run)

    runner_env = without_empty(
        {
            ENV_RUN_NAME: run_name,
            ENV_MODULE: location.spec.module,
            ENV_WORKING_DIRECTORY: location.spec.working_directory,
            ENV_ASSETS: ",".join(keys),
            ENV_STORAGE_URL: location.spec.storage.url if location.spec.storage is not None else None,
            ENV_SCHEDULED_TIME: scheduled,
            ENV_RUN_TAGS: _compact_json(tags) if tags else None,
            ENV_RUN_CONFIG: _compact_json(config) if config else None,
        }
    )
    _check_env_sizes(run_name, runner_env, len(keys))
    env = [{"name": name, "value": value} for name, value in runner_env.items()]
    env += [item for item in pod_settings.get("env", []) if item["name"] not in runner_env]

    labels = {
        **pod_settings.get("labels", {}),
        **tags,
        **child_labels(
            COMPONENT_RUN,
            code_location=location.metadata.name,
            job=job.metadata.name if job is not None else None,
            run=run_name,
        ),
    }
    annotations = {**pod_settings.get("annotations", {})}
    if scheduled is not None:
        annotations[SCHEDULED_TIME_ANNOTATION] = scheduled

    pod_security_context = pod_settings.get("podSecurityContext")
    if pod_security_context is None:
        pod_security_context = _copy(RESTRICTED_POD_SECURITY_CONTEXT)
        if settings.run_as_user is not None:
            pod_security_context["runAsUser"] = settings.run_as_user
    resources = pod_settings.get("resources")
    if resources is None and settings.resources is not None:
        resources = {part: dict(values) for part, values in settings.resources.items()}
    run_timeout = job.spec.run_timeout_seconds if job is not None else None

    container = without_empty(
        {
            "name": RUN_CONTAINER_NAME,
            "image": run_image(location, pin_digest=settings.pin_image_digest),
            "imagePullPolicy": pod_settings.get("imagePullPolicy", settings.image_pull_policy),
            "command": list(RUNNER_COMMAND),
            "env": env,
            "envFrom": pod_settings.get("envFrom"),
            "resources": resources,
            "volumeMounts": pod_settings.get("volumeMounts"),
            "securityContext": pod_settings.get("securityContext", _copy(RESTRICTED_CONTAINER_SECURITY_CONTEXT)),
            "terminationMessagePath": TERMINATION_MESSAGE_PATH,
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
    )
    spec = without_empty(
        {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            # Service links would add environment variables for every Service of the namespace: noise
            # in the run's environment, and a Pod that differs with the namespace's contents.
            "enableServiceLinks": False,
            "activeDeadlineSeconds": run_timeout if run_timeout is not None else settings.run_timeout_seconds,
            "terminationGracePeriodSeconds": settings.termination_grace_period_seconds,
            "serviceAccountName": pod_settings.get("serviceAccountName", settings.service_account_name),
            "securityContext": pod_security_context,
            "containers": [container],
            "volumes": pod_settings.get("volumes"),
            "imagePullSecrets": pod_settings.get("imagePullSecrets"),
            "nodeSelector": pod_settings.get("nodeSelector"),
            "tolerations": pod_settings.get("tolerations"),
            "affinity": pod_settings.get("affinity"),
            "priorityClassName": pod_settings.get("priorityClassName"),
        }
    )
    metadata = without_empty(
        {
            "name": run_pod_name(run_name),
            "namespace": run.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        }
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    size = len(_compact_json(pod).encode())
    if size > MAX_POD_MANIFEST_BYTES:
        raise RunPodError(
            f"the Pod of run {run_name} would be {size:,} bytes, more than the {MAX_POD_MANIFEST_BYTES:,} bytes "
            "kubeasset allows (etcd stores at most 1.5 MiB per object): make the run config, the env or "
            "the asset list of the job smaller"
        )
    return pod


def scheduled_time(run: AssetRun) -> str | None:
    """A scheduled run's scheduled time, RFC 3339 UTC (``2024-05-01T02:00:00Z``): from the trigger, else
    from the run's SCHEDULED_TIME_ANNOTATION (a run created by hand for a past tick); None otherwise."""
    trigger = run.spec.trigger
    if trigger.type == TriggerType.SCHEDULE and trigger.scheduled_time is not None:
        return format_time(trigger.scheduled_time)
    annotation = (run.metadata.annotations or {}).get(SCHEDULED_TIME_ANNOTATION)
    return annotation or None


def run_image(location: CodeLocation, *, pin_digest: bool) -> str:
    """The image a run of ``location`` runs: the digest its last discovery ran when ``pin_digest`` and
    that discovery describes the current spec (Ready, observedGeneration current), else ``spec.image``.

    Pinning makes a mutable tag (``:latest``) run exactly the code whose graph the controller knows.
    """
    image = location.spec.image
    status = location.status
    if not pin_digest or "@" in image or status is None or not status.image_id:
        return image
    ready = find_condition(status.conditions, READY)
    if ready is None or ready.status != ConditionStatus.TRUE:
        return image
    generation = location.metadata.generation
    if generation is not None and status.observed_generation != generation:
        return image
    match = _IMAGE_DIGEST_RE.match(status.image_id)
    return match.group(1) if match else image


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``: nested objects are merged key by key, anything else is replaced
    (how a run's config is merged over its job's, as Dagster merges run config)."""
    merged = dict(base)
    for key, value in over.items():
        previous = merged.get(key)
        if isinstance(previous, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(previous, value)
        else:
            merged[key] = value
    return merged


def _checked_keys(run_name: str, asset_keys: Sequence[str]) -> list[str]:
    keys = list(asset_keys)
    if not keys:
        raise RunPodError(f"run {run_name} has no asset to run: its selection resolved to no asset")
    invalid = [key for key in keys if not _ASSET_KEY_RE.match(key)]
    if invalid:
        raise RunPodError(f"run {run_name}: invalid asset key(s) {', '.join(map(repr, invalid[:5]))}")
    repeated = sorted(key for key, count in Counter(keys).items() if count > 1)
    if repeated:
        raise RunPodError(f"run {run_name}: asset key(s) listed twice: {', '.join(repeated[:5])}")
    return keys


def _check_env_sizes(run_name: str, env: Mapping[str, str], asset_count: int) -> None:
    for name, value in env.items():
        size = len(name.encode()) + 1 + len(value.encode()) + 1
        if size <= MAX_ENV_STRING_BYTES:
            continue
        if name == ENV_ASSETS:
            advice = (
                f"the {asset_count:,} asset keys of the run are too many for one Pod: split the job into "
                "several jobs with smaller selections"
            )
        else:
            advice = "make it smaller (large inputs belong in storage or a ConfigMap mounted by the job)"
        raise RunPodError(
            f"run {run_name}: the environment variable {name} would be {size:,} bytes, more than the "
            f"{MAX_ENV_STRING_BYTES:,} bytes Linux accepts for one variable; {advice}"
        )


def _compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _copy(value: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON-like constant, so no two manifests share (and mutate) one nested dict."""
    result: dict[str, Any] = json.loads(json.dumps(value))
    return result
