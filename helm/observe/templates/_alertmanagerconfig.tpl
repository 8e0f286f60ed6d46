{{/*
Alertmanager's own config -> a prometheus-operator AlertmanagerConfig (monitoring.coreos.com/v1alpha1):
snake_case keys become camelCase, matchers become {name, value, matchType}, and the global SMTP settings
move into every email receiver, with the password as a reference to the Secret (never its value).
*/}}
{{- define "observe.amMatchers" -}}
{{- $out := list }}
{{- range . }}
{{- $m := regexFind "^\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*(.*?)\\s*$" . }}
{{- $name := regexReplaceAll "^\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*(.*?)\\s*$" . "${1}" }}
{{- $op := regexReplaceAll "^\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*(.*?)\\s*$" . "${2}" }}
{{- $value := regexReplaceAll "^\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*(.*?)\\s*$" . "${3}" | trimPrefix "\"" | trimSuffix "\"" }}
{{- $out = append $out (dict "name" $name "matchType" $op "value" $value) }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{- define "observe.amRoute" -}}
{{- $r := dict }}
{{- range $k, $v := . }}
{{- if eq $k "matchers" }}
{{- $_ := set $r "matchers" (include "observe.amMatchers" $v | fromYamlArray) }}
{{- else if eq $k "routes" }}
{{- $subs := list }}
{{- range $v }}{{ $subs = append $subs (include "observe.amRoute" . | fromYaml) }}{{ end }}
{{- $_ := set $r "routes" $subs }}
{{- else }}
{{- $_ := set $r (camelcase $k | untitle) $v }}
{{- end }}
{{- end }}
{{- toYaml $r }}
{{- end }}

{{- define "observe.alertmanagerConfig" -}}
{{- $root := .root }}
{{- $am := .am }}
{{- $global := default dict $am.global }}
{{- $smtp := $root.Values.alertmanager.smtp.passwordSecret }}
{{- $receivers := list }}
{{- range $am.receivers }}
{{- $rcv := dict "name" .name }}
{{- range $kind, $configs := omit . "name" }}
{{- $converted := list }}
{{- range $configs }}
{{- $c := dict }}
{{- if eq $kind "email_configs" }}
{{- with $global.smtp_smarthost }}{{ $_ := set $c "smarthost" . }}{{ end }}
{{- with $global.smtp_from }}{{ $_ := set $c "from" . }}{{ end }}
{{- with $global.smtp_hello }}{{ $_ := set $c "hello" . }}{{ end }}
{{- with $global.smtp_auth_username }}{{ $_ := set $c "authUsername" . }}{{ end }}
{{- if hasKey $global "smtp_require_tls" }}{{ $_ := set $c "requireTLS" $global.smtp_require_tls }}{{ end }}
{{- if $smtp.name }}{{ $_ := set $c "authPassword" (dict "name" $smtp.name "key" $smtp.key) }}{{ end }}
{{- end }}
{{- range $k, $v := . }}
{{- if eq $k "require_tls" }}{{ $_ := set $c "requireTLS" $v }}
{{- else if eq $k "send_resolved" }}{{ $_ := set $c "sendResolved" $v }}
{{- else if eq $k "tls_config" }}{{ $_ := set $c "tlsConfig" (dict "insecureSkipVerify" (default false $v.insecure_skip_verify)) }}
{{- else if eq $k "headers" }}
{{- $hs := list }}{{ range $hk, $hv := $v }}{{ $hs = append $hs (dict "key" $hk "value" $hv) }}{{ end }}
{{- $_ := set $c "headers" $hs }}
{{- else if not (has $k (list "auth_password" "auth_password_file")) }}{{ $_ := set $c (camelcase $k | untitle) $v }}
{{- end }}
{{- end }}
{{- $converted = append $converted $c }}
{{- end }}
{{- $_ := set $rcv (camelcase $kind | untitle) $converted }}
{{- end }}
{{- $receivers = append $receivers $rcv }}
{{- end }}
{{- $inhibit := list }}
{{- range $am.inhibit_rules }}
{{- $ir := dict }}
{{- with .source_matchers }}{{ $_ := set $ir "sourceMatch" (include "observe.amMatchers" . | fromYamlArray) }}{{ end }}
{{- with .target_matchers }}{{ $_ := set $ir "targetMatch" (include "observe.amMatchers" . | fromYamlArray) }}{{ end }}
{{- with .equal }}{{ $_ := set $ir "equal" . }}{{ end }}
{{- $inhibit = append $inhibit $ir }}
{{- end }}
apiVersion: monitoring.coreos.com/v1alpha1
kind: AlertmanagerConfig
metadata:
  name: {{ include "observe.fullname" $root }}-alertmanager
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "observe.labels" $root | nindent 4 }}
    {{- with $root.Values.alertmanager.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- $spec := dict "route" (include "observe.amRoute" $am.route | fromYaml) "receivers" $receivers }}
{{- with $inhibit }}{{ $_ := set $spec "inhibitRules" . }}{{ end }}
# JSON, because YAML 1.1 readers take a bare `=` (a matchType) for a special tag.
spec: {{ toJson $spec }}
{{- end }}
