"""`cascade eval --endpoints`: a bad endpoints file is refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecascade.cli import main


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tiers:\n  - {name: A, address: 'x:1', model: m}\n",
         "tiers[0].price_per_1k_tokens: Field required"),
        ("tiers: []\n", "expected a non-empty `tiers:` list"),
        ("tiers: [\n", "not valid YAML"),
        ("tiers:\n  - {name: A, address: 'x:1', model: m, price_per_1k_tokens: 1, colour: red}\n",
         "tiers[0].colour: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_endpoint_files_name_the_file_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    args = ["eval", "--endpoints", str(path), "--tiers", "A", "--cache", str(tmp_path / "cache")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"--endpoints {path}" in err and expected in err
    assert not (tmp_path / "cache").exists()


def test_missing_file_and_unknown_tier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "--endpoints", str(tmp_path / "nope.yaml"), "--cache", str(tmp_path / "c")]
    assert main(args) == 1
    assert "cannot read" in capsys.readouterr().err
    path = tmp_path / "config.yaml"
    path.write_text("tiers:\n  - {name: A, address: 'x:1', model: m, price_per_1k_tokens: 1}\n")
    args = ["eval", "--endpoints", str(path), "--tiers", "A", "B", "--cache", str(tmp_path / "c")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "unknown tiers ['B']" in err and "'A'" in err and "'S'" in err
