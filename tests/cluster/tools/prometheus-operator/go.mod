// The Prometheus Operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule) for the chart tests:
// `scripts/cluster.sh crds` downloads this module, checked against go.sum, and copies
// example/prometheus-operator-crd/*.yaml into build/cluster/crds/ (nothing is built). No package
// is imported, so `go mod tidy` would drop the requirement: edit versions by hand and refresh
// go.sum with `go mod download github.com/prometheus-operator/prometheus-operator`.
// v0.85.0: the newest version the Go module proxy lists for this path (v0.95.2 answered 403
// "not available").
module codecascade/tests/cluster/tools/prometheus-operator

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
