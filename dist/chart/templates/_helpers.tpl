{{/* The release's full name, used as a prefix for every object. */}}
{{- define "sim-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "sim-operator.labels" -}}
app.kubernetes.io/name: sim-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels that select the manager's pods. */}}
{{- define "sim-operator.selectorLabels" -}}
app.kubernetes.io/name: sim-operator
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end -}}

{{- define "sim-operator.serviceAccountName" -}}
{{- default (include "sim-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
