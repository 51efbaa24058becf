"""`cascade tenants add|revoke|list|org`: the key is printed once, only its hash is kept."""

from __future__ import annotations

import pytest

from codecascade.cli import main
from codecascade.core.errors import Unauthenticated
from codecascade.tenancy.keys import hash_key
from codecascade.tenancy.tenants import TenantDirectory, read_tenants


def _cascade(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_the_key_once_and_stores_its_hash(tmp_path, capsys) -> None:
    path = tmp_path / "tenants.yaml"
    code, out, err = _cascade(
        capsys,
        "tenants", "add", "team-a", "--file", str(path), "--org", "acme",
        "--budget-usd", "5", "--period", "day", "--lifetime-usd", "100", "--degrade",
        "--requests-per-min", "60", "--concurrent-requests", "4", "--tiers", "S,M",
    )  # fmt: skip
    assert code == 0 and "shown once" in err
    key = out.strip()
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    tenant = read_tenants(path).tenant("team-a")
    assert tenant is not None and tenant.organisation == "acme"
    assert tenant.budget is not None and (tenant.budget.usd, tenant.budget.period) == (5, "day")
    assert tenant.on_budget_exhausted == "degrade" and tenant.allowed_tiers == ("S", "M")
    assert tenant.rate_limits.requests_per_min == 60
    assert TenantDirectory(path).authenticate(key).tenant.id == "team-a"
    # A second add gives the same tenant another key and keeps its settings.
    code, second, _ = _cascade(capsys, "tenants", "add", "team-a", "--file", str(path))
    again = read_tenants(path).tenant("team-a")
    assert again is not None and len(again.keys) == 2 and again.budget == tenant.budget
    assert second.strip() != key


def test_revoke_and_list(tmp_path, capsys) -> None:
    path = tmp_path / "tenants.yaml"
    _, key, _ = _cascade(capsys, "tenants", "add", "t", "--file", str(path))
    directory = TenantDirectory(path)
    key_id = read_tenants(path).tenants[0].keys[0].id
    code, _, err = _cascade(capsys, "tenants", "revoke", key_id, "--file", str(path))
    assert code == 0 and f"revoked key {key_id} of tenant t" in err
    with pytest.raises(Unauthenticated, match="revoked"):
        directory.authenticate(key.strip())
    _cascade(capsys, "tenants", "org", "acme", "--file", str(path), "--budget-usd", "50")
    code, listing, _ = _cascade(capsys, "tenants", "list", "--file", str(path))
    assert "organisation acme: $50/month" in listing
    assert f"  {key_id}  created" in listing and "revoked" in listing
    assert hash_key(key.strip()) not in listing
    code, _, err = _cascade(capsys, "tenants", "revoke", "key-nope", "--file", str(path))
    assert code == 1 and "no key 'key-nope'" in err
