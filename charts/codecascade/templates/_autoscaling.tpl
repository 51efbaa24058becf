{{/*
Autoscaling (values `autoscaling`, docs/deploy.md "Autoscaling"). Each tier the chart deploys is
one scalable object: a triton tier's Deployment, a kserve or huggingface tier's predictor Deployment
(<tier>-predictor, which KServe makes; its HPA is turned off with autoscalerClass external) or, with
kserveTarget inferenceService, the InferenceService itself (direct mode only: it has no scale
subresource, so neither KEDA nor an HPA can target it).
*/}}

{{- define "codecascade.autoscalingOn" -}}
{{- if ne .Values.autoscaling.mode "off" }}true{{ end -}}
{{- end -}}

{{/* The object that runs a tier, as the autoscaler's kube_targets names it: {kind, name}.
Args: dict root tier */}}
{{- define "codecascade.tierScaleObject" -}}
{{- $name := include "codecascade.tierName" . -}}
{{- if eq .tier.backend "triton" -}}
{kind: deployment, name: {{ $name }}}
{{- else if eq .root.Values.autoscaling.kserveTarget "inferenceService" -}}
{kind: inferenceservice, name: {{ $name }}}
{{- else -}}
{kind: deployment, name: {{ printf "%s-predictor" $name }}}
{{- end -}}
{{- end -}}

{{/* A tier's replica bounds: {min, max}. Args: dict root tier */}}
{{- define "codecascade.tierBounds" -}}
{{- if eq .tier.backend "triton" -}}
{min: {{ .tier.triton.replicas }}, max: {{ max (int .tier.triton.replicas) (int .root.Values.autoscaling.tritonMaxReplicas) }}}
{{- else -}}
{{- $k := index .tier .tier.backend -}}
{min: {{ $k.minReplicas }}, max: {{ $k.maxReplicas }}}
{{- end -}}
{{- end -}}

{{/* Whether the first deployed tier is the first tier of the cascade (the autoscaler scales the
tiers above it; the first scales on its own load). Args: dict root tier */}}
{{- define "codecascade.isFirstTier" -}}
{{- if eq (lower (index .root.Values.tiers 0).name) (lower .tier.name) }}true{{ end -}}
{{- end -}}

{{/* Whether a tier's replicas are managed (by KEDA, an HPA or the autoscaler) rather than by its
values. Args: dict root tier */}}
{{- define "codecascade.tierAutoscaled" -}}
{{- $a := .root.Values.autoscaling -}}
{{- if and (ne $a.mode "off") (ne .tier.backend "external") -}}
{{- if not (include "codecascade.isFirstTier" .) }}true
{{- else if and $a.mesh.firstTier.enabled (not (and (ne .tier.backend "triton") (eq $a.kserveTarget "inferenceService"))) }}true
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether a mesh component's replicas are managed. Args: dict root component */}}
{{- define "codecascade.meshAutoscaled" -}}
{{- $a := .root.Values.autoscaling -}}
{{- if and (ne $a.mode "off") (hasKey $a.mesh .component) -}}
{{- if (index $a.mesh .component).enabled }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* `replicas:` of a Deployment whose replicas an autoscaler manages: what the live object has now
(Helm's `lookup`), else the floor (first install, `helm template`). Always rendering the field
keeps Helm's three-way merge from resetting it (a field dropped from the manifest is removed, and
the Deployment falls back to 1), and an upgrade leaves the autoscaler's count alone.
Args: dict root name floor */}}
{{- define "codecascade.managedReplicas" -}}
{{- $live := lookup "apps/v1" "Deployment" .root.Release.Namespace .name -}}
{{- if and $live $live.spec (hasKey $live.spec "replicas") -}}
{{- $live.spec.replicas -}}
{{- else -}}
{{- .floor -}}
{{- end -}}
{{- end -}}

{{/* PromQL label matchers for one component's series as the Prometheus Operator scrapes them
(ServiceMonitor: job = the Service's name). Args: dict root component */}}
{{- define "codecascade.promMatchers" -}}
{{- printf "namespace=\"%s\",job=\"%s\"" .root.Release.Namespace (include "codecascade.componentName" .) -}}
{{- end -}}

{{/* Each mesh component's load signal (a sum over its pods) and its per-replica target.
router: requests in flight over all tiers (its codecascade_tier_in_flight gauge); testsynth: gRPC
calls in flight, by Little's law the rate of its call-duration sum; sandbox: sandboxes in use,
target = occupancy x pool_size. Args: dict root component */}}
{{- define "codecascade.meshLoadQuery" -}}
{{- $m := include "codecascade.promMatchers" . -}}
{{- if eq .component "sandbox" -}}
sum(codecascade_sandbox_pool_in_use{ {{- $m -}} })
{{- else if eq .component "router" -}}
sum(codecascade_tier_in_flight{ {{- $m -}} })
{{- else -}}
sum(rate(codecascade_rpc_server_duration_seconds_sum{ {{- $m -}} }[1m]))
{{- end -}}
{{- end -}}

{{- define "codecascade.meshLoadTarget" -}}
{{- $s := index .root.Values.autoscaling.mesh .component -}}
{{- if eq .component "sandbox" -}}
{{- mulf (float64 $s.target) (float64 .root.Values.sandbox.settings.pool_size) -}}
{{- else -}}
{{- $s.target -}}
{{- end -}}
{{- end -}}

{{/* The per-pod metric a direct-mode HPA reads (a custom-metrics adapter serves it; the testsynth
one is an adapter rule over the rate of codecascade_rpc_server_duration_seconds_sum, see
docs/deploy.md "Autoscaling"). Args: dict root component */}}
{{- define "codecascade.meshPodsMetric" -}}
{{- if eq .component "sandbox" -}}codecascade_sandbox_pool_in_use
{{- else if eq .component "router" -}}codecascade_tier_in_flight
{{- else -}}codecascade_rpc_server_in_flight{{- end -}}
{{- end -}}

{{/* A number as the API server writes the quantity back (8 -> "8", 1.4 -> "1400m"), so a stored
HPA equals the rendered one and a no-op upgrade rewrites nothing. Args: number */}}
{{- define "codecascade.quantity" -}}
{{- $milli := int (round (mulf (float64 .) 1000.0) 0) -}}
{{- if eq (mod $milli 1000) 0 -}}{{ div $milli 1000 }}{{- else -}}{{ printf "%dm" $milli }}{{- end -}}
{{- end -}}

{{/* Requests in flight in the first tier (the router's gauge). Args: dict root tier */}}
{{- define "codecascade.firstTierQuery" -}}
{{- $m := include "codecascade.promMatchers" (dict "root" .root "component" "router") -}}
sum(codecascade_tier_in_flight{ {{- $m -}},tier="{{ .tier.name }}"})
{{- end -}}

{{/* The autoscaler's Service address, as KEDA dials it (scalerAddress). Args: root */}}
{{- define "codecascade.autoscalerAddress" -}}
{{- printf "%s:%d" (include "codecascade.serviceHost" (dict "root" . "component" "autoscaler")) (int .Values.autoscaler.grpcPort) -}}
{{- end -}}

{{/* The autoscaler's section of CODECASCADE_CONFIG: its settings plus what the chart knows
(mode, the chain, the signal source, the tier objects and bounds). Args: root */}}
{{- define "codecascade.autoscalerConfig" -}}
{{- $root := . -}}
{{- $a := .Values.autoscaling -}}
{{- $cfg := deepCopy .Values.autoscaler.settings -}}
{{- $_ := set $cfg "mode" $a.mode -}}
{{- $chain := list -}}
{{- range .Values.tiers }}{{ $chain = append $chain .name }}{{ end -}}
{{- $_ := set $cfg "chain" $chain -}}
{{- if $a.prometheus.address -}}
{{- $_ := set $cfg "signal_source" "prometheus" -}}
{{- $_ := set $cfg "prometheus_url" $a.prometheus.address -}}
{{- $_ := set $cfg "prometheus_matchers" (include "codecascade.promMatchers" (dict "root" $root "component" "router")) -}}
{{- else -}}
{{- $_ := set $cfg "signal_source" "scrape" -}}
{{- $_ := set $cfg "router_metrics_urls" (list (printf "http://%s-pods.%s.svc.%s:%d/metrics" (include "codecascade.componentName" (dict "root" $root "component" "router")) $root.Release.Namespace $root.Values.clusterDomain (int .Values.router.metricsPort))) -}}
{{- /* service-router-pods.yaml is headless: every address it resolves to is one router pod. */ -}}
{{- $_ := set $cfg "router_metrics_resolve" true -}}
{{- end -}}
{{- $overrides := deepCopy (default dict (index $cfg "tiers")) -}}
{{- $scaled := list -}}
{{- $targets := dict -}}
{{- range $tier := .Values.tiers -}}
{{- if ne $tier.backend "external" -}}
{{- $t := dict "root" $root "tier" $tier -}}
{{- $bounds := include "codecascade.tierBounds" $t | fromYaml -}}
{{- $own := merge (default dict (index $overrides $tier.name)) (dict "min_replicas" $bounds.min "max_replicas" $bounds.max) -}}
{{- $_ := set $overrides $tier.name $own -}}
{{- if not (include "codecascade.isFirstTier" $t) -}}
{{- $scaled = append $scaled $tier.name -}}
{{- $_ := set $targets $tier.name (include "codecascade.tierScaleObject" $t | fromYaml) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cfg "tiers" $overrides -}}
{{- $_ := set $cfg "scaled_tiers" $scaled -}}
{{- if eq $a.mode "direct" -}}
{{- $_ := set $cfg "kube_namespace" .Release.Namespace -}}
{{- $_ := set $cfg "kube_targets" $targets -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Checks of the autoscaling values a schema cannot express. Args: root */}}
{{- define "codecascade.validateAutoscaling" -}}
{{- $a := .Values.autoscaling -}}
{{- range .Values.tiers -}}
{{- if and (has .backend (list "kserve" "huggingface")) (lt (int (index . .backend).minReplicas) 1) -}}
{{- if eq $a.mode "off" -}}
{{- fail (printf "tiers[%s].%s.minReplicas is 0 with autoscaling.mode off: RawDeployment has no scale to zero of its own (KServe would silently run 1); set autoscaling.mode keda or direct, or minReplicas >= 1" .name .backend) -}}
{{- end -}}
{{- if eq $a.kserveTarget "inferenceService" -}}
{{- fail (printf "tiers[%s].%s.minReplicas is 0 with autoscaling.kserveTarget inferenceService: RawDeployment keeps one predictor; use kserveTarget predictorDeployment to scale to zero" .name .backend) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq $a.mode "keda") (eq $a.kserveTarget "inferenceService") -}}
{{- fail "autoscaling.kserveTarget inferenceService works in mode direct only: an InferenceService has no scale subresource for KEDA to target; use predictorDeployment" -}}
{{- end -}}
{{- if and (eq $a.mode "keda") (not $a.prometheus.address) -}}
{{- range $c := list "router" "testsynth" "sandbox" "firstTier" -}}
{{- if (index $a.mesh $c).enabled -}}
{{- fail (printf "autoscaling.mesh.%s scales on a Prometheus query in mode keda: set autoscaling.prometheus.address, or autoscaling.mesh.%s.enabled false" $c $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $c := list "router" "testsynth" "sandbox" -}}
{{- $s := index $a.mesh $c -}}
{{- if lt (int $s.maxReplicas) (int $s.minReplicas) -}}
{{- fail (printf "autoscaling.mesh.%s.maxReplicas (%v) is below minReplicas (%v)" $c $s.maxReplicas $s.minReplicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
