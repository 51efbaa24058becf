"""`cascade up` starts a tier server only for the tiers its policy uses."""

import pytest
from pydantic import ValidationError

from codecascade.cli.up import MeshFile, local_tier
from codecascade.core.tiers import TierSpec


def test_embedded_mesh_serves_only_the_tiers_its_policy_uses() -> None:
    mesh = MeshFile.load(None)
    skipped = {t.tier for t in mesh.policy.tiers if not t.active}
    assert skipped, "the embedded policy skips a tier (S); otherwise this test checks nothing"
    serving = mesh.serving()
    assert {t.name for t in serving.tiers} == {t.tier for t in mesh.policy.tiers if t.active}
    assert not skipped & {t.tier for t in serving.policy.tiers}
    assert [t.k for t in serving.policy.tiers] == [t.k for t in mesh.policy.tiers if t.active]


def test_mesh_tiers_are_tier_specs_without_an_address() -> None:
    mesh = MeshFile.load(None)
    assert all(isinstance(t, TierSpec) and not t.address for t in mesh.tiers)
    with pytest.raises(ValidationError, match="cascade up` serves every tier itself"):
        MeshFile.model_validate(
            {
                "tiers": [
                    {"name": "S", "model": "S", "price_per_1k_tokens": 0.1, "address": "x:1"}
                ],
                "policy": mesh.policy.model_dump(),
            }
        )


def test_local_tier_serves_the_model_under_the_tier_name() -> None:
    spec = TierSpec(name="S", model="/models/s.gguf", price_per_1k_tokens=0.1, prompt_format="raw")
    child, served = local_tier(spec, timeout_s=7.0)
    assert served.address == child.address and served.model == "S"
    assert (served.price_per_1k_tokens, served.prompt_format, served.timeout_s) == (0.1, "raw", 7.0)
    assert child.args[child.args.index("--model") + 1] == "/models/s.gguf"
