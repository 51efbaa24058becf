"""The sandbox's instruments: the warm pool, reruns after crashes, test outcomes, job time.

One object holds them and is both observers the domain code offers: the warm pool's
`PoolObserver` (ready and in-use counts) and the servicer's `JobObserver` (each finished report).
So neither the pool nor the backends nor the isolation logic touch a metric, and the numbers come
from the same report the caller receives. Reruns are counted from that report too: a row marked
`isolated_rerun` is a solution run again alone because a sandbox crash took down its first run.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from codecascade.mesh.metrics import trace_exemplar
from codecascade.sandbox.execution import ExecutionReport, Outcome

__all__ = ["SandboxMetrics"]


@dataclass(frozen=True, slots=True)
class SandboxMetrics:
    """Registered on the service's registry; implements `PoolObserver` and `JobObserver`."""

    pool_ready: Gauge
    pool_in_use: Gauge
    reruns: Counter
    outcomes: Counter
    job_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SandboxMetrics:
        metrics = cls(
            pool_ready=Gauge(
                "codecascade_sandbox_pool_ready",
                "Sandboxes started and idle in the warm pool, ready to take a job.",
                registry=registry,
            ),
            pool_in_use=Gauge(
                "codecascade_sandbox_pool_in_use",
                "Sandboxes taken from the pool and running (part of) a job.",
                registry=registry,
            ),
            reruns=Counter(
                "codecascade_sandbox_reruns",
                "Solutions rerun alone in a fresh sandbox because a sandbox crash took their row.",
                registry=registry,
            ),
            outcomes=Counter(
                "codecascade_sandbox_test_outcomes",
                "Cells of the pass matrix (one solution against one test), by outcome.",
                ["outcome"],
                registry=registry,
            ),
            job_seconds=Histogram(
                "codecascade_sandbox_job_duration_seconds",
                "Time the backend took for one job's whole matrix, reruns included.",
                registry=registry,
                unit="seconds",
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            ),
        )
        for outcome in Outcome:  # every series exists from the start, at zero
            metrics.outcomes.labels(outcome.name.lower())
        return metrics

    def pool_changed(self, *, ready: int, in_use: int) -> None:
        self.pool_ready.set(ready)
        self.pool_in_use.set(in_use)

    def job_finished(self, report: ExecutionReport) -> None:
        exemplar = trace_exemplar()
        cells = Tally(cell.outcome for row in report.solutions for cell in row.tests)
        for outcome, count in cells.items():
            self.outcomes.labels(outcome.name.lower()).inc(count)
        reruns = sum(row.isolated_rerun for row in report.solutions)
        if reruns:
            self.reruns.inc(reruns, exemplar=exemplar)
        self.job_seconds.observe(report.elapsed_s, exemplar=exemplar)
