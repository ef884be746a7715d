{{/* Names, truncated to 63 characters (DNS labels). */}}
{{- define "regcred.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regcred.fullname" -}}
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

{{- define "regcred.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels (Helm best practices). */}}
{{- define "regcred.labels" -}}
helm.sh/chart: {{ include "regcred.chart" . }}
{{ include "regcred.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: regcred
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "regcred.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcred.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "regcred.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "regcred.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: the existing ServiceAccount to run as (serviceAccount.create is false)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "regcred.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Lease of leader election: one per release, in the release's namespace. */}}
{{- define "regcred.leaseName" -}}
{{- include "regcred.fullname" . }}
{{- end }}

{{- define "regcred.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{- define "regcred.instance" -}}
{{- default .Release.Name .Values.instance | trunc 40 | trimSuffix "-" }}
{{- end }}

{{- define "regcred.secretMountRoot" -}}/var/run/regcred/secrets{{- end }}

{{/*
A value { secret: { name, key } } is a reference to an existing Secret's key. Replace every such
value in a registry entry (at any depth) with the file the chart mounts it at: { file: PATH }
for *From settings (regcred's secret references), the bare PATH for other settings (file paths
such as credentialsFile, certificateFile). Input: (dict "value" MAP "root" $); output: YAML.
*/}}
{{- define "regcred.resolveRefs" -}}
{{- $root := .root }}
{{- $out := dict }}
{{- range $k, $v := .value }}
{{- if and (kindIs "map" $v) (hasKey $v "secret") }}
{{- $ref := $v.secret }}
{{- if or (not (kindIs "map" $ref)) (not $ref.name) (not $ref.key) (gt (len $v) 1) }}
{{- fail (printf "registries: %s: expected { secret: { name: SECRET, key: KEY } }" $k) }}
{{- end }}
{{- $path := printf "%s/%s/%s" (include "regcred.secretMountRoot" $root) $ref.name $ref.key }}
{{- if hasSuffix "From" $k }}
{{- $_ := set $out $k (dict "file" $path) }}
{{- else }}
{{- $_ := set $out $k $path }}
{{- end }}
{{- else if kindIs "map" $v }}
{{- $_ := set $out $k (include "regcred.resolveRefs" (dict "value" $v "root" $root) | fromYaml) }}
{{- else }}
{{- $_ := set $out $k $v }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* The names of the existing Secrets referenced from registries, sorted, one per line. */}}
{{- define "regcred.collectSecretNames" -}}
{{- range $k, $v := . }}
{{- if and (kindIs "map" $v) (hasKey $v "secret") (kindIs "map" $v.secret) }}
{{ $v.secret.name }}
{{- else if kindIs "map" $v }}
{{- include "regcred.collectSecretNames" $v }}
{{- end }}
{{- end }}
{{- end }}

{{- define "regcred.referencedSecrets" -}}
{{- $names := list }}
{{- range .Values.registries }}
{{- range (include "regcred.collectSecretNames" . | splitList "\n") }}
{{- if . }}{{ $names = append $names . }}{{ end }}
{{- end }}
{{- end }}
{{- toJson (dict "names" ($names | uniq | sortAlpha)) }}
{{- end }}

{{/* regcred's config file. */}}
{{- define "regcred.config" -}}
{{- if not .Values.registries }}
{{- fail "registries: expected at least one registry (see README.md, Install with Helm)" }}
{{- end }}
{{- if not .Values.secrets }}
{{- fail "secrets: expected at least one secret: which Secret to write, with which registries, into which namespaces" }}
{{- end }}
{{- $registries := list }}
{{- range .Values.registries }}
{{- $registries = append $registries (include "regcred.resolveRefs" (dict "value" . "root" $) | fromYaml) }}
{{- end }}
{{- $config := dict "registries" $registries "secrets" .Values.secrets }}
{{- with .Values.refresh }}
{{- $_ := set $config "refresh" . }}
{{- end }}
{{- $_ := set $config "server" (dict "port" (int .Values.server.port) "host" .Values.server.host) }}
{{- $le := dict "enabled" (eq (include "regcred.leaderElection" .) "true") "namespace" .Release.Namespace "name" (include "regcred.leaseName" .) "leaseDuration" .Values.leaderElection.leaseDuration "renewDeadline" .Values.leaderElection.renewDeadline "retryPeriod" .Values.leaderElection.retryPeriod }}
{{- $_ := set $config "kubernetes" (dict "instance" (include "regcred.instance" .) "concurrency" (int .Values.concurrency) "events" .Values.events "leaderElection" $le "retiredSecrets" (.Values.retiredSecrets | default list)) }}
{{- $_ := set $config "log" (dict "level" .Values.log.level) }}
{{- $_ := set $config "pullFailures" (dict "enabled" .Values.pullFailures.enabled "minInterval" .Values.pullFailures.minInterval) }}
{{- $_ := set $config "healing" (dict "enabled" .Values.healing.enabled "maxPerMinute" (int .Values.healing.maxPerMinute)) }}
{{- toYaml $config }}
{{- end }}

{{/* Volumes and mounts shared by the Deployment and the hook Job. */}}
{{- define "regcred.volumes" -}}
- name: config
  configMap:
    name: {{ include "regcred.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- range $i, $name := (include "regcred.referencedSecrets" . | fromJson).names }}
- name: secret-{{ $i }}
  secret:
    secretName: {{ $name }}
    defaultMode: 0440
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "regcred.volumeMounts" -}}
- name: config
  mountPath: /etc/regcred
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- range $i, $name := (include "regcred.referencedSecrets" . | fromJson).names }}
- name: secret-{{ $i }}
  mountPath: {{ include "regcred.secretMountRoot" $ }}/{{ $name }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "regcred.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.nodeOptions }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod spec fields shared by the Deployment and the hook Job: pull Secrets, network, DNS. */}}
{{- define "regcred.podCommon" -}}
serviceAccountName: {{ include "regcred.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.hostNetwork }}
hostNetwork: true
{{- end }}
{{- with (.Values.dnsPolicy | default (ternary "ClusterFirstWithHostNet" "" .Values.hostNetwork)) }}
dnsPolicy: {{ . }}
{{- end }}
{{- with .Values.dnsConfig }}
dnsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.hostAliases }}
hostAliases:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Pod labels: podLabels first, then the chart's own, which win (the selector must match).
Input: (dict "root" $ "component" NAME). */}}
{{- define "regcred.podLabels" -}}
{{- $root := .root }}
{{- $labels := include "regcred.labels" $root | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/component" .component }}
{{- if $root.Values.cloudIdentity.azure.clientId }}
{{- $_ := set $labels "azure.workload.identity/use" "true" }}
{{- end }}
{{- range $k, $v := merge $labels (deepCopy $root.Values.podLabels) }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
