"""`cascade up` starts a tier server only for the tiers its policy uses."""

from codecascade.cli.up import MeshFile


def test_embedded_mesh_serves_only_the_tiers_its_policy_uses() -> None:
    mesh = MeshFile.load(None)
    skipped = {t.tier for t in mesh.policy.tiers if not t.active}
    assert skipped, "the embedded policy skips a tier (S); otherwise this test checks nothing"
    serving = mesh.serving()
    assert {t.name for t in serving.tiers} == {t.tier for t in mesh.policy.tiers if t.active}
    assert not skipped & {t.tier for t in serving.policy.tiers}
    assert [t.k for t in serving.policy.tiers] == [t.k for t in mesh.policy.tiers if t.active]
