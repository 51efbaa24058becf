"""API keys and the tenants file: schema, authentication table, reload on change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from codecascade.core.errors import Unauthenticated
from codecascade.tenancy.errors import TenantsFileError
from codecascade.tenancy.keys import KEY_PREFIX, bearer_key, hash_key, new_key
from codecascade.tenancy.tenants import (
    Organisation,
    Tenant,
    TenantDirectory,
    TenantsFile,
    read_tenants,
)
from tests.unit.tenancy.helpers import keyed, write


def test_keys_are_long_random_and_stored_only_as_their_hash() -> None:
    first, second = new_key(), new_key()
    assert first != second and first.startswith(KEY_PREFIX) and len(first) >= 40
    assert hash_key(first) == hash_key(first) and len(hash_key(first)) == 64
    assert first not in hash_key(first)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("cc_short", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer " + "x" * 40, "x" * 40),
        ("bearer   " + "y" * 40 + " ", "y" * 40),
        ("Bearer " + "x" * 20 + " " + "y" * 20, None),
    ],
)
def test_bearer_parsing(value, expected) -> None:
    assert bearer_key(value) == expected


def test_schema_rejects_duplicates_and_unknown_organisations(tmp_path) -> None:
    team, _ = keyed(Tenant(id="team"))
    with pytest.raises(TenantsFileError, match="organisation 'nope' is not listed"):
        TenantsFile.from_yaml(
            TenantsFile(tenants=(team,)).to_yaml().replace("organisation: ''", "organisation: nope")
        )
    twice = TenantsFile.model_construct(organisations=(), tenants=(team, team), version=1)
    with pytest.raises(TenantsFileError, match="tenant id appears twice"):
        TenantsFile.from_yaml(twice.to_yaml())
    other = team.model_copy(update={"id": "other"})  # the same key under two tenants
    shared = TenantsFile.model_construct(organisations=(), tenants=(team, other), version=1)
    with pytest.raises(TenantsFileError, match=r"key .* appears twice"):
        TenantsFile.from_yaml(shared.to_yaml())
    with pytest.raises(TenantsFileError, match="budgte: Extra inputs"):
        TenantsFile.from_yaml("tenants:\n  - id: a\n    budgte: {usd: 1}\n")
    # The schema is published for editors and the chart.
    schema = TenantsFile.model_json_schema()
    assert "tenants" in schema["properties"]


def test_round_trip_and_absent_file(tmp_path) -> None:
    path = tmp_path / "tenants.yaml"
    assert read_tenants(path) == TenantsFile()
    team, _ = keyed(Tenant(id="team", organisation="acme"))
    write(path, team, organisations=(Organisation(id="acme"),))
    assert read_tenants(path).tenant("team") == team
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _auth_table(tmp_path):
    path = tmp_path / "tenants.yaml"
    live, key = keyed(Tenant(id="live"))
    gone, revoked_key = keyed(Tenant(id="gone"))
    record = gone.keys[0].model_copy(update={"revoked": datetime(2026, 12, 1, 12, tzinfo=UTC)})
    gone = gone.model_copy(update={"keys": (record,)})
    write(path, live, gone)
    return TenantDirectory(path), key, revoked_key, path


@pytest.mark.parametrize(
    ("which", "needle"),
    [
        ("absent", "missing or malformed credentials"),
        ("unknown", "unknown API key"),
        ("revoked", "was revoked on 2026-12-01 12:00 UTC"),
    ],
)
def test_authentication_refusals_say_what_to_do(tmp_path, which, needle) -> None:
    directory, _, revoked, _ = _auth_table(tmp_path)
    key = {"absent": None, "unknown": new_key(), "revoked": revoked}[which]
    with pytest.raises(Unauthenticated, match=needle):
        directory.authenticate(key)


def test_a_valid_key_names_its_tenant(tmp_path) -> None:
    directory, key, _, _ = _auth_table(tmp_path)
    assert directory.authenticate(key).tenant.id == "live"


def test_the_file_is_reloaded_when_it_changes_and_a_broken_one_is_not_taken(tmp_path) -> None:
    directory, key, _, path = _auth_table(tmp_path)
    newcomer, new = keyed(Tenant(id="newcomer"))
    with pytest.raises(Unauthenticated):
        directory.authenticate(new)
    live = directory.tenants.tenant("live")
    assert live is not None
    write(path, live, newcomer)  # atomic replace: a new inode, seen by the next stat
    assert directory.authenticate(new).tenant.id == "newcomer"
    assert not directory.refresh()  # unchanged: one stat, no reload
    path.write_text("tenants: [oops", encoding="utf-8")
    assert not directory.refresh()
    assert "not valid YAML" in directory.last_error
    assert directory.authenticate(key).tenant.id == "live"  # the last good file stays in force
