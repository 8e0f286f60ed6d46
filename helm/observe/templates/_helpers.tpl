{{/* Names and labels. */}}
{{- define "observe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "observe.fullname" -}}
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

{{/* Labels every object carries. */}}
{{- define "observe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "observe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: observe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one part; call with (dict "root" $ "part" "shipper"). */}}
{{- define "observe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "observe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .part }}
{{- end }}

{{- define "observe.partLabels" -}}
{{ include "observe.labels" .root }}
app.kubernetes.io/component: {{ .part }}
{{- end }}

{{/*
The parts of the suite: object name suffix -> Prometheus job name (what the rendered dashboards and
rules select on, whatever the release is called), values key, CLI command, and whether it reads the
Kubernetes API (then it gets a ServiceAccount token and RBAC). One table, so every loop agrees.
*/}}
{{- define "observe.partTable" -}}
shipper:
  job: observe-shipper
  key: shipper
  command: [observe, ship]
  kubeApi: true
cluster-exporter:
  job: observe-cluster-exporter
  key: clusterExporter
  command: [observe, export, cluster]
  kubeApi: true
probe-exporter:
  job: observe-probe-exporter
  key: probeExporter
  command: [observe, export, probe]
  kubeApi: true
elasticsearch-exporter:
  job: observe-elasticsearch-exporter
  key: elasticsearchExporter
  command: [observe, export, elasticsearch]
  kubeApi: false
trace-puller:
  job: observe-traces
  key: tracePuller
  command: [observe, traces, pull]
  kubeApi: false
{{- end }}

{{/* The enabled parts only, as YAML (use with fromYaml). */}}
{{- define "observe.enabledParts" -}}
{{- $out := dict }}
{{- range $part, $meta := (include "observe.partTable" . | fromYaml) }}
{{- if (index $.Values $meta.key).enabled }}
{{- $_ := set $out $part $meta }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "observe.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* ServiceAccount name of one part; call with (dict "root" $ "part" "shipper"). */}}
{{- define "observe.serviceAccountName" -}}
{{- $meta := index (include "observe.partTable" .root | fromYaml) .part -}}
{{- $sa := (index .root.Values $meta.key).serviceAccount -}}
{{- if $sa.create }}
{{- default (printf "%s-%s" (include "observe.fullname" .root) .part) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/*
THE values -> config mapping: the config file every part reads (observe/config.py's Config).
Chart-owned keys first, then each part's `config:` block merged over them, so a user can set
any key of docs/configuration.md. Secrets are not here: see observe.env and observe.commonMounts.
*/}}
{{- define "observe.config" -}}
{{- $v := .Values }}
{{- $service := dict "host" "0.0.0.0" "port" (int $v.service.port) "log_level" $v.service.logLevel "drain_timeout_seconds" $v.service.drainTimeoutSeconds }}
{{- with $v.service.otlpEndpoint }}{{ $_ := set $service "otlp_endpoint" . }}{{ end }}
{{- $es := dict "engine" $v.elasticsearch.engine "verify_certs" $v.elasticsearch.verifyCerts "sniff" $v.elasticsearch.sniff "sniff_interval_seconds" $v.elasticsearch.sniffIntervalSeconds "dead_node_backoff_seconds" $v.elasticsearch.deadNodeBackoffSeconds "dead_node_backoff_max_seconds" $v.elasticsearch.deadNodeBackoffMaxSeconds }}
{{- if $v.elasticsearch.urls }}{{ $_ := set $es "urls" $v.elasticsearch.urls }}{{ else }}{{ $_ := set $es "url" $v.elasticsearch.url }}{{ end }}
{{- with $v.elasticsearch.username }}{{ $_ := set $es "username" . }}{{ end }}
{{- if $v.elasticsearch.caSecret.name }}{{ $_ := set $es "ca_file" (printf "/etc/observe/elasticsearch-ca/%s" $v.elasticsearch.caSecret.key) }}{{ end }}
{{- $logsDefaults := dict "paths" (list "/var/log/containers/*.log") "checkpoint_path" "/var/lib/observe/checkpoints/checkpoint.json" }}
{{- if $v.shipper.emptyDirLogs.enabled }}
{{- $_ := set $logsDefaults "kubernetes" (dict "kubelet_root" $v.shipper.emptyDirLogs.kubeletRoot) }}
{{- end }}
{{- $logs := mustMergeOverwrite $logsDefaults (deepCopy $v.shipper.config) }}
{{- $traces := mustMergeOverwrite (dict "jaeger_url" $v.jaeger.queryUrl "state_file" "/var/lib/observe/traces/state.msgpack") (deepCopy $v.tracePuller.config) }}
{{- $config := dict "service" $service "elasticsearch" $es "logs" $logs "traces" $traces }}
{{- /* Exporter sections appear only when set, so the file stays valid for any version of their models. */}}
{{- $exporters := dict }}
{{- with $v.clusterExporter.config }}{{ $_ := set $exporters "cluster" (deepCopy .) }}{{ end }}
{{- with $v.probeExporter.config }}{{ $_ := set $exporters "probe" (deepCopy .) }}{{ end }}
{{- with $v.elasticsearchExporter.config }}{{ $_ := set $exporters "elasticsearch" (deepCopy .) }}{{ end }}
{{- with $exporters }}{{ $_ := set $config "exporters" . }}{{ end }}
{{- toYaml $config }}
{{- end }}

{{/* OBSERVE_* variables from referenced Secrets, plus the pod's own identity. */}}
{{- define "observe.env" -}}
- name: OBSERVE_CONFIG
  value: /etc/observe/config/config.yaml
- name: OBSERVE_KUBE__NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.elasticsearch.passwordSecret }}{{ if .name }}
- name: OBSERVE_ES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}{{ end }}
{{- with .Values.elasticsearch.apiKeySecret }}{{ if .name }}
- name: OBSERVE_ES_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}{{ end }}
{{- with .Values.global.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes every part mounts: the config, a writable /tmp, the Elasticsearch CA when referenced. */}}
{{- define "observe.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "observe.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.elasticsearch.caSecret.name }}
- name: elasticsearch-ca
  secret:
    secretName: {{ .Values.elasticsearch.caSecret.name }}
    items:
      - key: {{ .Values.elasticsearch.caSecret.key }}
        path: {{ .Values.elasticsearch.caSecret.key }}
{{- end }}
{{- end }}

{{- define "observe.commonMounts" -}}
- name: config
  mountPath: /etc/observe/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.elasticsearch.caSecret.name }}
- name: elasticsearch-ca
  mountPath: /etc/observe/elasticsearch-ca
  readOnly: true
{{- end }}
{{- end }}

{{/*
The prometheus-operator kinds the chart may create, each only when it is switched on AND the API server
serves it (its CRD is installed): a default install on a bare cluster must not fail on "no matches for kind".
`helm template` sees no cluster: pass --api-versions monitoring.coreos.com/v1/ServiceMonitor (etc.) there.
Each yields "true" or "" (use with `include ... | eq "true"`).
*/}}
{{- define "observe.serviceMonitors" -}}
{{- if and .Values.prometheus.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") }}true{{ end }}
{{- end }}

{{- define "observe.prometheusRules" -}}
{{- if and .Values.prometheus.prometheusRule.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule") }}true{{ end }}
{{- end }}

{{/* The kind the Alertmanager config is shipped as: AlertmanagerConfig only when asked for and served, else Secret. */}}
{{- define "observe.alertmanagerKind" -}}
{{- if and (eq .Values.alertmanager.kind "AlertmanagerConfig") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1alpha1/AlertmanagerConfig") }}AlertmanagerConfig{{ else }}Secret{{ end }}
{{- end }}

{{/* What was asked for but is not served, as YAML: kind -> what the chart created instead (NOTES list it). */}}
{{- define "observe.skippedKinds" -}}
{{- $out := dict }}
{{- if and .Values.prometheus.serviceMonitor.enabled (not (include "observe.serviceMonitors" .)) }}
{{- $_ := set $out "ServiceMonitor" "pods and Services carry prometheus.io/scrape, port and path annotations for a plain Prometheus" }}
{{- end }}
{{- if and .Values.prometheus.prometheusRule.enabled (not (include "observe.prometheusRules" .)) }}
{{- $_ := set $out "PrometheusRule" (printf "the rules are plain Prometheus rule files in ConfigMap %s-rules (mount it and list it in rule_files)" (include "observe.fullname" .)) }}
{{- end }}
{{- if and .Values.alertmanager.enabled (eq .Values.alertmanager.kind "AlertmanagerConfig") (ne (include "observe.alertmanagerKind" .) "AlertmanagerConfig") }}
{{- $_ := set $out "AlertmanagerConfig" (printf "the routing is alertmanager.yaml in Secret %s-alertmanager" (include "observe.fullname" .)) }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* prometheus.io/* annotations for a plain Prometheus: when asked for, and always when ServiceMonitors are skipped. */}}
{{- define "observe.scrapeAnnotations" -}}
{{- if or .Values.prometheus.annotations (and .Values.prometheus.serviceMonitor.enabled (not (include "observe.serviceMonitors" .))) -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.service.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Pod annotations of one part: scrape hints, a config checksum (so a config change rolls the pods), extras. */}}
{{- define "observe.podAnnotations" -}}
{{- $meta := index (include "observe.partTable" .root | fromYaml) .part -}}
checksum/config: {{ include "observe.config" .root | sha256sum }}
{{- with include "observe.scrapeAnnotations" .root }}
{{ . }}
{{- end }}
{{- with .root.Values.global.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- with (index .root.Values $meta.key).podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The container of one part: command, probes, ports, env, mounts; call with (dict "root" $ "part" "...") */}}
{{- define "observe.container" -}}
{{- $meta := index (include "observe.partTable" .root | fromYaml) .part -}}
{{- $pv := index .root.Values $meta.key -}}
- name: {{ .part }}
  image: {{ include "observe.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command:
    {{- toYaml $meta.command | nindent 4 }}
    {{- with .extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: http-metrics
      containerPort: {{ .root.Values.service.port }}
      protocol: TCP
  env:
    {{- include "observe.env" .root | nindent 4 }}
    {{- with .extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: http-metrics
    periodSeconds: 20
    timeoutSeconds: 5
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: http-metrics
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 3
  resources:
    {{- toYaml $pv.resources | nindent 4 }}
  securityContext:
    {{- toYaml (default .root.Values.global.containerSecurityContext $pv.containerSecurityContext) | nindent 4 }}
  volumeMounts:
    {{- include "observe.commonMounts" .root | nindent 4 }}
    {{- with .extraMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/* Pod spec fields every part shares except containers and volumes. */}}
{{- define "observe.podCommon" -}}
{{- $meta := index (include "observe.partTable" .root | fromYaml) .part -}}
{{- $pv := index .root.Values $meta.key -}}
serviceAccountName: {{ include "observe.serviceAccountName" . }}
automountServiceAccountToken: {{ $meta.kubeApi }}
enableServiceLinks: false
terminationGracePeriodSeconds: {{ add (int (ceil .root.Values.service.drainTimeoutSeconds)) 10 }}
securityContext:
  {{- toYaml (default .root.Values.global.podSecurityContext $pv.podSecurityContext) | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pv.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pv.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pv.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
One line when the Elasticsearch the shipper and the Elasticsearch exporter need is visibly missing: its URL names
an in-cluster Service (bare name, or name.namespace.svc...) that does not exist. Other URLs are not checked.
Empty on `helm template` and client dry runs, where lookup sees no cluster (kube-system is then not found either).
*/}}
{{- define "observe.elasticsearchMissing" -}}
{{- $users := list }}
{{- if .Values.shipper.enabled }}{{ $users = append $users "shipper" }}{{ end }}
{{- if .Values.elasticsearchExporter.enabled }}{{ $users = append $users "elasticsearch-exporter" }}{{ end }}
{{- $host := (urlParse (first (include "observe.esUrls" . | splitList " "))).hostname }}
{{- $parts := splitList "." $host }}
{{- $name := "" }}{{ $ns := "" }}
{{- if eq (len $parts) 1 }}{{ $name = $host }}{{ $ns = .Release.Namespace }}
{{- else if and (ge (len $parts) 3) (eq (index $parts 2) "svc") }}{{ $name = index $parts 0 }}{{ $ns = index $parts 1 }}
{{- end }}
{{- if and $users $name (not (lookup "v1" "Namespace" "" "kube-system" | empty)) (lookup "v1" "Service" $ns $name | empty) }}
{{- printf "no Elasticsearch: Service %s in namespace %s does not exist, so %s stay not Ready; set elasticsearch.url to a reachable Elasticsearch (now %s)" $name $ns (join " and " $users) (include "observe.esUrls" .) }}
{{- end }}
{{- end }}

{{/* The Elasticsearch base URLs the parts use (space-separated): elasticsearch.urls when set, else elasticsearch.url. */}}
{{- define "observe.esUrls" -}}
{{- if .Values.elasticsearch.urls }}{{ join " " .Values.elasticsearch.urls }}{{ else }}{{ .Values.elasticsearch.url }}{{ end }}
{{- end }}

{{/* The /readyz URLs of the enabled parts that need Elasticsearch (space-separated), for the `helm test` Pod. */}}
{{- define "observe.esReadyzUrls" -}}
{{- $urls := list }}
{{- range $part, $meta := (include "observe.enabledParts" . | fromYaml) }}
{{- if has $part (list "shipper" "elasticsearch-exporter") }}
{{- $urls = append $urls (printf "http://%s-%s.%s.svc:%v/readyz" (include "observe.fullname" $) $part $.Release.Namespace $.Values.service.port) }}
{{- end }}
{{- end }}
{{- join " " $urls }}
{{- end }}
