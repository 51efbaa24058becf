{{/*
The objects every mesh component (router, testsynth, sandbox) has, one named template per kind;
each `<kind>-<component>.yaml` file includes one of them. Args: dict root component
*/}}

{{/*
Environment in layers, later wins, each name kept at its first position (so $(VAR) references
still follow what they reference): `default.env`, `default.extraEnv` (append-style: adds to the
list instead of replacing it), what the chart sets for the component (`.forced`, e.g. a tier's
OTEL_SERVICE_NAME), the component's `envOverrides`, and `.final` (what nobody may override: the
sandbox's disabled exporters). Args: dict root [forced] [overrides] [final]
*/}}
{{- define "codecascade.env" -}}
{{- $layers := list .root.Values.default.env (.root.Values.default.extraEnv | default list) (.forced | default list) (.overrides | default list) (.final | default list) -}}
{{- $order := list -}}
{{- $byName := dict -}}
{{- range $layer := $layers -}}
{{- range $layer -}}
{{- if not (hasKey $byName .name) }}{{ $order = append $order .name }}{{ end -}}
{{- $_ := set $byName .name . -}}
{{- end -}}
{{- end -}}
{{- range $order }}
- {{ toYaml (index $byName .) | nindent 2 | trim }}
{{- end -}}
{{- end -}}

{{/* The sandbox's egress is denied: it exports no telemetry (its metrics are scraped). */}}
{{- define "codecascade.sandboxNoExport" -}}
- name: OTEL_TRACES_EXPORTER
  value: none
- name: OTEL_METRICS_EXPORTER
  value: none
- name: OTEL_LOGS_EXPORTER
  value: none
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: ""
{{- end -}}

{{- define "codecascade.meshDeployment" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $v := index $root.Values $c -}}
{{- $ctx := dict "root" $root "component" $c -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "codecascade.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- with $v.labels }}
    {{- toYaml (omit . "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component") | nindent 4 }}
    {{- end }}
    {{- include "codecascade.labels" $ctx | nindent 4 }}
  {{- with $v.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- if include "codecascade.meshAutoscaled" $ctx }}
  replicas: {{ include "codecascade.managedReplicas" (dict "root" $root "name" (include "codecascade.componentName" $ctx) "floor" (index $root.Values.autoscaling.mesh $c).minReplicas) }}
  {{- else }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "codecascade.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- with $v.podLabels }}
        {{- toYaml (omit . "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component") | nindent 8 }}
        {{- end }}
        {{- include "codecascade.labels" $ctx | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap-mesh.yaml") $root | sha256sum }}
        {{- if and (has $c (list "router" "testsynth")) (include "codecascade.tiersHaveKeys" $root) }}
        checksum/tier-secrets: {{ include "codecascade.tierSecretsChecksum" $root }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "codecascade.serviceAccountName" $ctx }}
      {{- /* Only the autoscaler in direct mode calls the API server (its Role: get/patch on the
      tier objects' scale); every other pod gets no token. */}}
      automountServiceAccountToken: {{ and (eq $c "autoscaler") (eq $root.Values.autoscaling.mode "direct") }}
      enableServiceLinks: false
      {{- with $v.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $c }}
          image: {{ include "codecascade.image" (dict "root" $root "image" $root.Values.image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["{{ $c }}"]
          ports:
            - name: grpc
              containerPort: {{ $v.grpcPort }}
              protocol: TCP
            {{- if $v.metricsPort }}
            - name: metrics
              containerPort: {{ $v.metricsPort }}
              protocol: TCP
            {{- end }}
            {{- if eq $c "router" }}
            {{- if $v.tls.enabled }}
            - name: tls
              containerPort: {{ $v.tls.port }}
              protocol: TCP
            {{- end }}
            {{- if $v.http.port }}
            - name: http
              containerPort: {{ $v.http.port }}
              protocol: TCP
            {{- end }}
            {{- end }}
          env:
            - name: GRPC_HOST
              value: "0.0.0.0"
            - name: GRPC_PORT
              value: {{ $v.grpcPort | quote }}
            - name: METRICS_PORT
              value: {{ $v.metricsPort | quote }}
            - name: SHUTDOWN_GRACE_S
              value: {{ $v.shutdownGraceSeconds | quote }}
            - name: LOG_LEVEL
              value: {{ $v.logLevel | quote }}
            - name: CODECASCADE_CONFIG
              value: /etc/codecascade/config.yaml
            {{- with include (printf "codecascade.%sEnv" $c) $ctx | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- $final := ternary (include "codecascade.sandboxNoExport" $ctx | fromYamlArray) list (eq $c "sandbox") }}
            {{- include "codecascade.env" (dict "root" $root "overrides" $v.envOverrides "final" $final) | trim | nindent 12 }}
          startupProbe:
            grpc:
              port: {{ $v.grpcPort }}
            periodSeconds: 5
            failureThreshold: {{ $v.startupFailureThreshold }}
          readinessProbe:
            grpc:
              port: {{ $v.grpcPort }}
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          livenessProbe:
            grpc:
              port: {{ $v.grpcPort }}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 6
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/codecascade
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- if eq $c "router" }}
            {{- include "codecascade.routerMounts" $ctx | nindent 12 }}
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "codecascade.componentName" (dict "root" $root "component" "mesh") }}
        - name: tmp
          emptyDir:
            {{- if eq $c "sandbox" }}
            medium: Memory
            {{- end }}
            sizeLimit: {{ $v.tmpSizeLimit }}
        {{- if eq $c "router" }}
        {{- include "codecascade.routerVolumes" $ctx | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The tier list for router and testsynth: TIERS (with Secret-backed keys) when keys exist. */}}
{{- define "codecascade.tiersEnv" -}}
{{- if include "codecascade.tiersHaveKeys" .root }}
{{- range .root.Values.tiers }}
{{- if and (eq .backend "external") (dig "external" "apiKeySecret" "name" "" .) }}
- name: {{ include "codecascade.tierKeyEnv" . }}
  valueFrom:
    secretKeyRef:
      name: {{ .external.apiKeySecret.name }}
      key: {{ .external.apiKeySecret.key }}
{{- end }}
{{- end }}
- name: TIERS
  value: {{ include "codecascade.tiersJson" .root | quote }}
{{- end }}
{{- end -}}

{{- define "codecascade.routerEnv" -}}
{{- $root := .root -}}
- name: POLICY_FILE
  value: /etc/codecascade/policy.yaml
- name: TESTSYNTH_ADDR
  value: {{ default (printf "%s:%d" (include "codecascade.serviceHost" (dict "root" $root "component" "testsynth")) (int $root.Values.testsynth.grpcPort)) $root.Values.router.testsynthAddr | quote }}
- name: SANDBOX_ADDR
  value: {{ default (printf "%s:%d" (include "codecascade.serviceHost" (dict "root" $root "component" "sandbox")) (int $root.Values.sandbox.grpcPort)) $root.Values.router.sandboxAddr | quote }}
{{- $v := $root.Values.router }}
{{- if $v.tenants.enabled }}
- name: TENANTS_FILE
  value: {{ printf "/var/run/secrets/codecascade/tenants/%s" $v.tenants.key | quote }}
{{- end }}
{{- if $v.tls.enabled }}
- name: TLS_HOST
  value: "0.0.0.0"
- name: TLS_PORT
  value: {{ $v.tls.port | quote }}
- name: TLS_CERT_FILE
  value: /var/run/secrets/codecascade/tls/tls.crt
- name: TLS_KEY_FILE
  value: /var/run/secrets/codecascade/tls/tls.key
{{- if $v.tls.clientCaSecret }}
- name: TLS_CLIENT_CA_FILE
  value: {{ printf "/var/run/secrets/codecascade/client-ca/%s" $v.tls.clientCaKey | quote }}
{{- end }}
{{- end }}
- name: LEDGER_STORE
  value: {{ $v.ledger.store | quote }}
{{- if eq $v.ledger.store "redis" }}
- name: REDIS_URL
  value: {{ $v.ledger.redisUrl | quote }}
{{- if $v.ledger.redisPasswordSecret.name }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.ledger.redisPasswordSecret.name }}
      key: {{ $v.ledger.redisPasswordSecret.key }}
{{- end }}
{{- end }}
{{- if $v.http.port }}
- name: HTTP_HOST
  value: "0.0.0.0"
- name: HTTP_PORT
  value: {{ $v.http.port | quote }}
{{- else }}
- name: HTTP_ENABLED
  value: "false"
{{- end }}
{{- if $v.policies }}
- name: POLICIES
  value: {{ include "codecascade.policiesJson" $root | quote }}
{{- end }}
{{- include "codecascade.tiersEnv" . }}
{{- end -}}

{{/* Named policies: model name -> file in the mesh ConfigMap (keys are hashed: a name may hold ':'). */}}
{{- define "codecascade.policyKey" -}}
{{- printf "policy-%s.yaml" (sha256sum . | trunc 16) -}}
{{- end -}}

{{- define "codecascade.policiesJson" -}}
{{- $out := dict -}}
{{- range $name, $_ := .Values.router.policies -}}
{{- $_ := set $out $name (printf "/etc/codecascade/%s" (include "codecascade.policyKey" $name)) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The tenants file's Secret: the chart's own (router.tenants.file) or an existing one. */}}
{{- define "codecascade.tenantsSecretName" -}}
{{- default (printf "%s-tenants" (include "codecascade.componentName" (dict "root" .root "component" "router"))) .root.Values.router.tenants.existingSecret -}}
{{- end -}}

{{/*
The router's Secret mounts: whole directories (never subPath), so a changed Secret reaches the
files and the router reloads them without a restart (TENANTS_FILE, the TLS pair, the client CA).
*/}}
{{- define "codecascade.routerMounts" -}}
{{- $v := .root.Values.router -}}
{{- if $v.tenants.enabled }}
- name: tenants
  mountPath: /var/run/secrets/codecascade/tenants
  readOnly: true
{{- end }}
{{- if $v.tls.enabled }}
- name: tls
  mountPath: /var/run/secrets/codecascade/tls
  readOnly: true
{{- if $v.tls.clientCaSecret }}
- name: client-ca
  mountPath: /var/run/secrets/codecascade/client-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "codecascade.routerVolumes" -}}
{{- $v := .root.Values.router -}}
{{- if $v.tenants.enabled }}
- name: tenants
  secret:
    secretName: {{ include "codecascade.tenantsSecretName" . }}
    items:
      - key: {{ $v.tenants.key }}
        path: {{ $v.tenants.key }}
{{- end }}
{{- if $v.tls.enabled }}
- name: tls
  secret:
    secretName: {{ $v.tls.secretName }}
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- if $v.tls.clientCaSecret }}
- name: client-ca
  secret:
    secretName: {{ $v.tls.clientCaSecret }}
    items:
      - key: {{ $v.tls.clientCaKey }}
        path: {{ $v.tls.clientCaKey }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "codecascade.testsynthEnv" -}}
{{- include "codecascade.tiersEnv" . | trim }}
{{- end -}}

{{- define "codecascade.autoscalerEnv" -}}
{{- end -}}

{{- define "codecascade.sandboxEnv" -}}
- name: SANDBOX_BACKEND
  value: pod
{{- end -}}

{{- define "codecascade.meshService" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .component -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "codecascade.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "codecascade.labels" $ctx | nindent 4 }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "codecascade.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $v.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- if $v.metricsPort }}
    - name: metrics
      port: {{ $v.metricsPort }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
    {{- if eq .component "router" }}
    {{- if $v.tls.enabled }}
    - name: tls
      port: {{ $v.tls.port }}
      targetPort: tls
      protocol: TCP
      appProtocol: grpc
    {{- end }}
    {{- if $v.http.port }}
    - name: http
      port: {{ $v.http.port }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- end }}
    {{- end }}
{{- end -}}

{{- define "codecascade.meshServiceAccount" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .component -}}
{{- $ctx := dict "root" $root "component" .component -}}
{{- if $v.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "codecascade.serviceAccountName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "codecascade.labels" $ctx | nindent 4 }}
  {{- with $v.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{- define "codecascade.meshPdb" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .component -}}
{{- $ctx := dict "root" $root "component" .component -}}
{{- if $v.pdb.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "codecascade.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "codecascade.labels" $ctx | nindent 4 }}
spec:
  {{- if hasKey $v.pdb "maxUnavailable" }}
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- end }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "codecascade.selectorLabels" $ctx | nindent 6 }}
{{- end -}}
{{- end -}}

{{- define "codecascade.meshServiceMonitor" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .component -}}
{{- $ctx := dict "root" $root "component" .component -}}
{{- if and $root.Values.serviceMonitor.enabled $v.metricsPort -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "codecascade.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "codecascade.labels" $ctx | nindent 4 }}
    {{- with $root.Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "codecascade.selectorLabels" $ctx | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ $root.Release.Namespace }}]
  endpoints:
    - port: metrics
      path: /metrics
      interval: {{ $root.Values.serviceMonitor.interval }}
      scrapeTimeout: {{ $root.Values.serviceMonitor.scrapeTimeout }}
{{- end -}}
{{- end -}}


{{/*
A hash of the tier API-key Secrets the router and test synthesis read, so that rotating a key
and running `helm upgrade` restarts them (a Secret-backed env var is read at start only): the
chart's own tenantSecrets, and the current data of Secrets made out of band (`lookup`; empty
under `helm template`). Args: root
*/}}
{{- define "codecascade.tierSecretsChecksum" -}}
{{- $root := . -}}
{{- $parts := list (toJson $root.Values.tenantSecrets) -}}
{{- range $root.Values.tiers -}}
{{- if and (eq .backend "external") (dig "external" "apiKeySecret" "name" "" .) -}}
{{- $found := lookup "v1" "Secret" $root.Release.Namespace .external.apiKeySecret.name -}}
{{- $parts = append $parts (printf "%s=%s" .external.apiKeySecret.name (toJson (dig "data" dict ($found | default dict)))) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $parts | sha256sum -}}
{{- end -}}
