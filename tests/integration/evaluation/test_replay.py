"""Online == offline: the committed headline cache replayed through the router's real cascade.

A calibrated policy is only worth the agreement between the grid that chose it and the cascade
that serves it. Here the real `router.cascade.Cascade` runs every HumanEval problem of the
headline cache (`benchmarks/results/eval-humaneval`) with doubles behind its ports that return
what the cache recorded: a tier's first k samples (or its greedy answer), the asserts test
synthesis would keep from the first l lines of its first t generations (selected by test
synthesis's own `finalize`), and the cached pass matrix. For the calibrated policy and other
grid points, each problem's answer (the cache row), the tiers visited, pass@1 on the hidden test
and the cost must equal what the grid (`OutcomeTable.per_problem`) says. No model, no sandbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from codecascade.core.task import Problem
from codecascade.core.usage import Usage, token_cost
from codecascade.evaluation.cache import Call, EvalCache, ExecutionRecord, GenerationRecord
from codecascade.evaluation.calibrate import to_config, to_policy
from codecascade.evaluation.grid import (
    Config,
    OutcomeTable,
    TierSetting,
    generation_cost,
    tier_outcome,
)
from codecascade.router.cascade import Cascade
from codecascade.router.config import RouterSettings
from codecascade.router.events import CascadeResult
from codecascade.router.policy import CascadePolicy, RequestOverrides, TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution
from codecascade.testsynth.agreement import DEFAULT_RULE
from codecascade.testsynth.parsing import ParsedGeneration
from codecascade.testsynth.synthesis import Draft, SynthesisRequest, finalize

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "benchmarks" / "results" / "eval-humaneval"
POLICY = ROOT / "benchmarks" / "results" / "policy-humaneval.yaml"
# The router's cap on tests per tier, which it sends to test synthesis.
MAX_TESTS: int = RouterSettings.model_fields["max_tests"].default


@dataclass(frozen=True, slots=True)
class _Records:
    gen: GenerationRecord
    exe: ExecutionRecord
    price: float


class _CachedTiers:
    """The three ports of the cascade for one problem, answering from the cache.

    Solutions and tests are what the cache holds for the tier's (k, l, t); the matrix runner
    looks each program and assert up by position and text in the tier's full matrix. The rows
    handed out are remembered so a test can name the cache row the cascade answered with.
    """

    def __init__(self, records: dict[str, _Records]) -> None:
        self._records = records
        self.rows: dict[str, tuple[int, ...]] = {}
        self._tier_of: dict[tuple[str, ...], str] = {}

    async def write_solutions(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> Candidates:
        r = self._records[tier.tier]
        greedy_row = len(r.gen.samples)
        if tier.k <= 1:  # k = 0 and k = 1 both ask for one greedy answer
            rows: tuple[int, ...] = (greedy_row,)
            calls: tuple[Call, ...] = (r.gen.greedy,)
        else:
            rows = tuple(range(tier.k))
            calls = r.gen.samples[: tier.k]
        codes = tuple(c.code for c in calls)
        self.rows[tier.tier] = rows
        self._tier_of[codes] = tier.tier
        tokens = sum(c.tokens for c in calls)
        return Candidates(codes, Usage(0, tokens, token_cost(tokens, r.price)), 0.0)

    async def write_tests(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> AssertSet:
        r = self._records[tier.tier]
        generations = (
            (r.gen.greedy_tests,) if tier.k == 1 else r.gen.test_generations[: tier.generations]
        )
        lines = tier.test_lines
        draft = Draft(
            generations=tuple(ParsedGeneration(g.asserts[:lines], ()) for g in generations),
            examples=ParsedGeneration(r.gen.examples, ()),
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            latency_s=0.0,
        )
        request = SynthesisRequest(
            problem, tier.tier, len(generations), lines, MAX_TESTS, agreement=DEFAULT_RULE
        )
        kept = finalize(request, draft).tests
        tokens = sum(generation_cost(g, lines)[0] for g in generations)
        usage = Usage(0, round(tokens), token_cost(tokens, r.price))
        return AssertSet(tuple(t.code for t in kept), usage, 0.0)

    async def run_matrix(
        self,
        problem: Problem,
        solutions: tuple[str, ...],
        tests: tuple[str, ...],
        *,
        timeout_s: float,
    ) -> Execution:
        tier = self._tier_of[solutions]
        exe = self._records[tier].exe
        column = {code: index for index, code in enumerate(exe.columns)}
        passed = tuple(
            tuple(exe.passes(row, column[test]) for test in tests) for row in self.rows[tier]
        )
        return Execution(passed, 0.0)


@dataclass(frozen=True, slots=True)
class _Replayed:
    tiers: tuple[str, ...]
    answer: int
    correct: bool
    cost: float
    code: str


async def _replay(policy: CascadePolicy, task_id: str, records: dict[str, _Records]) -> _Replayed:
    tiers = _CachedTiers(records)
    cascade = Cascade(policy, tiers, tiers, tiers, clock=lambda: 0.0)
    entry_point = next(iter(records.values())).gen.entry_point
    problem = Problem(f"# {task_id}", entry_point, "humaneval")
    result: CascadeResult = await cascade.run(
        problem, RequestOverrides(), seed=None, deadline_s=600.0
    )
    final = result.attempts[-1]
    assert final.tier == result.tier
    best = result.agreement.best_solution if result.agreement is not None else -1
    row = tiers.rows[result.tier][max(best, 0)]
    return _Replayed(
        tiers=tuple(a.tier for a in result.attempts),
        answer=row,
        correct=records[result.tier].exe.hidden[row] == "1",
        cost=result.usage.cost_usd,
        code=result.code,
    )


@pytest.fixture(scope="module")
def cache() -> EvalCache:
    return EvalCache.load(CACHE)


CALIBRATED = "calibrated"
GRID_POINTS = {
    "L k5 l4 alone": Config((("L", TierSetting(5, 4)),)),
    "S k3 l2 θ0.5 -> M k3 l2 θ0.5 -> L k5 l2": Config(
        (
            ("S", TierSetting(3, 2, 0.5)),
            ("M", TierSetting(3, 2, 0.5)),
            ("L", TierSetting(5, 2)),
        )
    ),
    "M k3 l2 θ1.0 -> L k5 l2": Config((("M", TierSetting(3, 2, 1.0)), ("L", TierSetting(5, 2)))),
    "M k0 alone": Config((("M", TierSetting(0, 0)),)),
    "S k1 l4 θ0.3 -> M k3 t5 l4 θ0.7 -> L k0": Config(
        (
            ("S", TierSetting(1, 4, 0.3)),
            ("M", TierSetting(3, 4, 0.7, 5)),
            ("L", TierSetting(0, 0)),
        )
    ),
}


@pytest.mark.parametrize("name", [CALIBRATED, *GRID_POINTS])
def test_the_cascade_answers_every_cached_problem_as_the_grid_says(
    cache: EvalCache, name: str
) -> None:
    tier_names = cache.settings.tier_names
    if name == CALIBRATED:
        policy = CascadePolicy.load(POLICY)
        config = to_config(policy)
        # The file is what the calibrator writes for that grid point.
        written = to_policy(config, tier_names, max_tokens=384, description=policy.description)
        assert written.tiers == policy.tiers
    else:
        config = GRID_POINTS[name]
        # The policy the calibrator would write for this grid point, as the router loads it.
        policy = to_policy(config, tier_names, max_tokens=384, description=name)
        policy = CascadePolicy.from_yaml(policy.to_yaml())
    assert to_config(policy) == config
    tiers = config.tiers
    gens = {t: cache.generations(t) for t in tiers}
    exes = {t: cache.executions(t) for t in tiers}
    ids = [i for i in cache.settings.task_ids if all(i in gens[t] and i in exes[t] for t in tiers)]
    assert len(ids) == 164
    # The grid, from exactly the outcomes the calibrator computes (only the settings used here).
    outcomes = {
        (tier, *s.key): [tier_outcome(gens[tier][i], exes[tier][i], s.k, s.l, s.t) for i in ids]
        for tier, s in config.steps
    }
    prices = {t: cache.settings.price(t) for t in tiers}
    table = OutcomeTable(
        ids, prices, outcomes, k_max=cache.settings.k_max, l_max=cache.settings.l_max
    )
    offline = table.per_problem(config)

    async def replay_all() -> list[_Replayed]:
        return [
            await _replay(
                policy,
                task_id,
                {t: _Records(gens[t][task_id], exes[t][task_id], prices[t]) for t in tiers},
            )
            for task_id in ids
        ]

    online = asyncio.run(replay_all())
    mismatches = []
    for index, (task_id, replayed) in enumerate(zip(ids, online, strict=True)):
        visited = int(offline.visited[index])
        expected_tiers = tiers[:visited]
        answer = int(offline.answer[index])
        answer_tier = expected_tiers[-1]
        answer_gen = gens[answer_tier][task_id]
        calls = (*answer_gen.samples, answer_gen.greedy)
        got = (replayed.tiers, replayed.answer, replayed.correct, replayed.code)
        want = (expected_tiers, answer, bool(offline.correct[index]), calls[answer].code)
        if got != want or replayed.cost != pytest.approx(float(offline.cost[index]), rel=1e-9):
            mismatches.append(
                f"{task_id}: online {got[:3]} ${replayed.cost:.3e}, "
                f"offline {want[:3]} ${float(offline.cost[index]):.3e}"
            )
    assert not mismatches, f"{len(mismatches)} problems differ:\n" + "\n".join(mismatches[:20])
    # And the figures the calibrator reports are the replay's figures.
    point = table.point(config)
    assert point.accuracy == pytest.approx(sum(r.correct for r in online) / len(online))
    assert point.cost_per_1k == pytest.approx(sum(r.cost for r in online) / len(online) * 1000)
