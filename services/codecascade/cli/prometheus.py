"""A real Prometheus on loopback, for `cascade up --observe` and the tests that read live metrics.

The binary is Debian's `prometheus` (2.42, with `promtool`), installed by scripts/setup.sh. The
scrape configuration is written from `ScrapeJob`s, exemplar storage is on (so a latency spike
leads to a trace), and the process is stopped by its PID when the context exits, whatever
happened inside it. Nothing here queries Prometheus: readers use its HTTP API themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from codecascade.cli.supervisor import ChildFailed, free_port, stop_process, wait_http_ready

__all__ = ["RunningPrometheus", "ScrapeJob", "prometheus_running", "scrape_config"]


@dataclass(frozen=True, slots=True)
class ScrapeJob:
    """One scrape job: `name` becomes the `job` label of every series it collects."""

    name: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunningPrometheus:
    url: str
    pid: int
    config_path: Path


def scrape_config(
    jobs: Sequence[ScrapeJob],
    *,
    scrape_interval_s: float,
    evaluation_interval_s: float,
    rule_files: Sequence[Path] = (),
) -> dict[str, object]:
    """The prometheus.yml for `jobs`; the timeout equals the interval (Prometheus's upper bound)."""

    def seconds(value: float) -> str:
        return f"{round(value * 1000)}ms"

    return {
        "global": {
            "scrape_interval": seconds(scrape_interval_s),
            "scrape_timeout": seconds(scrape_interval_s),
            "evaluation_interval": seconds(evaluation_interval_s),
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job.name,
                "metrics_path": job.metrics_path,
                "static_configs": [{"targets": list(job.targets), "labels": dict(job.labels)}],
            }
            for job in jobs
        ],
    }


def _binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise ChildFailed(
            "prometheus is not installed: run scripts/setup.sh (it installs Debian's prometheus)"
        )
    return binary


def _write_config(workdir: Path, config: dict[str, object]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.asynccontextmanager
async def prometheus_running(
    jobs: Sequence[ScrapeJob],
    *,
    workdir: Path,
    port: int = 0,
    scrape_interval_s: float = 1.0,
    evaluation_interval_s: float = 1.0,
    rule_files: Sequence[Path] = (),
    ready_timeout_s: float = 30.0,
) -> AsyncIterator[RunningPrometheus]:
    """Starts Prometheus scraping `jobs` on 127.0.0.1:`port` (a free one when 0), data and log
    under `workdir`; yields once it is ready; stops it by PID on exit (SIGTERM, then SIGKILL)."""
    config_path = _write_config(
        workdir,
        scrape_config(
            jobs,
            scrape_interval_s=scrape_interval_s,
            evaluation_interval_s=evaluation_interval_s,
            rule_files=rule_files,
        ),
    )
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            _binary(),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
            "--log.level=warn",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_http_ready(
            process,
            name="prometheus",
            url=f"{url}/-/ready",
            log_path=log_path,
            timeout_s=ready_timeout_s,
        )
        yield RunningPrometheus(url=url, pid=process.pid, config_path=config_path)
    finally:
        await stop_process(process, 10.0)
