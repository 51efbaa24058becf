"""The llama.cpp engine directly: shared prompt evaluation, queue bound, cancellation, M/L."""

from __future__ import annotations

import asyncio
import time

import pytest

from codecascade.tiers.engine import EngineConfig, LlamaEngine
from codecascade.tiers.errors import PromptTooLong, QueueFull
from codecascade.tiers.generation import SamplingParams
from tests.integration.tiers.tier_helpers import model_path


@pytest.fixture(scope="module")
def engine_s() -> LlamaEngine:
    engine = LlamaEngine(EngineConfig(model_path=model_path("S"), queue_size=0))
    engine.load()
    return engine


def test_samples_share_the_prompt_evaluation(engine_s: LlamaEngine) -> None:
    prompt = "def f(x):\n    return x\n" * 40  # ~360 tokens
    one = SamplingParams(n=1, temperature=0.8, max_tokens=1, seed=1)
    eight = SamplingParams(n=8, temperature=0.8, max_tokens=1, seed=1)

    def timed(params: SamplingParams) -> float:
        engine_s.generate_blocking("unrelated", one, "raw")  # evict the prompt from the KV cache
        started = time.perf_counter()
        engine_s.generate_blocking(prompt, params, "raw")
        return time.perf_counter() - started

    full = (timed(one) + timed(one)) / 2
    shared = timed(eight)
    # Eight samples cost one prompt evaluation plus seven one-token refreshes (about 1x), not
    # eight evaluations (8x); 4x leaves room for a noisy shared machine.
    assert shared < 4 * full


def test_prompt_too_long(engine_s: LlamaEngine) -> None:
    with pytest.raises(PromptTooLong) as caught:
        engine_s.generate_blocking("word " * 3000, SamplingParams(), "chat")
    assert caught.value.prompt_tokens > 2048 and caught.value.n_ctx == 2048


async def test_queue_bound_and_cancellation(engine_s: LlamaEngine) -> None:
    long = asyncio.create_task(engine_s.generate("Count to 500.", SamplingParams(max_tokens=1500)))
    await asyncio.sleep(0.3)
    with pytest.raises(QueueFull):
        await engine_s.generate("hi", SamplingParams(max_tokens=1))
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    # The worker stops at its next token, so the model is free again almost at once.
    started = time.monotonic()
    for _ in range(100):
        try:
            done = await engine_s.generate("hi", SamplingParams(max_tokens=1))
            break
        except QueueFull:
            await asyncio.sleep(0.01)
    assert time.monotonic() - started < 1.0
    assert done.completion_tokens == (1,)


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
