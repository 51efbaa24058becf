{{/* Tier helpers. A tier is `kserve` (our predictor as an InferenceService), `triton`
(a Deployment) or `external` (an address only: nothing is deployed). */}}

{{- define "codecascade.hasBackend" -}}
{{- $want := .backend -}}
{{- range .root.Values.tiers }}{{ if eq .backend $want }}true{{ end }}{{ end -}}
{{- end -}}

{{- define "codecascade.runtimeName" -}}
{{- printf "%s-llamacpp" (include "codecascade.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of one tier's objects and pods. Args: dict root tier */}}
{{- define "codecascade.tierLabels" -}}
{{ include "codecascade.labels" (dict "root" .root "component" "tier") }}
codecascade/tier: {{ lower .tier.name | quote }}
{{- /* The name as the router and its metrics spell it (case kept): the tier PodMonitor copies it
to the `tier` target label, which the CodecascadeTierNoReadyReplicas alert joins on. Not a
selector label, so adding it changes no Deployment selector. */}}
codecascade/tier-name: {{ .tier.name | quote }}
{{- end -}}

{{- define "codecascade.tierSelectorLabels" -}}
{{ include "codecascade.selectorLabels" (dict "root" .root "component" "tier") }}
codecascade/tier: {{ lower .tier.name | quote }}
{{- end -}}

{{/* The llama.cpp predictor's settings for one tier (services/codecascade/tierserver/config.py). */}}
{{- define "codecascade.predictorEnv" -}}
- name: MODEL
  value: {{ .tier.kserve.modelFile | quote }}
- name: SERVED_MODEL_NAME
  value: {{ .tier.model | quote }}
- name: N_THREADS
  value: {{ .tier.kserve.threads | quote }}
- name: N_CTX
  value: {{ .tier.kserve.nCtx | quote }}
- name: PROMPT_FORMAT
  value: {{ .tier.prompt_format | quote }}
- name: VERIFY_MODEL_SHA256
  value: {{ .tier.kserve.verifySha256 | quote }}
- name: SHUTDOWN_GRACE_S
  value: {{ .root.Values.tierRuntime.shutdownGraceSeconds | quote }}
{{ include "codecascade.env" (dict "root" .root "forced" (include "codecascade.tierOtelName" .tier | fromYamlArray) "overrides" .tier.envOverrides) | trim }}
{{- end -}}


{{/* Each tier reports its own OTel service name: tier-<name>. Args: tier */}}
{{- define "codecascade.tierOtelName" -}}
- name: OTEL_SERVICE_NAME
  value: {{ printf "tier-%s" (lower .name) | quote }}
{{- end -}}
