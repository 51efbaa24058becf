"""skaffold.yaml through the real skaffold (issue 15, item 6).

skaffold is built from its Go module, `github.com/GoogleContainerTools/skaffold/v2` at the version
pinned in tests/cluster/skaffold/go.mod, by `scripts/cluster.sh build skaffold` (reused while its
stamp matches; the first build takes about 10 minutes here, see tests/cluster/README.md).

For every profile (none, `dev`, `prod`):
* `skaffold diagnose --yaml-only` accepts skaffold.yaml and prints the effective configuration,
  which validates against the v4beta13 JSON schema in ../shared/reference/skaffold;
* `skaffold render --offline=true --digest-source=none --images ...` renders without a registry or
  Docker (images are given, nothing is built), and its manifests equal `helm template`'s for the
  release the effective configuration describes (chart, namespace, values files, the
  `setValueTemplates` with the given images filled in), compared as sets of parsed objects keyed by
  kind/namespace/name.

A full `skaffold diagnose` (without `--yaml-only`) also inspects each artifact's Dockerfile, which
needs the base image's config from its registry: no registry is reachable here, so that test
skips with skaffold's own error text.

No cluster is needed (skaffold runs offline; helm renders client-side): these tests do not use the
`cluster` fixture. skaffold runs with HOME in a temporary folder and a global config that turns
metrics collection and update checks off.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster.sh"
SKAFFOLD = ROOT / "build" / "cluster" / "bin" / "skaffold"
TOOLS = ROOT / "build" / "tools" / "bin"
SCHEMA = ROOT.parent / "shared" / "reference" / "skaffold" / "v4beta13.json"

PROFILES = [None, "dev", "prod"]
# Pre-built images handed to skaffold (nothing is built or pulled). Tags and digests are made up
# and distinct, so a value that lands in the wrong place shows up in the comparison.
DIGESTS = {
    "codecascade-mesh": "sha256:" + "1" * 64,
    "codecascade-tier": "sha256:" + "2" * 64,
}
TAGS = {"codecascade-mesh": "mesh-test", "codecascade-tier": "tier-test"}
# What the prod profile takes from the environment (skaffold.yaml's header): the Dockerfiles' base
# image and the Triton image's digest. Made-up, well-formed values.
PROD_ENV = {
    "CODECASCADE_BASE_IMAGE": "debian:bookworm-20251229-slim@sha256:" + "3" * 64,
    "TRITON_IMAGE_DIGEST": "sha256:" + "4" * 64,
}


def _images(*, digests: bool) -> str:
    """`--images` for skaffold: `name:tag`, or `name:tag@digest` where the profile pins digests.

    A profile whose value templates take no digest gets plain tags: skaffold also rewrites every
    image in the rendered manifests that names an artifact by tag to the build's full reference
    (seen with v2.16.1: `codecascade-mesh:mesh-test` became `codecascade-mesh:mesh-test@sha256:...`
    when the build was given with a digest), which `helm template` of the same values does not do.
    """
    if digests:
        return ",".join(f"{name}={name}:{TAGS[name]}@{DIGESTS[name]}" for name in DIGESTS)
    return ",".join(f"{name}={name}:{TAGS[name]}" for name in DIGESTS)


def _template_vars(*, digests: bool) -> dict[str, str]:
    """What skaffold puts in IMAGE_REPO_/IMAGE_TAG_/IMAGE_DIGEST_<name> for `_images()`."""
    out = {}
    for name in DIGESTS:
        key = re.sub(r"[^A-Za-z0-9]", "_", name)
        out[f"IMAGE_REPO_{key}"] = name
        out[f"IMAGE_TAG_{key}"] = TAGS[name]
        out[f"IMAGE_DIGEST_{key}"] = DIGESTS[name] if digests else ""
    return out | PROD_ENV


def _pins_digests(release: dict[str, Any]) -> bool:
    return any("IMAGE_DIGEST" in str(v) for v in release.get("setValueTemplates", {}).values())


@pytest.fixture(scope="module")
def skaffold(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Builds skaffold if needed; returns the environment to run it in."""
    if shutil.which("go") is None:
        pytest.skip(
            "the Go toolchain is not on PATH: skaffold is built from "
            "github.com/GoogleContainerTools/skaffold/v2 (tests/cluster/skaffold/go.mod)"
        )
    if not (TOOLS / "helm").is_file():
        pytest.skip("helm not installed: run `bash scripts/tools.sh`")
    t0 = time.monotonic()
    build = subprocess.run(
        ["bash", str(SCRIPT), "build", "skaffold"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert build.returncode == 0, f"scripts/cluster.sh build skaffold:\n{build.stderr[-6000:]}"
    print(f"skaffold build step: {time.monotonic() - t0:.1f} s")
    home = tmp_path_factory.mktemp("skaffold-home")
    (home / ".skaffold").mkdir()
    (home / ".skaffold" / "config").write_text(
        "global:\n  collect-metrics: false\n  update-check: false\n"
    )
    return {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}",
        "SKAFFOLD_UPDATE_CHECK": "false",
        **PROD_ENV,
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SKAFFOLD), *args, "--update-check=false"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _profile_args(profile: str | None) -> list[str]:
    return ["--profile", profile] if profile else []


def _effective(env: dict[str, str], profile: str | None) -> dict[str, Any]:
    out = _run(env, "diagnose", "--yaml-only", *_profile_args(profile))
    assert out.returncode == 0, f"skaffold diagnose --yaml-only {profile}:\n{out.stderr}"
    config = yaml.safe_load(out.stdout)
    assert isinstance(config, dict)
    return config


def _objects(text: str) -> dict[tuple[str, str, str], Any]:
    """Manifests as {(kind, namespace, name): object}; a key seen twice is an error."""
    out: dict[tuple[str, str, str], Any] = {}
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        meta = doc.get("metadata", {})
        key = (doc["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in out, f"{key} rendered twice"
        out[key] = doc
    return out


def _helm_template(release: dict[str, Any], *, digests: bool) -> str:
    """`helm template` for one skaffold helm release, its value templates filled in."""
    args = [
        str(TOOLS / "helm"),
        "template",
        release["name"],
        str(ROOT / release["chartPath"]),
    ]
    if release.get("namespace"):
        args += ["--namespace", release["namespace"]]
    for values_file in release.get("valuesFiles", []):
        args += ["-f", str(ROOT / values_file)]
    variables = _template_vars(digests=digests)
    for key, value in release.get("setValues", {}).items():
        args += ["--set", f"{key}={value}"]
    for key, template in release.get("setValueTemplates", {}).items():
        value = re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: variables[m.group(1)], str(template))
        args += ["--set", f"{key}={value}"]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(args)}:\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "default")
def test_diagnose_accepts_every_profile_and_the_result_matches_the_schema(
    skaffold: dict[str, str], profile: str | None
) -> None:
    config = _effective(skaffold, profile)
    assert config["apiVersion"] == "skaffold/v4beta13"
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(config, schema)
    artifacts = [a["image"] for a in config["build"]["artifacts"]]
    assert artifacts == ["codecascade-mesh", "codecascade-tier"]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "default")
def test_render_equals_helm_template(
    skaffold: dict[str, str], profile: str | None, tmp_path: Path
) -> None:
    releases = _effective(skaffold, profile)["deploy"]["helm"]["releases"]
    assert len(releases) == 1
    digests = _pins_digests(releases[0])
    manifests = tmp_path / "rendered.yaml"
    t0 = time.monotonic()
    # --output: skaffold also prints notices on stdout ("--digest-source set to 'none', ...").
    run = _run(
        skaffold,
        "render",
        "--offline=true",
        "--digest-source=none",
        "--images",
        _images(digests=digests),
        "--output",
        str(manifests),
        *_profile_args(profile),
    )
    elapsed = time.monotonic() - t0
    assert run.returncode == 0, f"skaffold render {profile}:\n{run.stderr}"
    print(f"skaffold render ({profile or 'default'}): {elapsed:.2f} s")
    rendered = manifests.read_text()
    ours = _objects(rendered)
    helms = _objects(_helm_template(releases[0], digests=digests))
    assert set(ours) == set(helms), (
        f"only skaffold: {sorted(set(ours) - set(helms))}; "
        f"only helm: {sorted(set(helms) - set(ours))}"
    )
    different = [key for key in ours if ours[key] != helms[key]]
    assert not different, f"objects that differ: {different}"
    # The mesh image skaffold was given is the one the mesh pods run (by digest or by tag).
    images = set(re.findall(r"image: (\S+)", rendered))
    given = (DIGESTS["codecascade-mesh"], f"codecascade-mesh:{TAGS['codecascade-mesh']}")
    assert any(image.endswith(given) for image in images), images


def test_full_diagnose_needs_a_registry(skaffold: dict[str, str]) -> None:
    out = _run(skaffold, "diagnose")
    if out.returncode == 0:
        return
    tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.stdout[-500:]
    reasons = ("index.docker.io", "dial tcp", "no such host", "registry", "docker")
    assert any(r in out.stderr + out.stdout for r in reasons), out.stderr + out.stdout
    pytest.skip(
        f"skaffold diagnose (full) needs the base images' registry, unreachable here: {tail}"
    )
