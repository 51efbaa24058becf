"""The llama.cpp engine directly: batched and shared prompt evaluation, queue bound, cancellation,
M/L.

Nothing here reads a clock: tests wait on the engine's `decoding` event to act while a generation
runs, count the tokens llama.cpp evaluated instead of timing it, and bound a hang only with
`asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import llama_cpp
import pytest

from codecascade.core.sampling import SamplingParams
from codecascade.tierserver.engine import EngineConfig, LlamaEngine
from codecascade.tierserver.errors import PromptTooLong, QueueFull
from codecascade.tierserver.generation import Completion
from tests.integration.tiers.tier_helpers import LONG_RAW_PROMPT, model_path


@pytest.fixture(scope="module")
def engine_s() -> LlamaEngine:
    engine = LlamaEngine(EngineConfig(model_path=model_path("S"), queue_size=0))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def sequential_s(engine_s: LlamaEngine) -> LlamaEngine:
    engine = LlamaEngine(replace(engine_s.config, parallel_sequences=1))
    engine.load()
    return engine


@pytest.fixture(params=["batched", "sequential"])
def any_path(
    request: pytest.FixtureRequest, engine_s: LlamaEngine, sequential_s: LlamaEngine
) -> LlamaEngine:
    return engine_s if request.param == "batched" else sequential_s


_TASK = "Write a Python function `is_even(n)`. Answer with one ```python block."


def test_batched_samples_are_seeded_and_stop_where_asked(engine_s: LlamaEngine) -> None:
    params = SamplingParams(n=4, temperature=0.8, top_p=0.95, max_tokens=48, seed=5, stop=("\n",))
    first = engine_s.generate_blocking(_TASK, params, "chat")
    again = engine_s.generate_blocking(_TASK, params, "chat")
    assert first == again  # seeded: a retried request gets the same answers
    assert len(first.texts) == 4 and len(set(first.texts)) > 1
    for text, reason, tokens in zip(
        first.texts, first.finish_reasons, first.completion_tokens, strict=True
    ):
        assert "\n" not in text and 0 < tokens <= 48
        assert reason == "stop" or tokens == 48


def test_batched_and_sequential_paths_sample_alike(
    engine_s: LlamaEngine, sequential_s: LlamaEngine
) -> None:
    # The same seeds and sampler chain on both paths; batched matrix products may round
    # differently, so a sample can drift apart late, but the first tokens agree.
    params = SamplingParams(n=3, temperature=0.8, top_p=0.95, max_tokens=8, seed=11)
    batched = engine_s.generate_blocking(_TASK, params, "chat")
    sequential = sequential_s.generate_blocking(_TASK, params, "chat")
    assert batched.prompt_tokens == sequential.prompt_tokens
    assert [t[:8] for t in batched.texts] == [t[:8] for t in sequential.texts]


def test_more_samples_than_one_batch_holds_run_in_groups() -> None:
    # Room for a ~60-token prompt and two 40-token samples: five samples run as 2 + 2 + 1.
    engine = LlamaEngine(EngineConfig(model_path=model_path("S"), parallel_ctx=160))
    engine.load()
    try:
        params = SamplingParams(n=5, temperature=0.8, top_p=0.95, max_tokens=40, seed=2)
        result = engine.generate_blocking(_TASK, params, "chat")
    finally:
        engine.close()
    assert len(result.texts) == 5 and all(0 < t <= 40 for t in result.completion_tokens)


def test_samples_share_the_prompt_evaluation(any_path: LlamaEngine) -> None:
    prompt = "def f(x):\n    return x\n" * 40  # ~360 tokens
    one = SamplingParams(n=1, temperature=0.8, max_tokens=1, seed=1)
    eight = SamplingParams(n=8, temperature=0.8, max_tokens=1, seed=1)

    def evaluated(params: SamplingParams) -> int:
        """Tokens llama.cpp decoded for one request, on every context the engine has."""
        any_path.generate_blocking("unrelated", one, "raw")  # evict the prompt from the KV cache
        # The engine's contexts (its Llama's, and the batch's): private, read here only.
        contexts = [any_path._llama._ctx.ctx]  # type: ignore[union-attr]
        if any_path._batched is not None:
            contexts.append(any_path._batched._ctx.ctx)
        for ctx in contexts:
            llama_cpp.llama_perf_context_reset(ctx)
        any_path.generate_blocking(prompt, params, "raw")
        counts = [llama_cpp.llama_perf_context(ctx) for ctx in contexts]
        return sum(c.n_p_eval + c.n_eval for c in counts)

    full = evaluated(one)
    assert full > 300  # the whole prompt, evaluated once
    # Eight samples evaluate the prompt once (batched: shared by eight sequences; sequential:
    # plus at most a token per sample to refresh), not eight times.
    assert evaluated(eight) <= full + 8


def test_prompt_too_long(engine_s: LlamaEngine) -> None:
    with pytest.raises(PromptTooLong) as caught:
        engine_s.generate_blocking("word " * 3000, SamplingParams(), "chat")
    assert caught.value.prompt_tokens > 2048 and caught.value.n_ctx == 2048


async def _long_generation(engine: LlamaEngine, params: SamplingParams) -> Completion:
    return await engine.generate(LONG_RAW_PROMPT, params, prompt_format="raw")


async def _decoding(engine: LlamaEngine) -> None:
    """Returns once the engine's worker is generating (wait_for only bounds a hang)."""
    assert await asyncio.wait_for(asyncio.to_thread(engine.decoding.wait, 120), 130)


async def _free_again(engine: LlamaEngine) -> None:
    """Once the cancelled generation has stopped, the model takes the next request."""
    await asyncio.wait_for(engine.settle(), 120)
    assert engine.in_flight == 0 and not engine.decoding.is_set()
    done = await engine.generate("hi", SamplingParams(max_tokens=1))
    assert done.completion_tokens == (1,)


class _CancelOnCheck(threading.Event):
    """A cancel flag that sets itself when the generation consults it for the `nth` time.

    The engine consults its flag once per generated token, so this cancels a generation in
    the middle, at a token count rather than at a moment on the clock.
    """

    def __init__(self, nth: int) -> None:
        super().__init__()
        self._left = nth

    def is_set(self) -> bool:
        self._left -= 1
        if self._left == 0:
            self.set()
        return super().is_set()


def test_cancel_stops_the_generation_at_its_next_token(any_path: LlamaEngine) -> None:
    # What lets a cancelled request free the model at once: it stops a token or so after the
    # flag is set, far from its 1500-token budget.
    many = SamplingParams(n=2, temperature=0.8, top_p=0.95, max_tokens=1500, seed=1)
    result = any_path.generate_blocking(LONG_RAW_PROMPT, many, "raw", _CancelOnCheck(20))
    assert result.finish_reasons and set(result.finish_reasons) == {"cancelled"}
    assert all(0 < tokens < 40 for tokens in result.completion_tokens)


async def test_queue_bound_and_cancellation(engine_s: LlamaEngine) -> None:
    long = asyncio.create_task(_long_generation(engine_s, SamplingParams(max_tokens=1500)))
    await _decoding(engine_s)
    with pytest.raises(QueueFull):
        await engine_s.generate("hi", SamplingParams(max_tokens=1))
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    await _free_again(engine_s)


async def test_cancelling_batched_samples_frees_the_model(engine_s: LlamaEngine) -> None:
    many = SamplingParams(n=4, temperature=0.8, top_p=0.95, max_tokens=1500, seed=1)
    long = asyncio.create_task(_long_generation(engine_s, many))
    await _decoding(engine_s)
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    await _free_again(engine_s)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["M", "L"])
async def test_code_models_write_python(name: str) -> None:
    engine = LlamaEngine(EngineConfig(model_path=model_path(name)))
    engine.load()
    try:
        result = await engine.generate(
            "Write a Python function `is_even(n)` that returns True when n is even. "
            "Answer with one ```python block.",
            SamplingParams(n=2, temperature=0.8, top_p=0.95, max_tokens=96, seed=3),
        )
    finally:
        engine.close()
    assert len(result.texts) == 2
    assert all("def is_even" in text for text in result.texts)
