{{- define "accord.name" -}}accord{{- end -}}
{{- define "accord.fullname" -}}{{ printf "%s-accord" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "accord.labels" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "accord.selector" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/* The labels of the helm test pod, which the NetworkPolicy always lets reach /readyz. Not
the operator's: the Deployment, Service and PodDisruptionBudget must not select it. */}}
{{- define "accord.testSelector" -}}
app.kubernetes.io/name: accord-test
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
