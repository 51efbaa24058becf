{{/*
NetworkPolicies: each component accepts only its callers and reaches only what it calls. The
sandbox runs untrusted code: it accepts the router only and has no egress at all.
*/}}

{{- define "codecascade.peer" -}}
- podSelector:
    matchLabels:
      {{- include "codecascade.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "codecascade.dnsEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* Egress from router/testsynth to the tiers: in-namespace tier pods, external endpoints. */}}
{{- define "codecascade.tierEgress" -}}
{{- $root := . -}}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/instance: {{ $root.Release.Name }}
          app.kubernetes.io/component: tier
  ports:
    - port: {{ $root.Values.tierRuntime.grpcPort }}
      protocol: TCP
    - port: {{ $root.Values.tierRuntime.httpPort }}
      protocol: TCP
    {{- range $root.Values.tiers }}
    {{- if eq .backend "triton" }}
    - port: {{ .triton.grpcPort }}
      protocol: TCP
    {{- end }}
    {{- end }}
{{- range $root.Values.tiers }}
{{- if eq .backend "external" }}
- to:
    {{- range .external.egressCIDRs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: {{ .external.port }}
      protocol: TCP
{{- end }}
{{- end }}
{{- end -}}

{{- define "codecascade.netpolHeader" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "codecascade.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "codecascade.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "codecascade.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
{{- end -}}

{{- define "codecascade.metricsIngress" -}}
{{- $v := index .root.Values .component -}}
{{- if and $v.metricsPort .root.Values.networkPolicy.metricsFrom }}
- from:
    {{- toYaml .root.Values.networkPolicy.metricsFrom | nindent 4 }}
  ports:
    - port: {{ $v.metricsPort }}
      protocol: TCP
{{- end }}
{{- end -}}

{{- define "codecascade.networkPolicy.router" -}}
{{- $root := .root -}}
{{- $v := $root.Values.router -}}
{{ include "codecascade.netpolHeader" . }}
  ingress:
    - from:
        {{- if $root.Values.networkPolicy.routerIngressFrom }}
        {{- toYaml $root.Values.networkPolicy.routerIngressFrom | nindent 8 }}
        {{- else }}
        - podSelector:
            matchLabels:
              codecascade/router-client: "true"
        {{- end }}
      ports:
        - port: {{ $v.grpcPort }}
          protocol: TCP
        {{- if $v.tls.enabled }}
        - port: {{ $v.tls.port }}
          protocol: TCP
        {{- end }}
        {{- if $v.http.port }}
        - port: {{ $v.http.port }}
          protocol: TCP
        {{- end }}
    {{- with include "codecascade.metricsIngress" . | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- if and (include "codecascade.autoscalingOn" $root) (not $root.Values.autoscaling.prometheus.address) $v.metricsPort }}
    # The autoscaler reads the routers' /metrics itself (no Prometheus: autoscaling.prometheus).
    - from:
        {{- include "codecascade.peer" (dict "root" $root "component" "autoscaler") | nindent 8 }}
      ports:
        - port: {{ $v.metricsPort }}
          protocol: TCP
    {{- end }}
  egress:
    {{- include "codecascade.dnsEgress" . | nindent 4 }}
    {{- if eq $v.ledger.store "redis" }}
    {{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+" (regexReplaceAll "^[a-z]+://([^@/]*@)?" $v.ledger.redisUrl "")) | default "6379" }}
    - {{- with $v.ledger.redisEgressTo }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - port: {{ $port }}
          protocol: TCP
    {{- end }}
    - to:
        {{- include "codecascade.peer" (dict "root" $root "component" "testsynth") | nindent 8 }}
      ports:
        - port: {{ $root.Values.testsynth.grpcPort }}
          protocol: TCP
    - to:
        {{- include "codecascade.peer" (dict "root" $root "component" "sandbox") | nindent 8 }}
      ports:
        - port: {{ $root.Values.sandbox.grpcPort }}
          protocol: TCP
    {{- include "codecascade.tierEgress" $root | nindent 4 }}
    {{- with $root.Values.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{- define "codecascade.networkPolicy.testsynth" -}}
{{- $root := .root -}}
{{ include "codecascade.netpolHeader" . }}
  ingress:
    - from:
        {{- include "codecascade.peer" (dict "root" $root "component" "router") | nindent 8 }}
      ports:
        - port: {{ $root.Values.testsynth.grpcPort }}
          protocol: TCP
    {{- with include "codecascade.metricsIngress" . | trim }}
    {{- . | nindent 4 }}
    {{- end }}
  egress:
    {{- include "codecascade.dnsEgress" . | nindent 4 }}
    {{- include "codecascade.tierEgress" $root | nindent 4 }}
    {{- with $root.Values.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The sandbox: the router in, nothing out (not even DNS or telemetry). */}}
{{- define "codecascade.networkPolicy.sandbox" -}}
{{- $root := .root -}}
{{ include "codecascade.netpolHeader" . }}
  ingress:
    - from:
        {{- include "codecascade.peer" (dict "root" $root "component" "router") | nindent 8 }}
      ports:
        - port: {{ $root.Values.sandbox.grpcPort }}
          protocol: TCP
    {{- with include "codecascade.metricsIngress" . | trim }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- /* No `egress` key: with policyType Egress that denies all egress. `egress: []` means the
  same but the API server drops the empty list, so every `helm upgrade` re-patched the policy. */}}
{{- end -}}
