"""Every PromQL expression the project ships, read from where it ships (never copied into tests).

The chart's Grafana dashboards (charts/codecascade/dashboards/*.json) and its rule file
(charts/codecascade/rules/codecascade.rules.yaml) are the only places an expression is written.
The chart tests check them offline (promtool), the live-Prometheus test evaluates each of them
against a real mesh; both read them through this module. A dashboard target's legend names the
labels its series must carry (`{{tier}} p95` -> {"tier"}), an alert's annotations the labels its
alerts must carry (`{{ $labels.tier }}`), so the expected labels live next to the query too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "codecascade"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
RULES_FILE = CHART / "rules" / "codecascade.rules.yaml"

# What Grafana substitutes for its range variables; the tests use a scrape-interval-sized value.
GRAFANA_VARIABLES = ("$__rate_interval", "$__interval", "$__range")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str  # as written, with Grafana's variables
    legend: str
    exemplar: bool

    @property
    def labels(self) -> frozenset[str]:
        """The labels the legend names: each returned series must carry them."""
        return frozenset(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", self.legend))

    def promql(self, interval: str = "1m") -> str:
        """The expression as Prometheus receives it from Grafana (its variables filled in)."""
        expr = self.expr
        for variable in GRAFANA_VARIABLES:
            expr = expr.replace(variable, interval)
        return expr


@dataclass(frozen=True, slots=True)
class Rule:
    group: str
    name: str  # the alert's or the recorded series' name
    alert: bool
    expr: str
    labels: frozenset[str]  # for alerts: the labels the annotations name


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out += _panels(panel.get("panels", []))  # collapsed rows hold their panels
    return out


def dashboard(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def dashboard_queries() -> list[PanelQuery]:
    queries = []
    for path in DASHBOARDS:
        document = dashboard(path)
        for panel in _panels(document["panels"]):
            for target in panel.get("targets", []):
                queries.append(
                    PanelQuery(
                        path.name,
                        panel["title"],
                        target["expr"],
                        target.get("legendFormat", ""),
                        bool(target.get("exemplar", False)),
                    )
                )
    return queries


def rule_groups(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def rules(path: Path = RULES_FILE) -> list[Rule]:
    found = []
    for group in rule_groups(path):
        for rule in group["rules"]:
            alert = "alert" in rule
            text = " ".join(str(v) for v in rule.get("annotations", {}).values())
            labels = frozenset(re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", text))
            name = rule["alert"] if alert else rule["record"]
            found.append(Rule(group["name"], name, alert, rule["expr"], labels))
    return found


def rules_with_for(duration: str, path: Path = RULES_FILE) -> dict[str, Any]:
    """The rule file with every alert's `for:` set to `duration` (a test need not wait minutes)."""
    groups = rule_groups(path)
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = duration
    return {"groups": groups}
