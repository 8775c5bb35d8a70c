{{/* Names and labels shared by every template. */}}

{{- define "kubeasset.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubeasset.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kubeasset.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeasset.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "kubeasset.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kubeasset.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeasset
{{- end -}}

{{/* The controller's ServiceAccount name. */}}
{{- define "kubeasset.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubeasset.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The run Pods' ServiceAccount name. */}}
{{- define "kubeasset.runServiceAccountName" -}}
{{- default (printf "%s-run" (include "kubeasset.fullname" .)) .Values.runServiceAccount.name -}}
{{- end -}}

{{/* Namespaces that get the run ServiceAccount, one per line. */}}
{{- define "kubeasset.runServiceAccountNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- range .Values.watchNamespaces }}
{{ . }}
{{- end -}}
{{- else -}}
{{- range .Values.runServiceAccount.namespaces }}
{{ . }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kubeasset.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The controller's permissions on kubeasset's resources and Pods, in a watched namespace or cluster-wide. */}}
{{- define "kubeasset.controllerRules" -}}
# Watching every kubeasset kind (kopf indexes and event handlers).
- apiGroups: ["kubeasset.dev"]
  resources: ["codelocations", "assets", "assetjobs", "assetschedules", "assetsensors", "assetruns"]
  verbs: ["get", "list", "watch"]
# Status is the controller's to write; it never writes a spec it did not create.
- apiGroups: ["kubeasset.dev"]
  resources:
    - codelocations/status
    - assets/status
    - assetjobs/status
    - assetschedules/status
    - assetsensors/status
    - assetruns/status
  verbs: ["get", "patch", "update"]
# The asset catalog (Asset) and the runs that schedules, sensors and retries create.
- apiGroups: ["kubeasset.dev"]
  resources: ["assets", "assetruns"]
  verbs: ["create", "update", "patch", "delete"]
# Run and discovery Pods, and their logs (the runner's event lines).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# Events on the objects it reconciles (its own and kopf's).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
