"""`cascade up --observe`'s wiring: the OTEL_* variables that reach Phoenix, the scrape jobs, the
metrics ports every child gets, and the Phoenix version setup.sh installs."""

from __future__ import annotations

import re
from pathlib import Path

from codecascade.cli.observe import (
    PHOENIX_VERSION,
    RunningPhoenix,
    alert_rule_files,
    phoenix_env,
    scrape_jobs,
)
from codecascade.cli.up import MeshFile, _plan

ROOT = Path(__file__).resolve().parents[3]


def test_phoenix_env_exports_over_otlp_http_and_keeps_what_was_chosen() -> None:
    phoenix = RunningPhoenix(url="http://127.0.0.1:6006", pid=1)
    env = phoenix_env(phoenix, base={})
    assert env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://127.0.0.1:6006/v1/traces"
    assert env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "openinference.project.name=codecascade"
    kept = phoenix_env(
        phoenix,
        base={"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": "deployment=dev"},
    )
    assert kept["OTEL_TRACES_EXPORTER"] == "otlp,console"
    assert kept["OTEL_RESOURCE_ATTRIBUTES"] == (
        "deployment=dev,openinference.project.name=codecascade"
    )


def test_observed_mesh_gives_every_child_a_metrics_port_and_the_env(tmp_path: Path) -> None:
    mesh = MeshFile.load(None).only(["S", "M"])
    plain = _plan(mesh, tmp_path, 50051, insecure=True)
    assert [c.metrics_port is not None for c in plain] == [True, True, False, False, False]
    assert all("METRICS_PORT" not in c.env for c in plain)

    children = _plan(mesh, tmp_path, 50051, insecure=True, metrics=True, env={"OTEL_X": "1"})
    ports = [c.metrics_port for c in children]
    assert all(ports) and len(set(ports)) == len(ports)
    for child in children:
        assert child.env["OTEL_X"] == "1"
        if not child.name.startswith("tier-"):
            assert child.env["METRICS_PORT"] == str(child.metrics_port)
    jobs = scrape_jobs(children)
    assert [j.name for j in jobs] == ["tier-S", "tier-M", "sandbox", "testsynth", "router"]
    assert jobs[0].targets == [f"127.0.0.1:{children[0].metrics_port}"]
    assert jobs[-1].labels == {"service": "router"}
    # Tier servers carry the `tier` label the chart's alerts join router traffic on.
    assert jobs[0].labels == {"service": "tier-S", "tier": "S"}
    assert alert_rule_files() == [
        ROOT / "charts" / "codecascade" / "rules" / "codecascade.rules.yaml"
    ]


def test_setup_installs_the_phoenix_version_the_code_expects() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert re.search(rf"^PHOENIX_VERSION={re.escape(PHOENIX_VERSION)}$", setup, re.MULTILINE)
