"""The cascade (DESIGN §1): try tiers cheapest first, accept on execution-verified agreement.

Per tier: k solutions and the tier's own tests are generated concurrently, the sandbox runs the
k x T matrix once, and the agreement score decides: accept (score >= θ and something passed),
escalate, or (last tier) answer with the best solution. k = 0 is one greedy answer, accepted
untested. Before each tier runs, its worst-case cost is held through the `TierGate` port (the
tenant's budget) and settled with the actual cost after; a tier the budget cannot hold ends the
request RESOURCE_EXHAUSTED, or, for a tenant that asked to degrade, is replaced by the most
capable tier it can still afford (full, else one greedy answer), and the answer is marked
degraded. A tier that is down, overloaded or too slow is skipped with its reason and the next
tier answers; when the last tier cannot answer, the best earlier answer is returned. Only when no
tier produced anything does the request fail: RESOURCE_EXHAUSTED with a retry-after when a tier
(or the router's fair queue in front of it, `TierGate.admitted`) was too busy, else
UNAVAILABLE. Every downstream call gets what is left of
the request's deadline.

The decision is `core.decision.decide`, the rule the offline grid applies too (a replay test
holds the two equal on the headline cache). The cascade counts nothing itself: it reports each
step to its observers (`router.events`), and `router.metrics` records them.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, TracerProvider

from codecascade.core.decision import Verdict, agreement, decide, early_verdict
from codecascade.core.errors import (
    CascadeError,
    DeadlineExceeded,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.router.events import (
    Answered,
    CandidatesReady,
    CascadeEvent,
    CascadeResult,
    Decision,
    EscalatedEvent,
    MatrixScored,
    Observer,
    TierAborted,
    TierAttempt,
    TierFinished,
    TierStartedEvent,
    TierWaking,
)
from codecascade.router.policy import CascadePolicy, RequestOverrides, TierPolicy, plan
from codecascade.router.ports import (
    AssertSet,
    AssertWriter,
    Candidates,
    MatrixRunner,
    Reservation,
    SolutionWriter,
    TierGate,
    Unmetered,
)
from codecascade.router.verifier import Candidate, most_likely
from codecascade.tenancy.errors import Overloaded, RetryLater

__all__ = ["Cascade"]

# Below this much time left, starting another tier cannot finish: answer with what we have.
MIN_TIER_BUDGET_S = 1.0
# A cold tier (`when_cold: wait`) is retried after these many seconds, doubling up to the cap.
COLD_RETRY_FIRST_S = 0.5
COLD_RETRY_MAX_S = 5.0
# The reason code of a tier that could not be reached: no ready replica, as far as we can tell.
_COLD_CODE = "tier_unavailable"

# The rule's verdict (core.decision, shared with the offline grid) as the attempt records it.
_DECISIONS = {
    Verdict.ACCEPT: Decision.ACCEPTED,
    Verdict.ESCALATE: Decision.ESCALATED,
    Verdict.ANSWER: Decision.FINAL,
    Verdict.UNTESTED: Decision.UNTESTED,
}


@dataclass(frozen=True, slots=True)
class _Failure:
    code: str
    reason: str
    retry_after_s: float = 0.0


async def _affordable(
    gate: TierGate, remaining: Sequence[TierPolicy], *, hold_s: float
) -> tuple[TierPolicy, Reservation] | None:
    """The most capable remaining tier the budget can still hold: as configured, else as one
    greedy untested answer (k = 0, the cheapest call a tier can make)."""
    for tier in reversed(remaining):
        options = [tier]
        if tier.k != 0:
            options.append(tier.model_copy(update={"k": 0, "test_lines": 0, "test_generations": 0}))
        for option in options:
            try:
                return option, await gate.reserve(option, hold_s=hold_s)
            except ResourceExhausted:
                continue
    return None


def _failure(step: str, exc: BaseException) -> _Failure:
    """A low-cardinality code and a readable reason for a tier step that failed."""
    if isinstance(exc, TimeoutError | DeadlineExceeded):
        return _Failure(f"{step}_timeout", f"{step} timed out")
    if isinstance(exc, Unavailable):
        return _Failure(f"{step}_unavailable", f"{step} unavailable: {exc}")
    if isinstance(exc, ResourceExhausted):
        retry = exc.retry_after_s if isinstance(exc, RetryLater) else 1.0
        return _Failure(f"{step}_overloaded", f"{step} overloaded: {exc}", retry)
    return _Failure(f"{step}_error", f"{step} failed: {exc}")


async def _no_tests() -> AssertSet:
    """A tier verified by carried tests only (test_lines 0) asks test synthesis for nothing."""
    return AssertSet((), Usage(), 0.0)


class Cascade:
    """Runs the policy for one request at a time; safe to share across concurrent requests."""

    def __init__(
        self,
        policy: CascadePolicy,
        solutions: SolutionWriter,
        tests: AssertWriter,
        runner: MatrixRunner,
        *,
        observers: Sequence[Observer] = (),
        tracer_provider: TracerProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._solutions = solutions
        self._tests = tests
        self._runner = runner
        # Told of every request's events (metrics); a request may add its own (the stream).
        self._observers = tuple(observers)
        self._tracer = trace.get_tracer("codecascade.router", tracer_provider=tracer_provider)
        self._clock = clock

    def with_policy(self, policy: CascadePolicy) -> Cascade:
        """The same cascade (ports, observers, tracer, clock) running another policy."""
        clone = copy.copy(self)
        clone.policy = policy
        return clone

    async def run(
        self,
        problem: Problem,
        overrides: RequestOverrides,
        *,
        seed: int | None,
        deadline_s: float,
        tenant: str = "",
        observer: Observer | None = None,
        gate: TierGate | None = None,
        allowed_tiers: tuple[str, ...] = (),
    ) -> CascadeResult:
        """The answer for `problem`; raises Unavailable when no tier could produce one, and
        ResourceExhausted when the budget (`gate`) cannot hold a tier the answer needs."""
        effective = plan(self.policy, overrides)
        tiers = effective.tiers
        if allowed_tiers:
            tiers = tuple(t for t in tiers if t.tier in allowed_tiers)
            if not tiers:
                raise PermissionDenied(
                    f"tenant {tenant or '(none)'} may use tiers {list(allowed_tiers)}, none of "
                    f"which this request's plan uses ({[t.tier for t in effective.tiers]})"
                )
        prerouted = self._preroute(tiers, problem)
        tiers = tuple(t for t in tiers if t.tier != prerouted)
        spend = gate if gate is not None else Unmetered()
        budget = (
            deadline_s if effective.deadline_s is None else min(deadline_s, effective.deadline_s)
        )
        deadline = self._clock() + budget
        listeners = (*self._observers, *((observer,) if observer is not None else ()))

        async def emit(event: CascadeEvent) -> None:
            for listen in listeners:
                await listen(event)

        started = self._clock()
        with self._tracer.start_as_current_span(
            "invoke_workflow codecascade",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": "codecascade",
                "codecascade.tenant": tenant,
                "codecascade.entry_point": problem.entry_point,
                "codecascade.tiers": [t.tier for t in tiers],
                "codecascade.prerouter.skipped": prerouted,
            },
        ) as workflow:
            trace_id = format(workflow.get_span_context().trace_id, "032x")
            attempts: list[TierAttempt] = []
            previous_span: trace.Span | None = None
            spent = Usage()
            stop_reason = ""
            degraded = ""
            cold_tier = ""
            for index, planned in enumerate(tiers):
                tier = planned
                last = index == len(tiers) - 1
                left = deadline - self._clock()
                if left < MIN_TIER_BUDGET_S:
                    stop_reason = f"deadline: {max(left, 0):.1f} s left before tier {tier.tier}"
                    break
                if effective.cost_cap_usd is not None and spent.cost_usd >= effective.cost_cap_usd:
                    stop_reason = f"cost cap ${effective.cost_cap_usd:.6f} reached"
                    break
                try:
                    reservation = await spend.reserve(tier, hold_s=left)
                except ResourceExhausted as refused:
                    if not spend.degrade:
                        raise
                    substitute = await _affordable(spend, tiers[index:], hold_s=left)
                    if substitute is None:
                        if not any(a.best_code is not None for a in attempts):
                            raise
                        degraded = stop_reason = f"budget: {refused}"
                        break
                    tier, reservation = substitute
                    last = True
                    degraded = f"{refused}; answered by {tier.tier} with k = {tier.k} instead"
                links = []
                if previous_span is not None and attempts:
                    prior = attempts[-1]
                    links.append(
                        Link(
                            previous_span.get_span_context(),
                            {"codecascade.escalation.reason": prior.reason},
                        )
                    )
                with self._tracer.start_as_current_span(
                    f"codecascade.tier {tier.tier}",
                    links=links,
                    attributes={
                        "codecascade.tier": tier.tier,
                        "codecascade.k": tier.k,
                        "codecascade.test_lines": tier.test_lines,
                        "codecascade.test_generations": tier.generations,
                        "codecascade.threshold": tier.threshold,
                    },
                ) as tier_span:
                    await emit(
                        TierStartedEvent(tier.tier, tier.k, tier.test_lines, tier.generations)
                    )
                    try:
                        attempt = await self._unless_cold(
                            tier,
                            deadline,
                            emit,
                            partial(
                                self._attempt,
                                tier,
                                problem,
                                seed=seed,
                                deadline=deadline,
                                last=last,
                                emit=emit,
                                gate=spend,
                                earlier=tuple(attempts),
                            ),
                        )
                    except BaseException:
                        await reservation.release()
                        await emit(TierAborted(tier.tier))
                        raise
                    await reservation.settle(tier.tier, attempt.usage)
                    tier_span.set_attribute("codecascade.decision", attempt.decision.name)
                    tier_span.set_attribute("codecascade.score", attempt.score)
                    # What this tier cost, its tokens over every call it made (solutions, tests).
                    tier_span.set_attributes(
                        {
                            "codecascade.cost_usd": attempt.usage.cost_usd,
                            "gen_ai.usage.input_tokens": attempt.usage.prompt_tokens,
                            "gen_ai.usage.output_tokens": attempt.usage.completion_tokens,
                        }
                    )
                attempts.append(attempt)
                spent = spent + attempt.usage
                await emit(TierFinished(attempt))
                if (
                    attempt.reason_code == _COLD_CODE
                    and tier.when_cold == "answer_best"
                    and any(a.best_code is not None for a in attempts)
                ):
                    cold_tier = tier.tier
                    stop_reason = (
                        f"tier {tier.tier} is cold ({attempt.reason}); when_cold: answer_best"
                    )
                    break
                previous_span = tier_span
                if last or attempt.decision in (
                    Decision.ACCEPTED,
                    Decision.UNTESTED,
                    Decision.FINAL,
                ):
                    break
                if not last:
                    target = tiers[index + 1].tier
                    self._escalate(workflow, attempt, target)
                    await emit(
                        EscalatedEvent(
                            attempt.tier,
                            target,
                            attempt.reason,
                            attempt.score,
                            attempt.threshold,
                            attempt.reason_code,
                        )
                    )
            result = replace(
                self._answer(attempts, stop_reason, started, trace_id),
                degraded_reason=degraded,
                cold_tier=cold_tier,
            )
            workflow.set_attribute("codecascade.degraded", result.degraded)
            workflow.set_attribute("codecascade.final_tier", result.tier)
            workflow.set_attribute("codecascade.decision", result.decision.name)
            workflow.set_attribute("codecascade.cost_usd", result.usage.cost_usd)
            await emit(Answered(result))
            return result

    async def _unless_cold(
        self,
        tier: TierPolicy,
        deadline: float,
        emit: Observer,
        attempt: Callable[[], Awaitable[TierAttempt]],
    ) -> TierAttempt:
        """Runs `attempt`; when the tier could not be reached (cold: scaled to zero, or its
        replicas still loading) and its policy says `when_cold: wait`, tells the stream once
        (TierWaking) and retries with backoff while the request's deadline leaves a tier's
        minimum. `answer_best` is decided by the caller, which sees the earlier answers."""
        result = await attempt()
        if result.reason_code != _COLD_CODE or tier.when_cold != "wait":
            return result
        pause = COLD_RETRY_FIRST_S
        told = False
        while result.reason_code == _COLD_CODE:
            left = deadline - self._clock()
            if left - pause < MIN_TIER_BUDGET_S:
                return result
            if not told:
                await emit(TierWaking(tier.tier, result.reason, left))
                told = True
            await asyncio.sleep(pause)
            pause = min(pause * 2, COLD_RETRY_MAX_S)
            result = await attempt()
        return result

    async def _attempt(
        self,
        tier: TierPolicy,
        problem: Problem,
        *,
        seed: int | None,
        deadline: float,
        last: bool,
        emit: Observer,
        gate: TierGate,
        earlier: tuple[TierAttempt, ...] = (),
    ) -> TierAttempt:
        started = self._clock()
        # Early exit draws the first `batch` samples now and more only while undecided.
        batched = 2 <= tier.k and 0 < tier.batch < tier.k
        first = tier.model_copy(update={"k": tier.batch}) if batched else tier
        base = TierAttempt(
            tier=tier.tier,
            decision=Decision.SKIPPED,
            reason="",
            reason_code="",
            k=tier.k,
            test_lines=tier.test_lines,
            test_generations=tier.generations,
            threshold=tier.threshold,
        )

        def remaining() -> float:
            return max(deadline - self._clock(), 0.001)

        if tier.k == 0:
            try:
                async with gate.admitted(tier, timeout_s=remaining()) as ticket:
                    try:
                        greedy = await asyncio.wait_for(
                            self._solutions.write_solutions(
                                tier, problem, seed=seed, timeout_s=remaining()
                            ),
                            remaining(),
                        )
                    except ResourceExhausted:
                        ticket.report(overloaded=True)
                        raise
                    ticket.report(overloaded=False)
            except (CascadeError, TimeoutError) as exc:
                failure = _failure("tier", exc)
                return replace(
                    base,
                    reason=failure.reason,
                    reason_code=failure.code,
                    retry_after_s=failure.retry_after_s,
                    elapsed_s=self._clock() - started,
                )
            await emit(CandidatesReady(tier.tier, len(greedy.codes), 0, greedy.usage))
            return replace(
                base,
                # k = 0 writes no tests: the rule's verdict is UNTESTED whatever the scores.
                decision=_DECISIONS[decide(0.0, False, 0.0, k=tier.k, last=last)],
                reason="k = 0: one greedy answer, accepted untested",
                reason_code="untested",
                threshold=0.0,
                solution_usage=greedy.usage,
                model_s=greedy.latency_s,
                solutions=greedy.codes,
                elapsed_s=self._clock() - started,
            )
        outcomes: list[Candidates | AssertSet | BaseException]
        try:
            async with gate.admitted(tier, timeout_s=remaining()) as ticket:
                outcomes = list(
                    await asyncio.gather(
                        asyncio.wait_for(
                            self._solutions.write_solutions(
                                first, problem, seed=seed, timeout_s=remaining()
                            ),
                            remaining(),
                        ),
                        asyncio.wait_for(
                            self._tests.write_tests(tier, problem, seed=seed, timeout_s=remaining())
                            if tier.test_lines
                            else _no_tests(),  # carried tests only
                            remaining(),
                        ),
                        return_exceptions=True,
                    )
                )
                if not isinstance(outcomes[0], BaseException):
                    ticket.report(overloaded=False)
                elif isinstance(outcomes[0], ResourceExhausted):
                    ticket.report(overloaded=True)  # the tier's own back-pressure
        except (CascadeError, TimeoutError) as exc:  # not admitted: nothing was generated
            outcomes = [exc, exc]
        candidates_or_error, tests_or_error = outcomes
        if isinstance(candidates_or_error, BaseException):
            if not isinstance(candidates_or_error, CascadeError | TimeoutError):
                raise candidates_or_error
            failure = _failure("tier", candidates_or_error)
            test_usage = tests_or_error.usage if isinstance(tests_or_error, AssertSet) else Usage()
            return replace(
                base,
                reason=failure.reason,
                reason_code=failure.code,
                retry_after_s=failure.retry_after_s,
                test_usage=test_usage,
                elapsed_s=self._clock() - started,
            )
        assert isinstance(candidates_or_error, Candidates)
        candidates = candidates_or_error
        tests: AssertSet
        test_note = ""
        if isinstance(tests_or_error, BaseException):
            if not isinstance(tests_or_error, CascadeError | TimeoutError):
                raise tests_or_error
            test_note = _failure("test synthesis", tests_or_error).reason
            tests = AssertSet((), Usage(), 0.0)
        else:
            assert isinstance(tests_or_error, AssertSet)
            tests = tests_or_error
        if tier.carry_tests:  # the asserts earlier tiers kept, after this tier's own
            carried = [t for a in earlier for t in a.tests]
            codes = tuple(dict.fromkeys((*tests.tests, *carried)))
            examples = tuple(
                dict.fromkeys((*tests.examples, *(e for a in earlier for e in a.examples)))
            )
            tests = AssertSet(codes, tests.usage, tests.latency_s, examples)
            test_note = "" if codes else test_note
        await emit(
            CandidatesReady(
                tier.tier, len(candidates.codes), len(tests.tests), candidates.usage + tests.usage
            )
        )
        attempt = replace(
            base,
            solution_usage=candidates.usage,
            test_usage=tests.usage,
            model_s=max(candidates.latency_s, tests.latency_s),
            tests=tests.tests,
            examples=tests.examples,
            solutions=candidates.codes,
        )
        sandbox_s = 0.0
        if tests.tests:
            try:
                with self._tracer.start_as_current_span(
                    "execute_tool run_tests",
                    kind=SpanKind.INTERNAL,
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "run_tests",
                        "codecascade.tier": tier.tier,
                        "codecascade.matrix.solutions": len(candidates.codes),
                        "codecascade.matrix.tests": len(tests.tests),
                    },
                ) as tool_span:
                    execution = await asyncio.wait_for(
                        self._runner.run_matrix(
                            problem, candidates.codes, tests.tests, timeout_s=remaining()
                        ),
                        remaining(),
                    )
                    matrix = [list(row) for row in execution.passed]
                    sandbox_s = execution.sandbox_s
                    tool_span.set_attribute(
                        "codecascade.matrix.passed_cells", sum(map(sum, matrix))
                    )
            except (CascadeError, TimeoutError) as exc:
                test_note = _failure("sandbox", exc).reason
                matrix = [[] for _ in candidates.codes]
        else:
            matrix = [[] for _ in candidates.codes]
            test_note = test_note or "the tier wrote no usable tests"
        if batched:
            candidates, matrix, more_s = await self._draw_more(
                tier, problem, candidates, tests, matrix, seed=seed, last=last, left=remaining
            )
            sandbox_s += more_s
            attempt = replace(attempt, solution_usage=candidates.usage, solutions=candidates.codes)
        scored = agreement(matrix)
        await emit(MatrixScored(tier.tier, scored, tier.threshold))
        attempt = replace(
            attempt,
            agreement=scored,
            score=scored.score,
            sandbox_s=sandbox_s,
            elapsed_s=self._clock() - started,
        )
        verdict = decide(scored.score, scored.passed_any, tier.threshold, k=tier.k, last=last)
        if last and tier.select_from_all and earlier and verdict is not Verdict.ESCALATE:
            attempt = await self._select_from_all(problem, attempt, earlier, remaining())
        if verdict is Verdict.ACCEPT:
            return replace(
                attempt,
                decision=_DECISIONS[verdict],
                reason=f"score {scored.score:.2f} >= threshold {tier.threshold:.2f}",
                reason_code="accepted",
            )
        if test_note:
            reason, code = test_note, "no_tests"
        elif scored.best_solution < 0:
            reason, code = "no solution passed any test", "nothing_passed"
        else:
            reason = f"score {scored.score:.2f} < threshold {tier.threshold:.2f}"
            code = "below_threshold"
        if verdict is Verdict.ANSWER:
            return replace(
                attempt,
                decision=_DECISIONS[verdict],
                reason=f"last tier answers with its best solution ({reason})",
                reason_code=code,
            )
        return replace(attempt, decision=_DECISIONS[verdict], reason=reason, reason_code=code)

    def _preroute(self, tiers: tuple[TierPolicy, ...], problem: Problem) -> str:
        """The tier the learned pre-router skips for this task ("" when none): never the last."""
        prerouter = self.policy.prerouter
        skippable = [t.tier for t in tiers[:-1] if t.tier != tiers[-1].tier]  # never the last
        if prerouter is None or prerouter.model.tier not in skippable:
            return ""
        return prerouter.model.tier if prerouter.skips(problem) else ""

    async def _draw_more(
        self,
        tier: TierPolicy,
        problem: Problem,
        candidates: Candidates,
        tests: AssertSet,
        matrix: list[list[bool]],
        *,
        seed: int | None,
        last: bool,
        left: Callable[[], float],
    ) -> tuple[Candidates, list[list[bool]], float]:
        """Early exit: more samples, `batch` at a time, until the verdict is decided
        (`core.decision.early_verdict`) or k are drawn; the rest are never requested. Sample i
        is seeded seed + i, as in one k-sample request."""
        sandbox_s = 0.0
        while len(matrix) < tier.k:
            if early_verdict(matrix, tier.k, tier.threshold, last=last) is not None:
                break
            drawn = len(matrix)
            batch = tier.model_copy(update={"k": min(tier.batch, tier.k - drawn)})
            try:
                more = await asyncio.wait_for(
                    self._solutions.write_solutions(
                        batch,
                        problem,
                        seed=None if seed is None else seed + drawn,
                        timeout_s=left(),
                    ),
                    left(),
                )
                rows: list[list[bool]] = [[] for _ in more.codes]
                if tests.tests:
                    execution = await asyncio.wait_for(
                        self._runner.run_matrix(problem, more.codes, tests.tests, timeout_s=left()),
                        left(),
                    )
                    rows = [list(row) for row in execution.passed]
                    sandbox_s += execution.sandbox_s
            except (CascadeError, TimeoutError):
                break  # answer from the samples drawn so far
            candidates = Candidates(
                (*candidates.codes, *more.codes),
                candidates.usage + more.usage,
                candidates.latency_s + more.latency_s,
            )
            matrix = [*matrix, *rows]
        return candidates, matrix, sandbox_s

    async def _select_from_all(
        self,
        problem: Problem,
        attempt: TierAttempt,
        earlier: tuple[TierAttempt, ...],
        timeout_s: float,
    ) -> TierAttempt:
        """The last tier's answer chosen among every candidate drawn so far (earlier tiers'
        first), over every test any of them verified with: by the same agreement score, or,
        when the policy ships a learned verifier, by its P(correct) (`router.verifier`; it
        chooses even when nothing passed, where the agreement score has nothing to go on)."""
        steps = (*earlier, attempt)
        codes = tuple(c for a in steps for c in a.solutions)
        tests = tuple(dict.fromkeys(t for a in steps for t in a.tests))
        verifier = self.policy.verifier
        if len(codes) == len(attempt.solutions) or (not tests and verifier is None):
            return attempt
        matrix: list[list[bool]] = [[] for _ in codes]
        sandbox_s = 0.0
        if tests:
            try:
                execution = await asyncio.wait_for(
                    self._runner.run_matrix(problem, codes, tests, timeout_s=timeout_s),
                    timeout_s,
                )
            except (CascadeError, TimeoutError):
                return attempt  # keep the tier's own choice
            matrix = [list(row) for row in execution.passed]
            sandbox_s = execution.sandbox_s
        scored = agreement(matrix)
        if verifier is not None:
            ranks = {name: rank for rank, name in enumerate(dict.fromkeys(a.tier for a in steps))}
            owners = [a for a in steps for _ in a.solutions]
            pool = [
                Candidate(c, ranks[a.tier], a.k <= 1) for c, a in zip(codes, owners, strict=True)
            ]
            examples = {e for a in steps for e in a.examples}
            probabilities = verifier.probabilities(pool, matrix, [t in examples for t in tests])
            chosen = most_likely(probabilities)
            scored = replace(scored, best_solution=chosen)
            # Which candidate the verifier trusted, for whoever reads the trace of a wrong answer.
            trace.get_current_span().set_attributes(
                {
                    "codecascade.verifier.answer_tier": owners[chosen].tier,
                    "codecascade.verifier.probability": probabilities[chosen],
                }
            )
        elif scored.best_solution < 0:
            return attempt
        return replace(
            attempt,
            solutions=codes,
            agreement=scored,
            sandbox_s=attempt.sandbox_s + sandbox_s,
        )

    def _escalate(self, workflow: trace.Span, attempt: TierAttempt, target: str) -> None:
        workflow.add_event(
            "codecascade.escalation",
            {
                "codecascade.escalation.from_tier": attempt.tier,
                "codecascade.escalation.to_tier": target,
                "codecascade.escalation.reason": attempt.reason,
                "codecascade.escalation.reason_code": attempt.reason_code,
                "codecascade.escalation.score": attempt.score,
                "codecascade.escalation.threshold": attempt.threshold,
            },
        )

    def _answer(
        self, attempts: list[TierAttempt], stop_reason: str, started: float, trace_id: str
    ) -> CascadeResult:
        answered = [a for a in attempts if a.best_code is not None]
        if not answered:
            detail = "; ".join(f"{a.tier}: {a.reason}" for a in attempts) or stop_reason
            if stop_reason.startswith("deadline") and not attempts:
                raise DeadlineExceeded(f"no tier could start: {stop_reason}")
            busy = [a.retry_after_s for a in attempts if a.reason_code == "tier_overloaded"]
            if busy:  # overload is back-pressure, never UNAVAILABLE
                raise Overloaded(
                    f"no tier could take the request now ({detail})", retry_after_s=max(busy)
                )
            raise Unavailable(f"no tier produced an answer ({detail})")
        chosen = attempts[-1] if attempts[-1].best_code is not None else None
        if chosen is None or chosen.decision in (Decision.ESCALATED, Decision.SKIPPED):
            # The last tier tried could not answer (down, or we stopped early): best earlier answer.
            chosen = max(answered, key=lambda a: (a.score, attempts.index(a)))
            note = stop_reason or "the last tier could not answer"
            final = replace(
                chosen,
                decision=Decision.FINAL,
                reason=f"{note}; best earlier answer ({chosen.reason})",
            )
            attempts = [final if a is chosen else a for a in attempts]
            chosen = final
        code = chosen.best_code
        assert code is not None
        return CascadeResult(
            code=code,
            tier=chosen.tier,
            decision=chosen.decision,
            score=chosen.score,
            threshold=chosen.threshold,
            agreement=chosen.agreement,
            attempts=tuple(attempts),
            elapsed_s=self._clock() - started,
            trace_id=trace_id,
        )
