"""The chart's `policy:` value takes the options beyond the paper (issue 18).

The policies `cascade calibrate --options` wrote, with a pre-router or a learned verifier inline,
pass the values schema and reach the router's ConfigMap as the same policy.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from codecascade.router.policy import CascadePolicy
from codecascade.router.prerouter import FEATURES, MODEL_VERSION

from .conftest import render, requires_helm

ROOT = Path(__file__).resolve().parents[2]
OPTIONS_POLICY = ROOT / "benchmarks" / "results" / "policy-humaneval-options.yaml"
VERIFIER_POLICY = ROOT / "benchmarks" / "results" / "policy-humaneval-verifier.yaml"


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
    mounted = _mounted(tmp_path, policy)
    assert mounted.tiers[-1].carry_tests and mounted.tiers[-1].batch == 2


@requires_helm
def test_the_calibrated_policy_with_a_learned_verifier_installs(tmp_path: Path) -> None:
    policy = yaml.safe_load(VERIFIER_POLICY.read_text())
    mounted = _mounted(tmp_path, policy)
    assert mounted.verifier is not None and [t.tier for t in mounted.tiers if t.active] == [
        "M",
        "L",
        "M",
    ]


def _mounted(tmp_path: Path, policy: dict[str, object]) -> CascadePolicy:
    """The policy as the router reads it from the chart's ConfigMap: the same as the value."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"policy": policy}))
    data = render([values]).get("ConfigMap", "codecascade-mesh")["data"]
    mounted = CascadePolicy.from_yaml(data["policy.yaml"], source="chart policy")
    assert mounted == CascadePolicy.model_validate(policy)
    return mounted
