"""The chart's `policy:` value takes the options beyond the paper (issue 18).

The policy `cascade calibrate --options` wrote, with a pre-router model inline, passes the
values schema and reaches the router's ConfigMap as the same policy.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from codecascade.router.policy import CascadePolicy
from codecascade.router.prerouter import FEATURES, MODEL_VERSION

from .conftest import render, requires_helm

ROOT = Path(__file__).resolve().parents[2]
OPTIONS_POLICY = ROOT / "benchmarks" / "results" / "policy-humaneval-options.yaml"


@requires_helm
def test_the_calibrated_options_policy_with_a_pre_router_installs(tmp_path: Path) -> None:
    policy = yaml.safe_load(OPTIONS_POLICY.read_text())
    policy["prerouter"] = {
        "skip_if_fails": 0.7,
        "model": {
            "version": MODEL_VERSION,
            "tier": "M",
            "features": list(FEATURES),
            "mean": [0.0] * len(FEATURES),
            "scale": [1.0] * len(FEATURES),
            "coef": [0.1] * len(FEATURES),
            "intercept": -0.2,
        },
    }
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"policy": policy}))
    data = render([values]).get("ConfigMap", "codecascade-mesh")["data"]
    mounted = CascadePolicy.from_yaml(data["policy.yaml"], source="chart policy")
    assert mounted == CascadePolicy.model_validate(policy)
    assert mounted.tiers[-1].carry_tests and mounted.tiers[-1].batch == 2


@requires_helm
def test_a_policy_with_a_learned_verifier_installs(tmp_path: Path) -> None:
    from codecascade.router import verifier

    n = len(verifier.FEATURES)
    policy = yaml.safe_load(OPTIONS_POLICY.read_text()) | {
        "tiers": [
            {"tier": "M", "k": 1, "test_lines": 2},
            {"tier": "L", "k": 1, "test_lines": 0, "carry_tests": True},
            {
                "tier": "M",
                "k": 2,
                "test_lines": 0,
                "threshold": 0.5,
                "batch": 1,
                "carry_tests": True,
                "select_from_all": True,
            },
        ],
        "verifier": {
            "version": verifier.MODEL_VERSION,
            "features": list(verifier.FEATURES),
            "mean": [0.0] * n,
            "scale": [1.0] * n,
            "coef": [0.1] * n,
            "intercept": -0.2,
        },
    }
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"policy": policy}))
    data = render([values]).get("ConfigMap", "codecascade-mesh")["data"]
    mounted = CascadePolicy.from_yaml(data["policy.yaml"], source="chart policy")
    assert mounted == CascadePolicy.model_validate(policy)
    assert mounted.verifier is not None and [t.tier for t in mounted.tiers] == ["M", "L", "M"]
