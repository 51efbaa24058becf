"""The real pipeline on a handful of problems: `cascade eval` (tier S, gVisor) then `calibrate`.

What CI runs of the headline experiment: 3 HumanEval problems, tier S only, k_max 3, l_max 2.
A second `eval` on the same cache must generate nothing (resumable), and the policy written
must load in the router's schema.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from codecascade.cli import main
from codecascade.router.policy import CascadePolicy

pytestmark = [
    pytest.mark.runsc,
    pytest.mark.skipif(
        shutil.which("runsc") is None or os.geteuid() != 0, reason="needs runsc and root"
    ),
    pytest.mark.timeout(600),  # < 3 min on an idle 2-core machine; shared machines are slower
]


def test_eval_then_calibrate_on_three_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    args = ["eval", "--tiers", "S", "--k-max", "3", "--l-max", "2", "--limit", "3",
            "--seed", "7", "--max-tokens", "192", "--cache", str(cache)]  # fmt: skip
    assert main(args) == 0
    generations = (cache / "generations-S.jsonl").read_text().splitlines()
    executions = (cache / "executions-S.jsonl").read_text().splitlines()
    assert len(generations) == len(executions) == 3
    record = json.loads(executions[0])
    assert len(record["matrix"]) == 4 and len(record["hidden"]) == 4  # 3 samples + greedy
    assert all(len(row) == len(record["columns"]) for row in record["matrix"])
    generated = json.loads(generations[0])
    assert all(s["tokens"] > 0 and s["cpu_s"] > 0 for s in generated["samples"])
    # The cache holds only what is worth committing: the sandbox's state lives elsewhere.
    assert sorted(p.name for p in cache.iterdir()) == [
        "executions-S.jsonl",
        "generations-S.jsonl",
        "settings.json",
    ]

    assert main(args) == 0  # everything cached: no model call, no sandbox run
    assert (cache / "generations-S.jsonl").read_text().splitlines() == generations

    policy_path = tmp_path / "policy.yaml"
    report = tmp_path / "results.md"
    plots = tmp_path / "plots"
    calibrate = ["calibrate", "--budget", "1000", "--cache", str(cache), "--out",
                 str(policy_path), "--plots", str(plots), "--report", str(report)]  # fmt: skip
    assert main(calibrate) == 0
    policy = CascadePolicy.load(policy_path)
    assert [t.tier for t in policy.tiers] == ["S"]
    assert (plots / "pareto.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "chosen, held out" in out and "Smaller grid" in report.read_text()


async def test_eval_against_a_deployed_endpoint(tmp_path: Path) -> None:
    """`--endpoints`: the tier is a server already running (here a real S server on loopback)."""
    import asyncio

    import yaml

    from codecascade.cli.supervisor import supervised
    from codecascade.cli.up import MeshFile, local_tier

    tier = next(t for t in MeshFile.load(None).tiers if t.name == "S")
    child, config = local_tier(tier)
    endpoints = tmp_path / "config.yaml"
    entry = config.model_dump(mode="json") | {"name": "gpu-small", "price_per_1k_tokens": 0.5}
    endpoints.write_text(yaml.safe_dump({"tiers": [entry]}))
    cache = tmp_path / "cache"
    args = ["eval", "--endpoints", str(endpoints), "--tiers", "gpu-small", "--k-max", "3",
            "--l-max", "2", "--limit", "1", "--seed", "7", "--max-tokens", "128",
            "--cache", str(cache)]  # fmt: skip
    async with supervised([child], start_timeout_s=300):
        assert await asyncio.to_thread(main, args) == 0
    settings = json.loads((cache / "settings.json").read_text())
    assert settings["tiers"] == [{"name": "gpu-small", "price_per_1k_tokens": 0.5}]
    generated = json.loads((cache / "generations-gpu-small.jsonl").read_text())
    # Wall seconds stand in for CPU-seconds of a tier on another machine.
    assert all(s["tokens"] > 0 and s["cpu_s"] > 0 for s in generated["samples"])
