"""The learned verifier (router.verifier): its features, its file, and how the cascade uses it."""

from __future__ import annotations

import math

import grpc
import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codecascade.core.task import make_problem
from codecascade.core.usage import Usage
from codecascade.router.adapters import SynthesisAssertWriter
from codecascade.router.cascade import Cascade
from codecascade.router.policy import CascadePolicy, PolicyError, RequestOverrides, TierPolicy, plan
from codecascade.router.ports import AssertSet, Candidates, Execution
from codecascade.router.verifier import FEATURES, MODEL_VERSION, Candidate, VerifierModel, features
from codecascade.v1 import testsynth_service_pb2 as testsynth_pb
from codecascade.v1 import testsynth_service_pb2_grpc as testsynth_grpc

PROBLEM = make_problem("def f(x):\n    '''Identity.\n    >>> f(1)\n    1\n    '''\n")
T, F = True, False
EXAMPLE, GENERATED = "assert f(1) == 1", "assert f(2) == 2"


def _model(**weights: float) -> VerifierModel:
    """Unit-scaled weights on the named features, zero elsewhere."""
    n = len(FEATURES)
    return VerifierModel(
        features=FEATURES,
        mean=(0.0,) * n,
        scale=(1.0,) * n,
        coef=tuple(weights.get(name, 0.0) for name in FEATURES),
        intercept=0.0,
    )


def test_features_tell_the_tasks_examples_from_generated_asserts() -> None:
    pool = [Candidate("a = 1", 0, True), Candidate("a  = 1  # same", 1, True)]
    rows = features(pool, [[T, F], [F, T]], [True, False])
    named = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    assert [r["examples_passed_share"] for r in named] == [1.0, 0.0]
    assert [r["generated_passed_share"] for r in named] == [0.0, 1.0]
    assert [r["top_tier"] for r in named] == [0.0, 1.0]
    assert named[0]["same_code_share"] == 0.5  # comments and spacing aside, the same code
    assert named[0]["same_behaviour_share"] == 0.0
    assert all(len(row) == len(FEATURES) for row in rows)
    # No tests at all: defined, not a division by zero.
    assert features(pool, [[], []], [])[0][FEATURES.index("no_examples")] == 1.0


def test_the_model_picks_what_its_weights_prefer_and_ties_go_to_the_first() -> None:
    pool = [Candidate("x", 0, True), Candidate("y", 1, True)]
    passed, examples = [[T, F], [F, T]], [True, False]
    assert _model(examples_passed_share=2.0).choose(pool, passed, examples) == 0
    assert _model(top_tier=1.0).choose(pool, passed, examples) == 1
    assert _model().choose(pool, passed, examples) == 0
    probability = _model(top_tier=1.0).probabilities(pool, passed, examples)[1]
    assert probability == pytest.approx(1 / (1 + math.exp(-1.0)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": MODEL_VERSION + 1}, "verifier version"),
        ({"features": ["x"] * len(FEATURES)}, "this router computes"),
        ({"scale": [0.0] * len(FEATURES)}, "positive"),
        ({"coef": [1.0]}, "one value per feature"),
    ],
)
def test_a_verifier_the_router_cannot_apply_is_refused_on_load(change, message) -> None:
    document = {
        "tiers": [
            {"tier": "M", "k": 1, "test_lines": 2},
            {"tier": "L", "k": 3, "test_lines": 2, "select_from_all": True},
        ],
        "verifier": _model().model_dump(mode="json") | change,
    }
    with pytest.raises(PolicyError, match=message):
        CascadePolicy.from_yaml(yaml.safe_dump(document))


CHEAP_SAMPLES_LAST = (
    "tiers:\n"
    "  - {tier: M, k: 1, test_lines: 2}\n"
    "  - {tier: L, k: 1, test_lines: 0, carry_tests: true}\n"
    "  - {tier: M, k: 2, test_lines: 0, threshold: 0.5, batch: 1, carry_tests: true,"
    " select_from_all: true}\n"
)


def test_a_tier_may_come_back_after_a_larger_one_for_its_samples() -> None:
    policy = CascadePolicy.from_yaml(CHEAP_SAMPLES_LAST)
    assert [(t.tier, t.k) for t in policy.tiers] == [("M", 1), ("L", 1), ("M", 2)]
    # max_tier M: every entry of M, none of L's.
    assert [(t.tier, t.k) for t in plan(policy, RequestOverrides(max_tier="M")).tiers] == [
        ("M", 1),
        ("M", 2),
    ]
    # A request for one greedy answer per tier keeps each tier's first entry.
    assert [(t.tier, t.k) for t in plan(policy, RequestOverrides(k=1)).tiers] == [
        ("M", 1),
        ("L", 1),
    ]


def test_a_verifier_needs_the_last_tier_to_choose_among_every_candidate() -> None:
    text = CHEAP_SAMPLES_LAST.replace(" select_from_all: true", "")
    document = yaml.safe_load(text) | {"verifier": _model().model_dump(mode="json")}
    with pytest.raises(PolicyError, match="needs select_from_all true"):
        CascadePolicy.from_yaml(yaml.safe_dump(document))


class _Tiers:
    """Solutions, tests (the task's example first) and one matrix row per (tier, greedy "g" or
    sampled "s") of a step."""

    def __init__(self, rows: dict[tuple[str, str], list[bool]]) -> None:
        self.rows = rows

    async def write_solutions(self, tier, problem, *, seed, timeout_s):
        kind = "s" if tier.batch else "g"
        codes = tuple(f"# {tier.tier} {kind} {seed} {i}\nx = {i}" for i in range(max(tier.k, 1)))
        return Candidates(codes, Usage(10, 100, 0.001), 0.1)

    async def write_tests(self, tier, problem, *, seed, timeout_s):
        return AssertSet((EXAMPLE, GENERATED), Usage(5, 20, 0.0001), 0.1, (EXAMPLE,))

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        keys = [tuple(code.split()[1:3]) for code in solutions]
        return Execution(tuple(tuple(self.rows[key][: len(tests)]) for key in keys), 0.1)


async def test_the_verifier_answers_with_a_larger_tiers_greedy_answer_the_agreement_would_not() -> (
    None
):
    # M's greedy answer passes the generated assert only, L's the task's example only, and M's
    # samples pass nothing: agreement ties go to M's answer (listed first); a verifier trusting
    # the task's examples picks L's.
    tiers = _Tiers({("M", "g"): [F, T], ("L", "g"): [T, F], ("M", "s"): [F, F]})
    policy = CascadePolicy.from_yaml(CHEAP_SAMPLES_LAST)
    plain = await Cascade(policy, tiers, tiers, tiers).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert [a.tier for a in plain.attempts] == ["M", "L", "M"]
    assert plain.code.startswith("# M g")
    verified = policy.model_copy(update={"verifier": _model(examples_passed_share=3.0)})
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result = await Cascade(verified, tiers, tiers, tiers, tracer_provider=provider).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert result.code.startswith("# L g")
    # The last tier's span says whose candidate the verifier trusted, and how much.
    [last] = [
        s
        for s in exporter.get_finished_spans()
        if "codecascade.verifier.answer_tier" in (s.attributes or {})
    ]
    assert last.name == "codecascade.tier M" and last.attributes is not None
    assert last.attributes["codecascade.verifier.answer_tier"] == "L"
    assert last.attributes["codecascade.verifier.probability"] == pytest.approx(
        1 / (1 + math.exp(-3.0))
    )
    # The examples travelled with the carried asserts: L and M's samples wrote none.
    assert [a.examples for a in result.attempts] == [(EXAMPLE,)] * 3


class _Synthesis(testsynth_grpc.TestSynthServiceServicer):
    async def SynthesizeTests(self, request, context):
        origin = testsynth_pb.TestOrigin
        return testsynth_pb.SynthesizeTestsResponse(
            tests=[
                testsynth_pb.SynthesizedTest(
                    code=EXAMPLE, generation_index=-1, origin=origin.TEST_ORIGIN_PROMPT_EXAMPLE
                ),
                testsynth_pb.SynthesizedTest(
                    code=GENERATED, generation_index=0, origin=origin.TEST_ORIGIN_MODEL
                ),
            ]
        )


async def test_the_router_keeps_which_tests_the_task_itself_states() -> None:
    server = grpc.aio.server()
    testsynth_grpc.add_TestSynthServiceServicer_to_server(_Synthesis(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            tier = TierPolicy(tier="M", k=1, test_lines=2)
            tests = await SynthesisAssertWriter(channel).write_tests(
                tier, PROBLEM, seed=1, timeout_s=5
            )
    finally:
        await server.stop(None)
    assert tests.tests == (EXAMPLE, GENERATED) and tests.examples == (EXAMPLE,)
