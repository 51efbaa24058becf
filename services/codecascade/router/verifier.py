"""The learned verifier: pick the answer among every candidate seen by P(it is correct) (issue 18).

CodeT's agreement score picks the candidate whose (tests passed) x (candidates agreeing) product
is largest. On HumanEval it trusts the generated asserts as much as the task's own examples, and
it ties towards the cheapest tier's answer (listed first); the oracle pick of the same candidates
is 1.3 points better at the cheap end (docs/results/verifier.md). A standardised logistic
regression over a few run-time facts of each candidate (how it fares on the task's examples and
on the generated asserts, how many candidates behave like it, which tier wrote it, greedy or
sampled) closes that gap. It is trained offline (`codecascade.evaluation.verifier`, scikit-learn,
per split on the validation problems only) and shipped inline in the policy file as plain
numbers, as the pre-router is (`router.logistic`: no pickle, no scikit-learn in the router).

The features use only what the router holds when its last tier answers, so the offline grid and
the router compute them with this one function and pick the same candidate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from codecascade.router.logistic import LogisticModel

__all__ = [
    "FEATURES",
    "MODEL_VERSION",
    "Candidate",
    "VerifierModel",
    "features",
    "most_likely",
    "normalised",
]

MODEL_VERSION = 1

FEATURES = (
    "passed_share",  # of every test the pool was run against
    "examples_passed_share",  # of the task's own examples (docstring or MBPP example)
    "generated_passed_share",  # of the asserts the tiers wrote
    "no_examples",
    "no_generated",
    "passes_all",
    "agreement",  # its best (solution, test) product over k x T, as core.decision scores
    "same_behaviour_share",  # other candidates with its exact pass pattern
    "same_code_share",  # other candidates with the same code, comments and spacing aside
    "top_tier",  # written by the most capable tier the request reached
    "greedy",  # a tier's one greedy answer rather than a sample
    "log_code_chars",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate as the verifier sees it."""

    code: str
    tier_rank: int  # its tier's place in the cascade (first appearance; 0 is the cheapest)
    greedy: bool  # a k <= 1 step's answer


def normalised(code: str) -> str:
    """The code without comments and with whitespace collapsed: trivially equal answers match."""
    return re.sub(r"\s+", " ", re.sub(r"#.*", "", code)).strip()


def features(
    pool: Sequence[Candidate], passed: Sequence[Sequence[bool]], examples: Sequence[bool]
) -> list[tuple[float, ...]]:
    """One row per candidate, in `FEATURES` order. `passed[i][j]`: candidate i passes test j;
    `examples[j]`: test j is one of the task's own examples."""
    n = len(pool)
    width = len(examples)
    n_examples = sum(examples)
    n_generated = width - n_examples
    per_test = [sum(row[j] for row in passed) for j in range(width)]
    shapes = [normalised(c.code) for c in pool]
    patterns = [tuple(row) for row in passed]
    top = max((c.tier_rank for c in pool), default=0)
    rows: list[tuple[float, ...]] = []
    for i, candidate in enumerate(pool):
        row = patterns[i]
        on_examples = sum(p for p, e in zip(row, examples, strict=True) if e)
        total = sum(row)
        best = max((per_test[j] for j in range(width) if row[j]), default=0)
        rows.append(
            (
                total / max(width, 1),
                on_examples / max(n_examples, 1),
                (total - on_examples) / max(n_generated, 1),
                float(n_examples == 0),
                float(n_generated == 0),
                float(width > 0 and total == width),
                total * best / (max(width, 1) * n),
                (patterns.count(row) - 1) / n,
                (shapes.count(shapes[i]) - 1) / n,
                float(candidate.tier_rank == top),
                float(candidate.greedy),
                math.log1p(len(shapes[i])),
            )
        )
    return rows


class VerifierModel(LogisticModel):
    """P(a candidate is correct), from what the pool says of it (`features`)."""

    FEATURES = FEATURES
    VERSION = MODEL_VERSION
    KIND = "verifier"

    def probabilities(
        self,
        pool: Sequence[Candidate],
        passed: Sequence[Sequence[bool]],
        examples: Sequence[bool],
    ) -> list[float]:
        """P(correct) per candidate."""
        return [self.probability(x) for x in features(pool, passed, examples)]

    def choose(
        self,
        pool: Sequence[Candidate],
        passed: Sequence[Sequence[bool]],
        examples: Sequence[bool],
    ) -> int:
        """The index of the candidate most likely correct (the first of equals)."""
        return most_likely(self.probabilities(pool, passed, examples))


def most_likely(probabilities: Sequence[float]) -> int:
    """The index of the highest probability, the first of equals (the pool's order: earlier
    tiers' candidates first)."""
    return max(range(len(probabilities)), key=lambda i: (probabilities[i], -i))
