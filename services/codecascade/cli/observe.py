"""`cascade up --observe`: a real trace backend (Arize Phoenix) and a real Prometheus beside the
mesh, on loopback.

Phoenix speaks OTLP and understands GenAI spans; it lives in a virtual environment of its own
(scripts/setup.sh installs `arize-phoenix==PHOENIX_VERSION` into build/phoenix-venv), because its
dependencies (a web app, SQL, numerical libraries: ~850 MB) must not shape the mesh's. It runs
with no network: telemetry to Arize off, data in a SQLite file under the run folder.
The mesh exports to it through the standard variables only (`phoenix_env`): OTLP over HTTP to
Phoenix's `/v1/traces`, the project name as the resource attribute Phoenix files traces under.

Prometheus is `codecascade.cli.prometheus`; `scrape_jobs` lists every child that serves metrics
(mesh services on their METRICS_PORT, tier servers on KServe's /metrics on their REST port).
Both are stopped by PID when their context exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from codecascade.cli.prometheus import ScrapeJob
from codecascade.cli.supervisor import (
    Child,
    ChildFailed,
    free_port,
    stop_process,
    wait_http_ready,
)

__all__ = [
    "PHOENIX_PROJECT",
    "PHOENIX_VERSION",
    "RunningPhoenix",
    "alert_rule_files",
    "phoenix_binary",
    "phoenix_env",
    "phoenix_running",
    "scrape_jobs",
]

# The version scripts/setup.sh installs (pinned; the span API the tests read is this one's).
PHOENIX_VERSION = "20.26.1"
# Where traces land in Phoenix: its `openinference.project.name` resource attribute.
PHOENIX_PROJECT = "codecascade"
_REPO = Path(__file__).resolve().parents[3]
_SETUP_VENV = _REPO / "build" / "phoenix-venv" / "bin" / "phoenix"
# The chart's recording rules and alerts (docs/dashboards.md): the same file the PrometheusRule
# embeds, so `--observe` evaluates what a cluster would.
_CHART_RULES = _REPO / "charts" / "codecascade" / "rules"


@dataclass(frozen=True, slots=True)
class RunningPhoenix:
    """A started Phoenix: its UI and REST API at `url`, OTLP/HTTP at `url`/v1/traces."""

    url: str
    pid: int
    project: str = PHOENIX_PROJECT

    @property
    def otlp_endpoint(self) -> str:
        return self.url

    async def trace_page(self, trace_id: str) -> str:
        """The UI page of one trace (the UI addresses a project by its id, not its name)."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            reply = await client.get(f"{self.url}/v1/projects/{self.project}")
            reply.raise_for_status()
        return f"{self.url}/projects/{reply.json()['data']['id']}/traces/{trace_id}"


def phoenix_binary(explicit: str | None = None) -> str:
    """The `phoenix` command: `explicit`, else CODECASCADE_PHOENIX, else setup.sh's venv, else
    one on PATH."""
    for candidate in (explicit, os.environ.get("CODECASCADE_PHOENIX"), str(_SETUP_VENV)):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("phoenix")
    if found is None:
        raise ChildFailed(
            f"Arize Phoenix is not installed: run scripts/setup.sh (it installs "
            f"arize-phoenix=={PHOENIX_VERSION} into build/phoenix-venv), or pass --phoenix PATH "
            "to its `phoenix` command"
        )
    return found


def phoenix_env(phoenix: RunningPhoenix, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The OTEL_* variables that send a process's spans to `phoenix`, kept on top of `base`
    (default: this process's environment): another exporter already chosen (e.g. console)
    stays, and so do resource attributes already set."""
    environ = os.environ if base is None else base
    exporters = [e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    kept = [e for e in exporters if e and e not in ("none", "otlp")]
    resource = [a for a in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if a.strip()]
    resource.append(f"openinference.project.name={phoenix.project}")
    return {
        "OTEL_TRACES_EXPORTER": ",".join(["otlp", *kept]),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{phoenix.otlp_endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_RESOURCE_ATTRIBUTES": ",".join(resource),
        # Spans reach the UI within a second instead of the SDK's default 5 s batches.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
    }


def _log_file(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir / "phoenix.log"


@contextlib.asynccontextmanager
async def phoenix_running(
    *,
    workdir: Path,
    port: int = 0,
    binary: str | None = None,
    ready_timeout_s: float = 120.0,
) -> AsyncIterator[RunningPhoenix]:
    """Starts `phoenix serve` on 127.0.0.1:`port` (a free one when 0) with its data and log in
    `workdir`, offline; yields once /healthz answers; stops it by PID on exit."""
    command = phoenix_binary(binary)
    log_path = _log_file(workdir)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        # Its OTLP/gRPC receiver too must not take the default 4317 a collector may hold.
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ENABLE_AUTH": "false",
    }
    # Phoenix must not export its own spans into itself or anywhere else.
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            command,
            "serve",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_http_ready(
            process,
            name="phoenix",
            url=f"{url}/healthz",
            log_path=log_path,
            timeout_s=ready_timeout_s,
            request_timeout_s=2.0,
            interval_s=0.3,
        )
        yield RunningPhoenix(url=url, pid=process.pid)
    finally:
        await stop_process(process, 15.0)


def scrape_jobs(children: Sequence[Child]) -> list[ScrapeJob]:
    """One scrape job per child that serves /metrics, labelled with its service name (and a
    tier server's `tier`, the label the chart's PodMonitor gives it and the alerts join on)."""
    return [
        ScrapeJob(
            name=child.name,
            targets=[f"127.0.0.1:{child.metrics_port}"],
            labels={"service": child.name, **child.scrape_labels},
        )
        for child in children
        if child.metrics_port
    ]


def alert_rule_files() -> list[Path]:
    """The chart's rule files when this is a checkout (where setup.sh put Phoenix); else none."""
    return sorted(_CHART_RULES.glob("*.rules.yaml"))
