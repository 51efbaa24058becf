"""Which of a tier's asserts to believe: agreement between its test generations.

A small model's asserts fail mostly on the expected value, not on the call: it picks a sensible
input and then miscomputes the answer (measured on HumanEval: a third of the 0.5B tier's greedy
novel asserts and nearly half of its sampled ones were wrong, almost all on the right-hand side).
Each assert is read as a *claim* "this call returns that value", and the claims of all
generations are compared:

- a claim about a call the task's own examples answer differently is dropped (the examples were
  written by the task's author);
- when generations give one call several values, only a strict plurality survives, and a tie
  drops them all (at most one of them can be right, and we cannot tell which);
- a claim must be written by `min_support` generations independently (sampled generations rarely
  repeat a miscomputed value, so agreement is evidence of a right one), unless its arguments are
  short (`max_lone_argument_chars` characters of argument source at most) and the tier is not
  confused about the task (no call given two values, no example contradicted). Measured on
  HumanEval, a small model's lone claims about short inputs (`f([1, 2])`) are mostly right and
  about long ones (`f([3, 1, 4, 1, 5, 9, 2, 6])`) mostly wrong, and a tier that contradicts
  itself on a task gets even its small cases wrong.

Asserts that are not of the form `call == value` (a property, a relation between two calls) have
no value to compare; they count support by their exact text. Kept tests come most-agreed first,
so a cap keeps the best-supported ones.
"""

from __future__ import annotations

import ast
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_RULE",
    "AgreementRule",
    "Claim",
    "RejectedTest",
    "SelectedTest",
    "Selection",
    "claim_of",
    "select_by_agreement",
]


@dataclass(frozen=True, slots=True)
class AgreementRule:
    """When a claim is believed: enough generations wrote it, or its input is small."""

    min_support: int = 1
    max_lone_argument_chars: int = 0

    def __post_init__(self) -> None:
        if self.min_support < 1 or self.max_lone_argument_chars < 0:
            raise ValueError(f"invalid agreement rule {self}")


# Chosen on HumanEval with the embedded tiers (docs/benchmarks.md, Test synthesis).
DEFAULT_RULE = AgreementRule(min_support=2, max_lone_argument_chars=6)


@dataclass(frozen=True, slots=True)
class Claim:
    """`call` (normalised source) returns the value whose canonical form is `value`."""

    call: str
    value: str
    argument_chars: int = 0  # source length of the entry point's arguments in `call`


@dataclass(frozen=True, slots=True)
class SelectedTest:
    code: str
    generation_index: int  # the first generation that wrote it
    support: int  # how many generations wrote it


@dataclass(frozen=True, slots=True)
class RejectedTest:
    code: str
    generation_index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Selection:
    kept: tuple[SelectedTest, ...]
    rejected: tuple[RejectedTest, ...]


def _calls(node: ast.expr, entry_point: str) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == entry_point
        for n in ast.walk(node)
    )


def _canonical_value(node: ast.expr) -> str:
    """One spelling per value: `1.0` and `1.00` agree, `[1,2]` and `[1, 2]` too."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value)


def _abs_argument(node: ast.expr) -> ast.expr | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "abs"
        and len(node.args) == 1
    ):
        return node.args[0]
    return None


def _argument_chars(call: ast.expr, entry_point: str) -> int:
    for node in ast.walk(call):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == entry_point:
                return len(", ".join(ast.unparse(a) for a in (*node.args, *node.keywords)))
    return len(ast.unparse(call))


def _claim(call: ast.expr, value: str, entry_point: str) -> Claim:
    return Claim(ast.unparse(call), value, _argument_chars(call, entry_point))


def claim_of(code: str, entry_point: str) -> Claim | None:
    """The (call, value) an assert states, or None when it states something else."""
    try:
        statement = ast.parse(code).body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(statement, ast.Assert):
        return None
    test = statement.test
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        if _calls(test.operand, entry_point):
            return _claim(test.operand, "False", entry_point)
        return None
    if isinstance(test, ast.Call) and _calls(test, entry_point):
        return _claim(test, "True", entry_point)
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    # The float form parsing writes: abs(call - value) <= tolerance.
    difference = _abs_argument(left) if isinstance(op, ast.LtE) else None
    if isinstance(difference, ast.BinOp) and isinstance(difference.op, ast.Sub):
        left, right = difference.left, difference.right
    elif not isinstance(op, ast.Eq | ast.Is):
        return None
    if _calls(left, entry_point) and not _calls(right, entry_point):
        return _claim(left, _canonical_value(right), entry_point)
    if _calls(right, entry_point) and not _calls(left, entry_point):
        return _claim(right, _canonical_value(left), entry_point)
    return None


def _key(code: str, claim: Claim | None) -> tuple[str, str]:
    return (claim.call, claim.value) if claim else (code, "")


def select_by_agreement(
    generations: Sequence[Sequence[str]],
    *,
    entry_point: str,
    examples: Sequence[str] = (),
    rule: AgreementRule = DEFAULT_RULE,
) -> Selection:
    """The asserts of `generations` worth keeping, most-supported first, and why others went.

    `generations` are the parsed asserts of each test generation, in order; `examples` are the
    task's own example asserts, which decide any call they cover. The rule's `min_support` is capped
    at the number of generations, so a one-generation request keeps what it does not contradict.
    """
    truth = {c.call: c.value for c in (claim_of(e, entry_point) for e in examples) if c}
    needed = max(1, min(rule.min_support, len(generations)))
    claims: dict[str, Claim | None] = {}
    first_seen: dict[tuple[str, str], tuple[int, str]] = {}
    support: Counter[tuple[str, str]] = Counter()
    values_by_call: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for index, asserts in enumerate(generations):
        keys_here: set[tuple[str, str]] = set()
        for code in asserts:
            claim = claims.setdefault(code, claim_of(code, entry_point))
            key = _key(code, claim)
            first_seen.setdefault(key, (index, code))
            if key not in keys_here:
                keys_here.add(key)
                support[key] += 1
                if claim:
                    values_by_call[claim.call][claim.value] += 1
    # A tier that contradicts itself or the task's examples anywhere on this task is confused
    # about it: then none of its lone claims is believed, however small the input.
    confused = any(len(values) > 1 for values in values_by_call.values()) or any(
        truth[call] not in values for call, values in values_by_call.items() if call in truth
    )
    rejected: list[RejectedTest] = []
    kept: list[SelectedTest] = []
    for key, (index, code) in first_seen.items():
        claim = claims[code]
        reason = None
        if claim and claim.call in truth and truth[claim.call] != claim.value:
            reason = f"contradicts the task's own example ({claim.call} == {truth[claim.call]})"
        elif claim and len(values_by_call[claim.call]) > 1:
            votes = values_by_call[claim.call].most_common()
            top, runner_up = votes[0][1], votes[1][1]
            if top == runner_up:
                reason = f"generations disagree on {claim.call} ({len(votes)} values, tied)"
            elif claim.value != votes[0][0]:
                reason = f"outvoted on {claim.call} ({support[key]} vs {top} generations)"
        short = claim is not None and claim.argument_chars <= rule.max_lone_argument_chars
        if reason is None and support[key] < needed and (confused or not short):
            why = (
                "and the generations contradict each other or the examples on this task"
                if short
                else f"about an input longer than {rule.max_lone_argument_chars} characters"
            )
            reason = (
                f"written by {support[key]} of {len(generations)} generations (need {needed}) {why}"
            )
        if reason:
            rejected.append(RejectedTest(code, index, reason))
        else:
            kept.append(SelectedTest(code, index, support[key]))
    order = {key: position for position, key in enumerate(first_seen)}
    kept.sort(key=lambda t: (-t.support, order[_key(t.code, claims[t.code])]))
    return Selection(tuple(kept), tuple(rejected))
