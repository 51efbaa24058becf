"""The chart's dashboards and alert rules (docs/dashboards.md): shipped as Grafana's sidecar and
the Prometheus Operator expect them, off by default, and every PromQL expression in them valid
for promtool. That the expressions return the series they promise is the live test's part
(tests/integration/observability/test_dashboards_alerts.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.promql import (
    DASHBOARDS,
    RULES_FILE,
    dashboard,
    dashboard_queries,
    rule_groups,
    rules,
)

from .conftest import ROOT, Rendered

Renderer = Callable[..., Rendered]
OBSERVABILITY = (Path(__file__).parent / "values" / "observability.yaml",)
RULE_CRD = "monitoring.coreos.com_prometheusrules.yaml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: scripts/setup.sh installs Debian's prometheus package")
    return found


def _check_rules(tmp_path: Path, groups: list[dict[str, object]]) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_are_off_by_default(renderer: Renderer) -> None:
    rendered = renderer(())
    assert not rendered.of_kind("PrometheusRule")
    assert not [
        d for d in rendered.of_kind("ConfigMap") if d["metadata"]["name"].endswith("-dashboards")
    ]


def test_dashboards_configmap_carries_the_sidecar_label_and_every_dashboard(
    renderer: Renderer,
) -> None:
    rendered = renderer(OBSERVABILITY)
    config = rendered.get("ConfigMap", "codecascade-dashboards")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["annotations"] == {"grafana_folder": "codecascade"}
    assert set(config["data"]) == {p.name for p in DASHBOARDS} and DASHBOARDS
    for path in DASHBOARDS:
        assert json.loads(config["data"][path.name]) == dashboard(path)
    custom = renderer(
        OBSERVABILITY, ("grafanaDashboards.label=dashboards", "grafanaDashboards.labelValue=ok")
    )
    labels = custom.get("ConfigMap", "codecascade-dashboards")["metadata"]["labels"]
    assert labels["dashboards"] == "ok" and "grafana_dashboard" not in labels


def test_prometheus_rule_is_the_rule_file_and_passes_promtool(
    renderer: Renderer, tmp_path: Path
) -> None:
    rendered = renderer(OBSERVABILITY)
    (rule,) = rendered.of_kind("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["spec"]["groups"] == rule_groups()
    _check_rules(tmp_path, rule["spec"]["groups"])  # what the Operator hands Prometheus


def test_the_rules_promise_the_four_alerts_of_the_issue() -> None:
    alerts = {r.name: r for r in rules() if r.alert}
    assert set(alerts) >= {
        "CodecascadeEscalationRateRising",
        "CodecascadeTierNoReadyReplicas",
        "CodecascadeSandboxCrashing",
        "CodecascadeBudgetNearlyExhausted",
    }
    for group in rule_groups():
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"warning", "critical"}
                assert {"summary", "description"} <= set(rule["annotations"])


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query (Grafana's variables filled in) as a recording rule."""
    queries = dashboard_queries()
    assert len(queries) >= 15
    records = [
        {"record": f"dashboard:query_{index}", "expr": query.promql("5m")}
        for index, query in enumerate(queries)
    ]
    _check_rules(tmp_path, [{"name": "dashboard", "rules": records}])


def test_dashboards_take_their_datasource_from_a_variable_and_show_exemplars() -> None:
    for path in DASHBOARDS:
        document = dashboard(path)
        variables = {v["name"]: v for v in document["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for panel in document["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    latency = [q for q in dashboard_queries() if "_seconds_bucket" in q.expr]
    assert latency and all(q.exemplar for q in latency)  # a latency spike leads to a trace
    escalations = [q for q in dashboard_queries() if "rate(codecascade_escalations_total" in q.expr]
    assert any(q.exemplar for q in escalations)


def test_tier_targets_get_the_tier_label_the_alerts_join_on(renderer: Renderer) -> None:
    rendered = renderer(OBSERVABILITY)
    (monitor,) = rendered.of_kind("PodMonitor")
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert {
            "sourceLabels": ["__meta_kubernetes_pod_label_codecascade_tier_name"],
            "targetLabel": "tier",
        } in endpoint["relabelings"]
    for isvc in rendered.of_kind("InferenceService"):
        name = isvc["metadata"]["labels"]["codecascade/tier-name"]
        assert isvc["spec"]["predictor"]["labels"]["codecascade/tier-name"] == name


def test_rule_file_is_plain_prometheus_yaml() -> None:
    """The rule file is plain Prometheus YAML (no Helm templating): promtool and the live test
    read the same bytes the chart ships."""
    assert "{{ $labels" in RULES_FILE.read_text() and "{{ ." not in RULES_FILE.read_text()


def test_every_series_read_is_a_declared_instrument() -> None:
    """The dashboards and rules read only series the services declare (docs/telemetry/
    metrics.yaml, itself held to the code), so a renamed metric cannot leave a panel blank."""
    registry = yaml.safe_load((ROOT / "docs" / "telemetry" / "metrics.yaml").read_text())
    declared = set()
    for metric in registry["metrics"]:
        name = metric["name"]
        declared.add(name)
        if metric["type"] == "histogram":
            declared |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    recorded = {r.name for r in rules() if not r.alert}
    exprs = [q.expr for q in dashboard_queries()] + [r.expr for r in rules()]
    read = {
        token
        for expr in exprs
        for token in re.findall(r"\b(?:codecascade|gen_ai)[a-z0-9_:]*", expr)
    }
    assert read - recorded, "no series found in the expressions"
    assert not read - recorded - declared


def test_alerts_fire_on_the_conditions_they_name_and_only_then() -> None:
    """promtool's unit tests (tests/charts/rules/codecascade.rules.test.yaml): synthetic series over
    simulated hours with the rules' real `for:`: a 6 h escalation baseline then a rise, a steady
    high ratio (no alert), a tier down, one scaled to zero, an external one (no alert), failing
    calls, crashed cells, budgets reported by two router replicas."""
    tests = Path(__file__).parent / "rules" / "codecascade.rules.test.yaml"
    result = subprocess.run(
        [promtool(), "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    covered = set(re.findall(r"alertname: (\w+)", tests.read_text()))
    assert covered == {r.name for r in rules() if r.alert}
