"""The custom resources of kubeasset (group ``kubeasset.dev``, version ``v1alpha1``) as pydantic models.

Each kind's module holds its spec, status and CRD presentation; ``kubeasset.api.crds`` generates the
CRD YAML from them. Python attribute names are snake_case; JSON/YAML names are camelCase.
"""

from kubeasset.api.asset import Asset, AssetSpec, AssetState, AssetStatus, Materialization
from kubeasset.api.assetjob import AssetJob, AssetJobSpec, AssetJobStatus
from kubeasset.api.assetrun import (
    AssetRun,
    AssetRunSpec,
    AssetRunState,
    AssetRunStatus,
    RunAssetStatus,
    RunSummary,
    RunTrigger,
    TriggerType,
)
from kubeasset.api.assetschedule import (
    AssetSchedule,
    AssetScheduleSpec,
    AssetScheduleStatus,
    ConcurrencyPolicy,
)
from kubeasset.api.assetsensor import AssetSensor, AssetSensorSpec, AssetSensorStatus, SensorTrigger
from kubeasset.api.base import API_GROUP, API_VERSION, GROUP_VERSION, KubeModel, strict_context
from kubeasset.api.codelocation import CodeLocation, CodeLocationSpec, CodeLocationStatus
from kubeasset.api.common import MetadataEntry
from kubeasset.api.conditions import Condition, ConditionStatus, find_condition, set_condition
from kubeasset.api.pod import PodSettings
from kubeasset.api.registry import KINDS, RESOURCE_CLASSES, load_manifests, parse_manifest, parse_resource
from kubeasset.api.resource import KubeResource, ObjectMeta
from kubeasset.api.runs import RetryPolicy, RunPhase, RunReference

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "GROUP_VERSION",
    "KINDS",
    "RESOURCE_CLASSES",
    "Asset",
    "AssetJob",
    "AssetJobSpec",
    "AssetJobStatus",
    "AssetRun",
    "AssetRunSpec",
    "AssetRunState",
    "AssetRunStatus",
    "AssetSchedule",
    "AssetScheduleSpec",
    "AssetScheduleStatus",
    "AssetSensor",
    "AssetSensorSpec",
    "AssetSensorStatus",
    "AssetSpec",
    "AssetState",
    "AssetStatus",
    "CodeLocation",
    "CodeLocationSpec",
    "CodeLocationStatus",
    "ConcurrencyPolicy",
    "Condition",
    "ConditionStatus",
    "KubeModel",
    "KubeResource",
    "Materialization",
    "MetadataEntry",
    "ObjectMeta",
    "PodSettings",
    "RetryPolicy",
    "RunAssetStatus",
    "RunPhase",
    "RunReference",
    "RunSummary",
    "RunTrigger",
    "SensorTrigger",
    "TriggerType",
    "find_condition",
    "load_manifests",
    "parse_manifest",
    "parse_resource",
    "set_condition",
    "strict_context",
]
