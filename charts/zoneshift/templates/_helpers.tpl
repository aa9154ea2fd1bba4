{{/* Names and labels shared by every template. Kept plain: include, default, trunc, quote. */}}

{{- define "zoneshift.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; the release name alone when it already contains the chart's. */}}
{{- define "zoneshift.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "zoneshift.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: never change them, a Deployment's selector is immutable. */}}
{{- define "zoneshift.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zoneshift.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zoneshift.labels" -}}
{{ include "zoneshift.selectorLabels" . }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: zoneshift
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "zoneshift.chart" . }}
{{- end }}

{{- define "zoneshift.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zoneshift.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "zoneshift.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The port of operator.adminAddr (IP:PORT or [IPv6]:PORT). */}}
{{- define "zoneshift.adminPort" -}}
{{- regexFind "[0-9]+$" .Values.operator.adminAddr }}
{{- end }}
