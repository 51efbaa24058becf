#!/usr/bin/env bash
# A real local Kubernetes control plane for tests/cluster/, on loopback only (issue 15):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes at the release
# pinned in tests/cluster/go.mod), kwok's controller with fake nodes (no container runtime runs
# here: kwok simulates kubelets and pods), and KEDA's operator. Everything is built from the Go
# modules pinned in tests/cluster/go.mod + go.sum (KEDA: tests/cluster/tools/keda/go.mod) into
# build/cluster/bin (gitignored); each binary is reused while its stamp (its module's go.mod and
# go.sum hash + go version + build recipe) matches. skaffold (tests/cluster/skaffold/go.mod) is
# built there too, for tests/cluster/test_skaffold.py, and KEDA's metrics API server (keda-adapter),
# for tests/cluster/test_autoscaler_live.py, which runs it in a network namespace of its own;
# `up` needs neither and builds neither.
#
#   scripts/cluster.sh build [name...]   build the binaries (all, or those named) if missing or stale;
#                                        with no name also `crds`
#   scripts/cluster.sh crds     the Prometheus Operator CRDs into build/cluster/crds (go.sum-checked)
#   scripts/cluster.sh up       build if needed, generate certs + kubeconfig, start, wait ready
#   scripts/cluster.sh down     stop everything `up` started, by PID (TERM, then KILL); idempotent
#   scripts/cluster.sh env      print `export KUBECONFIG=...`
#   scripts/cluster.sh status   print each component's PID and state and the nodes
#
# State lives in build/cluster/run (certs, etcd data, logs in run/logs, pids in run/pids).
# Ports (override with CLUSTER_PORT_BASE, default 16440): apiserver BASE, etcd client BASE+1,
# etcd peer BASE+2, controller-manager BASE+3, scheduler BASE+4, kwok BASE+5, KEDA metrics
# BASE+6, KEDA probes BASE+7, KEDA gRPC BASE+8.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MOD=tests/cluster
K8S_VERSION=v1.36.3 # keep equal to k8s.io/kubernetes in tests/cluster/go.mod
KEDA_VERSION=v2.21.0
KWOK_VERSION=v0.8.0
SKAFFOLD_VERSION=v2.16.1 # keep equal to tests/cluster/skaffold/go.mod
BIN=${CLUSTER_BIN:-$ROOT/build/cluster/bin}
RUN=${CLUSTER_RUN:-$ROOT/build/cluster/run}
PORT_BASE=${CLUSTER_PORT_BASE:-16440}
P_API=$PORT_BASE
P_ETCD=$((PORT_BASE + 1))
P_ETCD_PEER=$((PORT_BASE + 2))
P_KCM=$((PORT_BASE + 3))
P_SCHED=$((PORT_BASE + 4))
P_KWOK=$((PORT_BASE + 5))
P_KEDA_METRICS=$((PORT_BASE + 6))
P_KEDA_PROBE=$((PORT_BASE + 7))
P_KEDA_GRPC=$((PORT_BASE + 8))
HOST=127.0.0.1
KUBECONFIG_FILE=$RUN/admin.kubeconfig
KUBECTL=${KUBECTL:-$ROOT/build/tools/bin/kubectl}
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok keda-operator)

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------
ldflags_k8s() {
  local v=$K8S_VERSION minor
  minor=${v#v1.}
  minor=${minor%%.*}
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

# name|module dir|package|ldflags
targets() {
  echo "etcd|$MOD|./cmd/etcd|-s -w"
  echo "kube-apiserver|$MOD|k8s.io/kubernetes/cmd/kube-apiserver|$(ldflags_k8s)"
  echo "kube-controller-manager|$MOD|k8s.io/kubernetes/cmd/kube-controller-manager|$(ldflags_k8s)"
  echo "kube-scheduler|$MOD|k8s.io/kubernetes/cmd/kube-scheduler|$(ldflags_k8s)"
  echo "kwok|$MOD|sigs.k8s.io/kwok/cmd/kwok|-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
  echo "keda-operator|$MOD/tools/keda|github.com/kedacore/keda/v2/cmd/operator|-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
  echo "keda-adapter|$MOD/tools/keda|github.com/kedacore/keda/v2/cmd/adapter|-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
  echo "skaffold|$MOD/skaffold|github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold|-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION"
}

# A binary is reused while its stamp matches: the hash of its module's go.mod + go.sum (and of
# cmd/etcd for etcd), `go version` and its line in targets (package, ldflags).
stamp_value() { # stamp_value <target line>
  local name dir
  IFS='|' read -r name dir _ <<<"$1"
  { sha256sum "$dir/go.mod" "$dir/go.sum" | cut -d' ' -f1
    [ "$name" = etcd ] && sha256sum "$MOD/cmd/etcd/main.go" | cut -d' ' -f1
    go version
    echo "$1"; } | sha256sum | cut -d' ' -f1
}

fresh() { # fresh <target line>: the binary is there and its stamp matches
  local name
  IFS='|' read -r name _ <<<"$1"
  [ -x "$BIN/$name" ] && [ "$(cat "$BIN/.stamp-$name" 2>/dev/null)" = "$(stamp_value "$1")" ]
}

cmd_build() { # cmd_build [name...]: every target, or only those named
  command -v go >/dev/null || die "go is not on PATH (tests/cluster needs the Go toolchain)"
  local only=" $* " known=" $(targets | cut -d'|' -f1 | xargs) " n line stale=0
  for n in "$@"; do
    [[ $known == *" $n "* ]] || die "unknown binary $n (one of:$known)"
  done
  mkdir -p "$BIN"
  # Every wanted stamp matches: done, without waiting for the lock (another session may hold it
  # for a long build of a binary this call does not need, e.g. skaffold while `up` runs).
  while read -r line; do
    [ $# -eq 0 ] || [[ $only == *" ${line%%|*} "* ]] || continue
    fresh "$line" || stale=1
  done < <(targets)
  [ $stale = 1 ] || return 0
  # One build at a time per bin folder (two test sessions may start at once); the lock's fd lives
  # only in this subshell, so the daemons `up` starts later do not inherit it.
  (
  flock 9
  local want name dir pkg flags t0 t1
  while read -r line; do
    IFS='|' read -r name dir pkg flags <<<"$line"
    [ $# -eq 0 ] || [[ $only == *" $name "* ]] || continue
    fresh "$line" && continue
    want=$(stamp_value "$line")
    rm -f "$BIN/$name" "$BIN/.stamp-$name"
    log "building $name ($pkg) ..."
    t0=$(date +%s)
    # Low priority, one package at a time: the machine is shared with other test runs.
    (cd "$dir" && CGO_ENABLED=0 nice -n 19 go build -p "${CLUSTER_BUILD_P:-1}" -trimpath \
      -ldflags "$flags" -o "$BIN/$name.tmp" "$pkg") || die "build of $name failed"
    mv "$BIN/$name.tmp" "$BIN/$name"
    echo "$want" >"$BIN/.stamp-$name"
    t1=$(date +%s)
    log "built $name in $((t1 - t0)) s"
    echo "$name $((t1 - t0))" >>"$BIN/.build-times"
  done < <(targets)
  ) 9>"$BIN/.lock"
}

# ---------------------------------------------------------------------------------------------
# certificates and kubeconfigs (openssl; EC P-256 keys, RSA for the service-account signer)
# ---------------------------------------------------------------------------------------------
gen_pki() {
  local d=$RUN/pki
  mkdir -p "$d"
  local o="openssl"
  $o ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
  $o req -x509 -new -key "$d/ca.key" -subj "/CN=codecascade-test-cluster-ca" -days 30 \
    -out "$d/ca.crt" 2>/dev/null
  # name|subject|extensions
  local certs=(
    "apiserver|/CN=kube-apiserver|subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
    "admin|/O=system:masters/CN=cluster-admin|extendedKeyUsage=clientAuth"
    "kube-controller-manager|/CN=system:kube-controller-manager|extendedKeyUsage=clientAuth"
    "kube-scheduler|/CN=system:kube-scheduler|extendedKeyUsage=clientAuth"
    "kwok|/O=system:masters/CN=kwok-controller|extendedKeyUsage=clientAuth"
    "keda-operator|/O=system:masters/CN=keda-operator|extendedKeyUsage=clientAuth"
    "front-proxy-client|/CN=front-proxy-client|extendedKeyUsage=clientAuth"
    "keda-grpc|/CN=keda-operator|subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:keda-operator,DNS:keda-operator.keda.svc
extendedKeyUsage=serverAuth,clientAuth"
  )
  local entry name subj ext
  for entry in "${certs[@]}"; do
    name=${entry%%|*}
    entry=${entry#*|}
    subj=${entry%%|*}
    ext=${entry#*|}
    $o ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
    $o req -new -key "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$ext" \
      >"$d/$name.ext"
    $o x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
      -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
    rm -f "$d/$name.csr" "$d/$name.ext"
  done
  $o genrsa -out "$d/sa.key" 2048 2>/dev/null
  $o rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  # KEDA's metrics gRPC server reads ca.crt, tls.crt, tls.key from --cert-dir.
  mkdir -p "$RUN/keda-certs"
  cp "$d/ca.crt" "$RUN/keda-certs/ca.crt"
  cp "$d/keda-grpc.crt" "$RUN/keda-certs/tls.crt"
  cp "$d/keda-grpc.key" "$RUN/keda-certs/tls.key"
  chmod 600 "$d"/*.key "$RUN/keda-certs/tls.key"
}

b64() { base64 -w0 <"$1"; }

write_kubeconfig() { # write_kubeconfig <file> <cert name> <user>
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: codecascade-test
  cluster:
    server: https://$HOST:$P_API
    certificate-authority-data: $(b64 "$RUN/pki/ca.crt")
users:
- name: $3
  user:
    client-certificate-data: $(b64 "$RUN/pki/$2.crt")
    client-key-data: $(b64 "$RUN/pki/$2.key")
contexts:
- name: codecascade-test
  context:
    cluster: codecascade-test
    user: $3
current-context: codecascade-test
EOF
  chmod 600 "$1"
}

# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------
pidfile() { echo "$RUN/pids/$1.pid"; }

# alive <component>: its pid file names a live process running our binary.
alive() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A rebuild replaces the file under a running process: its exe then reads "... (deleted)".
  local exe
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
  [ "$exe" = "$BIN/$1" ] || [ "$exe" = "$BIN/$1 (deleted)" ]
}

start() { # start <component> [env VAR=... --] args...
  local name=$1
  shift
  local envs=()
  if [ "${1:-}" = env ]; then
    shift
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
  fi
  mkdir -p "$RUN/logs" "$RUN/pids"
  # setsid: its own session, so a terminal's Ctrl-C does not race `down`; stopped only by PID.
  env "${envs[@]}" setsid "$BIN/$name" "$@" >"$RUN/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
  log "started $name (pid $!, log ${RUN#"$ROOT"/}/logs/$name.log)"
}

stop() { # stop <component>...: TERM to each, wait up to 15 s for all, then KILL what is left
  local c pid t0=$SECONDS i
  local -A pids=()
  for c in "$@"; do
    [ -f "$(pidfile "$c")" ] || continue
    if alive "$c"; then
      pid=$(cat "$(pidfile "$c")")
      pids[$c]=$pid
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for i in $(seq 1 150); do
    local left=0
    for c in "${!pids[@]}"; do kill -0 "${pids[$c]}" 2>/dev/null && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for c in "${!pids[@]}"; do
    if kill -0 "${pids[$c]}" 2>/dev/null; then
      log "$c (pid ${pids[$c]}) ignored SIGTERM for 15 s: SIGKILL"
      kill -KILL "${pids[$c]}" 2>/dev/null || true
    fi
    log "stopped $c (pid ${pids[$c]})"
  done
  [ ${#pids[@]} -gt 0 ] && log "stopped ${!pids[*]} in $((SECONDS - t0)) s"
  for c in "$@"; do rm -f "$(pidfile "$c")"; done
}

# wait_for <what> <seconds> <component> <command...>: retry the command until it succeeds;
# fail early, with the component's log tail, if the component died.
wait_for() {
  local what=$1 secs=$2 comp=$3
  shift 3
  local deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$comp" ] && ! alive "$comp"; then
      log "$comp exited while waiting for $what; last lines of its log:"
      tail -n 30 "$RUN/logs/$comp.log" >&2 || true
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out after ${secs}s waiting for $what"
      [ -n "$comp" ] && tail -n 30 "$RUN/logs/$comp.log" >&2
      return 1
    fi
    sleep 0.5
  done
  log "ready: $what"
}

curl_admin() { # curl_admin <path>: GET on the API server as cluster-admin; prints the body
  curl -fsS --max-time 5 --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt" \
    --key "$RUN/pki/admin.key" "https://$HOST:$P_API$1"
}
is_ok() { [ "$("$@" 2>/dev/null)" = ok ]; }

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# Fake nodes (kwok manages the ones annotated kwok.x-k8s.io/node=fake).
#   kwok-cpu-0, kwok-cpu-1   plain CPU nodes
#   kwok-gvisor-0            has gVisor: label + taint codecascade/gvisor=true, as the
#                            RuntimeClass in k8s/runtimeclass-gvisor.yaml selects/tolerates
#   kwok-gpu-l4-0            2 x nvidia.com/gpu, GKE accelerator label nvidia-l4 (values-prod)
#   kwok-gpu-a100-0          4 x nvidia.com/gpu, nvidia-tesla-a100; GPU nodes carry the usual
#                            nvidia.com/gpu=present:NoSchedule taint
node_manifest() { # node_manifest <name> <cpu> <memory> <gpus> <labels yaml> <taints yaml>
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    codecascade/test-cluster: "true"
$5
spec:
$6
status:
  capacity: {cpu: "$2", memory: $3, pods: "110", ephemeral-storage: 100Gi$( [ "$4" -gt 0 ] && echo ", nvidia.com/gpu: \"$4\"")}
  allocatable: {cpu: "$2", memory: $3, pods: "110", ephemeral-storage: 100Gi$( [ "$4" -gt 0 ] && echo ", nvidia.com/gpu: \"$4\"")}
  nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: fake}
EOF
}

nodes_yaml() {
  local none="    {}" notaint="  taints: []"
  node_manifest kwok-cpu-0 8 32Gi 0 "" "$notaint"
  node_manifest kwok-cpu-1 8 32Gi 0 "" "$notaint"
  node_manifest kwok-gvisor-0 8 32Gi 0 '    codecascade/gvisor: "true"' \
    '  taints: [{key: codecascade/gvisor, value: "true", effect: NoSchedule}]'
  node_manifest kwok-gpu-l4-0 16 64Gi 2 \
    $'    cloud.google.com/gke-accelerator: nvidia-l4\n    nvidia.com/gpu.present: "true"' \
    '  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]'
  node_manifest kwok-gpu-a100-0 32 128Gi 4 \
    $'    cloud.google.com/gke-accelerator: nvidia-tesla-a100\n    nvidia.com/gpu.present: "true"' \
    '  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]'
  : "$none"
}

mod_dir() { (cd "$MOD" && go list -m -f '{{.Dir}}' "$1"); }

KEDA_CRD_REFERENCE=${KEDA_CRD_REFERENCE:-$ROOT/../shared/reference/crds/keda}

keda_crd_files() {
  # ScaledObject and TriggerAuthentication from ../shared/reference (read in place, never
  # copied); the four the operator also watches (ScaledJob, ClusterTriggerAuthentication,
  # CloudEventSource, ClusterCloudEventSource) from the pinned KEDA module's config/crd/bases.
  local keda ref
  keda=$(cd "$MOD/tools/keda" && go list -m -f '{{.Dir}}' github.com/kedacore/keda/v2)
  for ref in keda.sh_scaledobjects.yaml keda.sh_triggerauthentications.yaml; do
    [ -f "$KEDA_CRD_REFERENCE/$ref" ] || die "missing $KEDA_CRD_REFERENCE/$ref"
    echo "$KEDA_CRD_REFERENCE/$ref"
  done
  for ref in keda.sh_scaledjobs.yaml keda.sh_clustertriggerauthentications.yaml \
    eventing.keda.sh_cloudeventsources.yaml eventing.keda.sh_clustercloudeventsources.yaml; do
    echo "$keda/config/crd/bases/$ref"
  done
}

kwok_stages() {
  # kwok's own default stages (what kwokctl configures), from the pinned module:
  # nodes become Ready and renew their Lease; pods become Ready, complete, and are deleted.
  local kwok
  kwok=$(mod_dir sigs.k8s.io/kwok)
  local f
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    cat "$kwok/kustomize/stage/$f"
  done
}

port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

cmd_up() {
  local t0
  t0=$(date +%s)
  cmd_build "${COMPONENTS[@]}"
  [ -x "$KUBECTL" ] || bash scripts/tools.sh >&2
  cmd_down >/dev/null 2>&1 || true
  case "$RUN" in
    "" | / | "$ROOT" | "$ROOT/" | "$HOME" | "$HOME/") die "refusing to wipe CLUSTER_RUN=$RUN" ;;
  esac
  rm -rf "$RUN"
  mkdir -p "$RUN"/{pids,logs,etcd,kcm,scheduler}
  local p
  for p in $P_API $P_ETCD $P_ETCD_PEER $P_KCM $P_SCHED $P_KWOK $P_KEDA_METRICS $P_KEDA_PROBE $P_KEDA_GRPC; do
    port_free "$p" || die "port $HOST:$p is in use (set CLUSTER_PORT_BASE to move the cluster)"
  done
  gen_pki
  write_kubeconfig "$KUBECONFIG_FILE" admin cluster-admin
  local c
  for c in kube-controller-manager kube-scheduler kwok keda-operator; do
    write_kubeconfig "$RUN/$c.kubeconfig" "$c" "$c"
  done

  start etcd --name=default --data-dir="$RUN/etcd" \
    --listen-client-urls="http://$HOST:$P_ETCD" --advertise-client-urls="http://$HOST:$P_ETCD" \
    --listen-peer-urls="http://$HOST:$P_ETCD_PEER" --initial-advertise-peer-urls="http://$HOST:$P_ETCD_PEER" \
    --initial-cluster="default=http://$HOST:$P_ETCD_PEER" --initial-cluster-state=new \
    --unsafe-no-fsync=true --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) --log-level=warn
  wait_for "etcd /health" 60 etcd curl -fsS --max-time 2 "http://$HOST:$P_ETCD/health"

  local pki=$RUN/pki
  start kube-apiserver --bind-address=$HOST --advertise-address=$HOST --secure-port=$P_API \
    --etcd-servers="http://$HOST:$P_ETCD" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction,PodSecurity,RuntimeClass,ServiceAccount,LimitRanger,ResourceQuota,DefaultTolerationSeconds,Priority \
    --allow-privileged=true --profiling=false --endpoint-reconciler-type=none \
    --requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" \
    --proxy-client-key-file="$pki/front-proxy-client.key" \
    --cert-dir="$RUN/apiserver"
  wait_for "kube-apiserver /readyz" 180 kube-apiserver is_ok curl_admin /readyz

  start kube-controller-manager --kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$RUN/kube-controller-manager.kubeconfig" \
    --bind-address=$HOST --secure-port=$P_KCM --cert-dir="$RUN/kcm" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --use-service-account-credentials=true --leader-elect=false --profiling=false
  start kube-scheduler --kubeconfig="$RUN/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$RUN/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$RUN/kube-scheduler.kubeconfig" \
    --bind-address=$HOST --secure-port=$P_SCHED --leader-elect=false --profiling=false
  wait_for "kube-controller-manager /healthz" 120 kube-controller-manager \
    is_ok curl -ksS --max-time 2 "https://$HOST:$P_KCM/healthz"
  wait_for "kube-scheduler /readyz" 120 kube-scheduler \
    is_ok curl -ksS --max-time 2 "https://$HOST:$P_SCHED/readyz"

  # The platform objects the chart assumes: the gVisor RuntimeClass (scheduling puts its pods
  # on the gVisor node) and the fake nodes.
  k apply -f k8s/runtimeclass-gvisor.yaml >&2
  nodes_yaml >"$RUN/nodes.yaml"
  k apply -f "$RUN/nodes.yaml" >&2
  kwok_stages >"$RUN/kwok.yaml"
  start kwok --kubeconfig="$RUN/kwok.kubeconfig" --config="$RUN/kwok.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= --manage-single-node= \
    --cidr=10.244.0.1/16 --node-ip=10.0.0.1 --node-lease-duration-seconds=40 \
    --server-address="$HOST:$P_KWOK"
  wait_for "kwok /healthz" 60 kwok is_ok curl -sS --max-time 2 "http://$HOST:$P_KWOK/healthz"
  wait_for "5 fake nodes Ready" 120 kwok \
    k wait --for=condition=Ready node -l codecascade/test-cluster=true --timeout=5s
  wait_for "namespace default's ServiceAccount" 60 kube-controller-manager \
    k get serviceaccount default -n default

  # KEDA: CRDs, then the operator (out of cluster, watching all namespaces).
  local files=() f
  while read -r f; do files+=(-f "$f"); done < <(keda_crd_files)
  k apply --server-side "${files[@]}" >&2
  # `kubectl wait` exits at once for a CRD with no conditions yet: retry until all are Established.
  wait_for "KEDA CRDs Established" 60 kube-apiserver \
    k wait --for=condition=Established --timeout=5s "${files[@]}"
  k create namespace keda --dry-run=client -o yaml | k apply -f - >&2
  start keda-operator env WATCH_NAMESPACE= KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda \
    OPERATOR_NAME=keda-operator KUBECONFIG="$RUN/keda-operator.kubeconfig" -- \
    --kubeconfig="$RUN/keda-operator.kubeconfig" --leader-elect=false \
    --metrics-bind-address="$HOST:$P_KEDA_METRICS" --health-probe-bind-address="$HOST:$P_KEDA_PROBE" \
    --metrics-service-bind-address="$HOST:$P_KEDA_GRPC" --cert-dir="$RUN/keda-certs" \
    --ca-dir="$RUN/keda-certs" --enable-webhook-patching=false --enable-apiservice-patching=false \
    --zap-log-level=info
  wait_for "keda-operator /readyz" 120 keda-operator \
    curl -fsS --max-time 2 "http://$HOST:$P_KEDA_PROBE/readyz"

  log "up in $(($(date +%s) - t0)) s; kubeconfig: $KUBECONFIG_FILE"
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

# The Prometheus Operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule), from its Go module
# at the version tests/cluster/tools/prometheus-operator/go.mod pins: `go mod download` checks the
# zip against that go.sum, then the CRDs the chart can render are copied into build/ (gitignored;
# never into the repository). No Prometheus Operator runs: the tests apply these CRDs so the API
# server validates the chart's objects against them, and validate offline with them.
PROM_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator
PROM_CRD_DIR=${PROM_CRD_DIR:-$ROOT/build/cluster/crds/prometheus-operator}
PROM_CRDS=(servicemonitors podmonitors prometheusrules)

cmd_crds() {
  command -v go >/dev/null || die "go is not on PATH (the Prometheus Operator CRDs come from its Go module)"
  local dir json src f
  dir=$MOD/tools/prometheus-operator
  json=$(cd "$dir" && go mod download -json "$PROM_OPERATOR_MODULE") ||
    die "go mod download $PROM_OPERATOR_MODULE failed (see above; pinned in $dir/go.sum)"
  src=$(cd "$dir" && go list -m -f '{{.Dir}}' "$PROM_OPERATOR_MODULE")
  [ -n "$src" ] && [ -d "$src/example/prometheus-operator-crd" ] ||
    die "no example/prometheus-operator-crd in $PROM_OPERATOR_MODULE ($json)"
  mkdir -p "$PROM_CRD_DIR"
  for f in "${PROM_CRDS[@]}"; do
    install -m 0644 "$src/example/prometheus-operator-crd/monitoring.coreos.com_$f.yaml" "$PROM_CRD_DIR/"
  done
  (cd "$dir" && go list -m -f '{{.Version}}' "$PROM_OPERATOR_MODULE") >"$PROM_CRD_DIR/VERSION"
  log "Prometheus Operator CRDs $(cat "$PROM_CRD_DIR/VERSION"): ${PROM_CRD_DIR#"$ROOT"/}"
}

cmd_down() {
  # The API server's clients first (together), then the API server, then etcd.
  stop keda-operator kwok kube-scheduler kube-controller-manager
  stop kube-apiserver
  stop etcd
}

cmd_status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then
      printf '%-24s running (pid %s)\n' "$c" "$(cat "$(pidfile "$c")")"
    else
      printf '%-24s stopped\n' "$c"
      rc=1
    fi
  done
  if alive kube-apiserver; then
    k get nodes -o wide || true
  fi
  return $rc
}

case "${1:-}" in
  build) shift; cmd_build "$@"; [ $# -gt 0 ] || cmd_crds ;;
  crds) cmd_crds ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
  status) cmd_status ;;
  *) echo "usage: $0 build [name...]|crds|up|down|env|status" >&2; exit 2 ;;
esac
