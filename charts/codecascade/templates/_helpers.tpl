{{/*
Names and labels. Every name defined here starts with `codecascade.` so the chart can sit inside
an umbrella chart without collisions.
*/}}

{{- define "codecascade.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "codecascade.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects: fullname-component. Args: dict root component */}}
{{- define "codecascade.componentName" -}}
{{- printf "%s-%s" (include "codecascade.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The objects of one tier: fullname-tier-<name>. Args: dict root tier */}}
{{- define "codecascade.tierName" -}}
{{- printf "%s-tier-%s" (include "codecascade.fullname" .root) (lower .tier.name) | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "codecascade.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. Args: dict root component */}}
{{- define "codecascade.selectorLabels" -}}
app.kubernetes.io/name: {{ include "codecascade.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All recommended labels. Args: dict root component */}}
{{- define "codecascade.labels" -}}
helm.sh/chart: {{ include "codecascade.chart" .root }}
{{ include "codecascade.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: codecascade
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* A component's ServiceAccount name. Args: dict root component */}}
{{- define "codecascade.serviceAccountName" -}}
{{- $key := ternary "tierRuntime" .component (eq .component "tier") -}}
{{- $values := index .root.Values $key -}}
{{- if $values.serviceAccount.create -}}
{{- default (include "codecascade.componentName" .) $values.serviceAccount.name -}}
{{- else -}}
{{- default "default" $values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "codecascade.image" -}}
{{- $image := .image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* A third-party image (a Triton tier's): as given when pinned by digest, else
reference@digest when imageDigests names it, else the reference. Args: dict root ref */}}
{{- define "codecascade.thirdPartyImage" -}}
{{- if contains "@sha256:" .ref -}}
{{- .ref -}}
{{- else if hasKey .root.Values.imageDigests .ref -}}
{{- printf "%s@%s" .ref (index .root.Values.imageDigests .ref) -}}
{{- else -}}
{{- .ref -}}
{{- end -}}
{{- end -}}

{{/* Whether the release deploys any tier pods (kserve, huggingface or triton). Args: root */}}
{{- define "codecascade.hasTierPods" -}}
{{- range .Values.tiers }}{{ if ne .backend "external" }}true{{ end }}{{ end -}}
{{- end -}}

{{- define "codecascade.huggingfaceRuntimeName" -}}
{{- printf "%s-huggingface" (include "codecascade.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* In-cluster DNS name of a component's Service. Args: dict root component */}}
{{- define "codecascade.serviceHost" -}}
{{- printf "%s.%s.svc.%s" (include "codecascade.componentName" .) .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}

{{/* Address of a tier, as the router and test synthesis dial it. Args: dict root tier */}}
{{- define "codecascade.tierAddress" -}}
{{- $tier := .tier -}}
{{- if eq $tier.backend "external" -}}
{{- $tier.external.address -}}
{{- else if eq $tier.backend "kserve" -}}
{{- if $tier.kserve.address -}}
{{- $tier.kserve.address -}}
{{- else -}}
{{- printf "%s-predictor.%s.svc.%s:%d" (include "codecascade.tierName" .) .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.tierRuntime.grpcPort) -}}
{{- end -}}
{{- else if eq $tier.backend "huggingface" -}}
{{- /* KServe's RawDeployment Service maps port 80 to the predictor's first container port. */ -}}
{{- if $tier.huggingface.address -}}
{{- $tier.huggingface.address -}}
{{- else -}}
{{- printf "http://%s-predictor.%s.svc.%s/openai/v1" (include "codecascade.tierName" .) .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}
{{- else -}}
{{- printf "%s.%s.svc.%s:%d" (include "codecascade.tierName" .) .root.Release.Namespace .root.Values.clusterDomain (int $tier.triton.grpcPort) -}}
{{- end -}}
{{- end -}}

{{/* The env var that carries a tier's API key (from a Secret). Args: tier */}}
{{- define "codecascade.tierKeyEnv" -}}
{{- printf "CODECASCADE_TIER_%s_API_KEY" (upper .name | replace "-" "_" | replace "." "_") -}}
{{- end -}}

{{/*
The shared `tiers:` list (codecascade.core.tiers.TierSpec), without API keys. Args: root
*/}}
{{- define "codecascade.tierConfigs" -}}
{{- $root := . -}}
{{- $list := list -}}
{{- range $tier := .Values.tiers -}}
{{- $protocol := "oip-grpc" -}}
{{- if eq .backend "external" }}{{ $protocol = .external.protocol }}{{ end -}}
{{- if eq .backend "huggingface" }}{{ $protocol = "openai" }}{{ end -}}
{{- $entry := dict "name" .name "protocol" $protocol "address" (include "codecascade.tierAddress" (dict "root" $root "tier" .)) "model" .model "price_per_1k_tokens" .price_per_1k_tokens -}}
{{- range $key := list "prompt_format" "timeout_s" "max_attempts" "backoff_initial_s" "backoff_max_s" -}}
{{- if hasKey $tier $key }}{{ $_ := set $entry $key (index $tier $key) }}{{ end -}}
{{- end -}}
{{- $list = append $list $entry -}}
{{- end -}}
{{- toYaml $list -}}
{{- end -}}

{{/* Whether any tier takes its API key from a Secret. Args: root */}}
{{- define "codecascade.tiersHaveKeys" -}}
{{- range .Values.tiers -}}
{{- if and (eq .backend "external") (dig "external" "apiKeySecret" "name" "" .) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The TIERS variable: the same list as JSON, each API key a $(VAR) reference that the kubelet
expands from the Secret-backed variable defined before it. Args: root
*/}}
{{- define "codecascade.tiersJson" -}}
{{- $root := . -}}
{{- $list := list -}}
{{- range $i, $cfg := (include "codecascade.tierConfigs" . | fromYamlArray) -}}
{{- $tier := index $root.Values.tiers $i -}}
{{- if and (eq $tier.backend "external") (dig "external" "apiKeySecret" "name" "" $tier) -}}
{{- $cfg = set $cfg "api_key" (printf "$(%s)" (include "codecascade.tierKeyEnv" $tier)) -}}
{{- end -}}
{{- $list = append $list $cfg -}}
{{- end -}}
{{- toJson $list -}}
{{- end -}}

{{/* Chart-wide checks that a JSON schema cannot express; each fails with the fix. */}}
{{- define "codecascade.validate" -}}
{{- $names := dict -}}
{{- range .Values.tiers -}}
{{- $key := lower .name -}}
{{- if hasKey $names $key -}}
{{- fail (printf "tiers: two tiers are named %q (names are compared case-insensitively: they name Kubernetes objects)" .name) -}}
{{- end -}}
{{- $_ := set $names $key true -}}
{{- if and (eq .backend "kserve") (not .kserve) -}}
{{- fail (printf "tiers[%s]: backend kserve needs a `kserve:` block" .name) -}}
{{- end -}}
{{- if and (eq .backend "huggingface") (lt (int .huggingface.maxReplicas) (int .huggingface.minReplicas)) -}}
{{- fail (printf "tiers[%s].huggingface.maxReplicas (%v) is below minReplicas (%v)" .name .huggingface.maxReplicas .huggingface.minReplicas) -}}
{{- end -}}
{{- end -}}
{{- range .Values.policy.tiers -}}
{{- if and (ge (int .k) 0) (not (hasKey $names (lower .tier))) -}}
{{- fail (printf "policy.tiers: tier %q has no entry in `tiers:` (every active policy tier needs an endpoint)" .tier) -}}
{{- end -}}
{{- end -}}
{{- range $component := list "router" "testsynth" "sandbox" -}}
{{- $values := index $.Values $component -}}
{{- if le (float64 $values.terminationGracePeriodSeconds) (float64 $values.shutdownGraceSeconds) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must be larger than %s.shutdownGraceSeconds (%v): the kubelet would kill in-flight calls" $component $values.terminationGracePeriodSeconds $component $values.shutdownGraceSeconds) -}}
{{- end -}}
{{- end -}}
{{- range .Values.tiers -}}
{{- if and (eq .backend "kserve") (lt (int .kserve.maxReplicas) (int .kserve.minReplicas)) -}}
{{- fail (printf "tiers[%s].kserve.maxReplicas (%v) is below minReplicas (%v)" .name .kserve.maxReplicas .kserve.minReplicas) -}}
{{- end -}}
{{- end -}}
{{- if .Values.requireImageDigests -}}
{{- if and (or .Values.router.enabled .Values.testsynth.enabled .Values.sandbox.enabled) (not .Values.image.digest) -}}
{{- fail "requireImageDigests: set image.digest (sha256:...) — production pins images by digest" -}}
{{- end -}}
{{- range .Values.tiers -}}
{{- if and (eq .backend "kserve") (not $.Values.tierImage.digest) -}}
{{- fail "requireImageDigests: set tierImage.digest (sha256:...) — production pins images by digest" -}}
{{- end -}}
{{- if and (eq .backend "huggingface") (not $.Values.huggingfaceRuntime.image.digest) -}}
{{- fail "requireImageDigests: set huggingfaceRuntime.image.digest (sha256:...) — production pins images by digest" -}}
{{- end -}}
{{- if and (eq .backend "triton") (not (contains "@sha256:" (include "codecascade.thirdPartyImage" (dict "root" $ "ref" .triton.image)))) -}}
{{- fail (printf "requireImageDigests: tiers[%s].triton.image %s is not pinned: write it as repo@sha256:... or add its digest to imageDigests" .name .triton.image) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $r := .Values.router -}}
{{- if and $r.enabled $r.tenants.enabled (gt (int $r.replicas) 1) (eq $r.ledger.store "memory") -}}
{{- fail (printf "router.replicas is %v with router.ledger.store memory and tenants on: each replica would keep its own budgets and rate limits (a tenant could spend its budget once per replica); set router.ledger.store redis (docs/tenancy.md) or router.replicas 1" $r.replicas) -}}
{{- end -}}
{{- if and $r.enabled $r.tenants.enabled (not $r.tenants.existingSecret) (not $r.tenants.file) -}}
{{- fail "router.tenants.enabled needs router.tenants.existingSecret (a Secret holding the tenants file) or router.tenants.file" -}}
{{- end -}}
{{- if and $r.enabled $r.tls.enabled (not $r.tls.secretName) -}}
{{- fail "router.tls.enabled needs router.tls.secretName (a kubernetes.io/tls Secret: tls.crt, tls.key)" -}}
{{- end -}}
{{- if and $r.enabled $r.tls.clientCaSecret (not $r.tls.enabled) -}}
{{- fail "router.tls.clientCaSecret (mTLS) needs router.tls.enabled and router.tls.secretName" -}}
{{- end -}}
{{- if and $r.enabled $r.tls.enabled (eq (int $r.tls.port) (int $r.grpcPort)) -}}
{{- fail "router.tls.port must differ from router.grpcPort (the plain port stays for the mesh and probes)" -}}
{{- end -}}
{{- if and $r.enabled $r.http.port (or (eq (int $r.http.port) (int $r.grpcPort)) (and $r.tls.enabled (eq (int $r.http.port) (int $r.tls.port))) (eq (int $r.http.port) (int $r.metricsPort))) -}}
{{- fail "router.http.port must differ from router.grpcPort, router.tls.port and router.metricsPort" -}}
{{- end -}}
{{- if and $r.enabled $r.ingress.http.enabled (not $r.http.port) -}}
{{- fail "router.ingress.http.enabled needs router.http.port (0 turns the HTTP API off)" -}}
{{- end -}}
{{- if and $r.enabled $r.gateway.httpRoute.enabled (not $r.http.port) -}}
{{- fail "router.gateway.httpRoute.enabled needs router.http.port (0 turns the HTTP API off)" -}}
{{- end -}}
{{- if and $r.enabled $r.ingress.http.enabled -}}
{{- $timeout := index $r.ingress.http.annotations "nginx.ingress.kubernetes.io/proxy-read-timeout" | default "" -}}
{{- if and $timeout (lt (float64 $timeout) (float64 .Values.policy.limits.max_deadline_s)) -}}
{{- fail (printf "router.ingress.http: nginx.ingress.kubernetes.io/proxy-read-timeout (%v s) is below policy.limits.max_deadline_s (%v s): the proxy would cut long streams" $timeout .Values.policy.limits.max_deadline_s) -}}
{{- end -}}
{{- end -}}
{{- range $name, $_ := $r.policies -}}
{{- if eq $name "cascade" -}}
{{- fail "router.policies: `cascade` is the router's own policy (`policy:`); name the others differently" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.router.enabled (not .Values.testsynth.enabled) (not .Values.router.testsynthAddr) -}}
{{- fail "router.enabled needs testsynth.enabled or router.testsynthAddr" -}}
{{- end -}}
{{- if and .Values.router.enabled (not .Values.sandbox.enabled) (not .Values.router.sandboxAddr) -}}
{{- fail "router.enabled needs sandbox.enabled or router.sandboxAddr" -}}
{{- end -}}
{{- end -}}
