"""The llama.cpp adapter: one GGUF model, one worker thread, a bounded queue in front of it.

llama.cpp is neither thread-safe nor async: a `Llama` object must be driven by one thread at a
time, and each call blocks for seconds. So every call runs on a single dedicated worker thread
(never on the event loop), requests beyond `1 + queue_size` are refused at once with
`QueueFull` instead of piling up latency, and a cancelled caller stops its generation at the next
token through a stopping criterion rather than holding the model until `max_tokens`.

`n` sampled completions of one prompt are decoded together, one llama.cpp batch per step
(`batched.py`: the weights are read once per step for all of them, which is what bounds a CPU).
When they do not fit the batch context, or batching is off (`parallel_sequences` 1), they run one
after the other and still share the prompt evaluation: llama-cpp-python keeps the KV cache of the
previous call and re-evaluates only the last prompt token. Greedy requests (temperature 0) are
decoded once and replicated, since every sample would be the same answer.

No KServe or gRPC here: the predictor in `model.py` maps tensors onto this API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
from llama_cpp import Llama, StoppingCriteria, StoppingCriteriaList
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateCompletionResponse

from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.tierserver.batched import BatchedSampler, Sample
from codecascade.tierserver.errors import InvalidRequest, ModelFileError, PromptTooLong, QueueFull
from codecascade.tierserver.generation import Completion, FinishReason, Phases, SamplingLimits

__all__ = ["EngineConfig", "LlamaEngine"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    """How to load and drive one model."""

    model_path: Path
    n_ctx: int = 2048
    n_threads: int = 2
    n_batch: int = 512
    prompt_format: PromptFormat = "chat"
    queue_size: int = 8
    # Sampled completions decoded in one batch, and the batch's KV cache in tokens (prompt + all
    # of them); 1 turns batching off.
    parallel_sequences: int = 8
    parallel_ctx: int = 4096
    limits: SamplingLimits = field(default_factory=SamplingLimits)


@dataclass(frozen=True)
class _Prompt:
    tokens: list[int]
    stops: tuple[str, ...]


class LlamaEngine:
    """Serves completions from one GGUF model; `load()` once, then `generate()` from async code."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._llama: Llama | None = None
        self._batched: BatchedSampler | None = None
        self._chat: Jinja2ChatFormatter | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._admitted = 0
        self._decoding = threading.Event()

    @property
    def config(self) -> EngineConfig:
        return self._config

    @property
    def ready(self) -> bool:
        return self._llama is not None

    @property
    def in_flight(self) -> int:
        """Requests running or waiting for the worker."""
        return self._admitted

    @property
    def decoding(self) -> threading.Event:
        """Set while the worker generates for a request, clear otherwise; only wait on it.

        A caller that must act while a generation certainly runs (refusing the next request,
        cancelling it) waits for this instead of guessing how long a request takes to start.
        """
        return self._decoding

    async def settle(self) -> None:
        """Returns once the worker has finished everything submitted before this call.

        A cancelled caller returns at once, while its generation stops at its next token on the
        worker and only then frees its place in the queue; this waits for that.
        """
        await asyncio.wrap_future(self._executor.submit(_nothing))

    def load(self) -> None:
        """Loads the model (blocking; call before serving). Idempotent."""
        if self._llama is not None:
            return
        cfg = self._config
        try:
            llama = Llama(
                model_path=str(cfg.model_path),
                n_ctx=cfg.n_ctx,
                n_threads=cfg.n_threads,
                n_threads_batch=cfg.n_threads,
                n_batch=min(cfg.n_batch, cfg.n_ctx),
                use_mmap=False,
                verbose=False,
            )
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            raise ModelFileError(f"llama.cpp cannot load {cfg.model_path}: {exc}") from exc
        self._chat = _chat_formatter(llama)
        if cfg.parallel_sequences > 1:
            self._batched = BatchedSampler(
                llama, n_ctx=cfg.parallel_ctx, max_sequences=cfg.parallel_sequences
            )
        self._llama = llama

    def close(self, *, wait: bool = True) -> None:
        """Refuses new calls and drops queued ones; `wait` blocks until the running one ends."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
        if wait:
            if self._batched is not None:
                self._batched.close()
                self._batched = None
            self._llama = None

    async def generate(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        prompt_format: PromptFormat | None = None,
    ) -> Completion:
        """Generates `params.n` completions; raises QueueFull when the queue is at capacity."""
        if self._llama is None:
            raise ModelFileError("the model is not loaded yet")
        capacity = 1 + self._config.queue_size
        if self._admitted >= capacity:
            raise QueueFull(
                f"model queue is full: {self._admitted} requests running or waiting "
                f"(capacity {capacity}); retry later or add replicas"
            )
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        fmt = prompt_format or self._config.prompt_format
        self._admitted += 1
        submitted_ns = time.time_ns()
        job: Future[Completion] = self._executor.submit(
            self.generate_blocking, prompt, params, fmt, cancel
        )
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        try:
            completion = await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            cancel.set()  # a running generation stops at its next token
            raise
        if completion.phases is None:
            return completion
        return dataclasses.replace(
            completion, phases=dataclasses.replace(completion.phases, submitted_ns=submitted_ns)
        )

    def _release(self) -> None:
        self._admitted -= 1

    def count_prompt_tokens(self, prompt: str, prompt_format: PromptFormat) -> int:
        """Blocking: the number of tokens `prompt` becomes after formatting."""
        return len(self._render(prompt, prompt_format).tokens)

    def generate_blocking(
        self,
        prompt: str,
        params: SamplingParams,
        prompt_format: PromptFormat,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """The worker-thread body; also what a benchmark calls to measure llama.cpp directly.

        The completion's `phases` start when the worker takes the request (`generate` fills in
        when it was submitted)."""
        self._decoding.set()
        clock = _PhaseClock()
        try:
            completion = self._generate(prompt, params, prompt_format, cancel, clock)
        finally:
            self._decoding.clear()
        return dataclasses.replace(completion, phases=clock.phases())

    def _generate(
        self,
        prompt: str,
        params: SamplingParams,
        prompt_format: PromptFormat,
        cancel: threading.Event | None,
        clock: _PhaseClock,
    ) -> Completion:
        llama = self._require_llama()
        rendered = self._render(prompt, prompt_format)
        n_prompt = len(rendered.tokens)
        n_ctx = llama.n_ctx()
        if n_prompt >= n_ctx:
            raise PromptTooLong(n_prompt, n_ctx)
        budget = min(params.max_tokens, n_ctx - n_prompt)
        stop_flag = cancel if cancel is not None else threading.Event()
        # Called after each sampled token: its first call marks the prompt as evaluated.
        criteria = StoppingCriteriaList([_stop_when(stop_flag, clock)])
        stops = list(params.stop) + list(rendered.stops)
        seeds = [
            params.seed + i if params.seed is not None else secrets.randbits(31)
            for i in range(params.n)
        ]
        batched = self._batched
        group = batched.group_size(n_prompt, budget) if batched else 0
        if batched and not params.greedy and params.n > 1 and group > 1:
            return _in_batches(
                batched, rendered, params, seeds, budget, stops, stop_flag, group, clock
            )
        runs = 1 if params.greedy else params.n
        texts: list[str] = []
        reasons: list[FinishReason] = []
        counts: list[int] = []
        for i in range(runs):
            if stop_flag.is_set():
                break
            response = cast(
                CreateCompletionResponse,
                llama.create_completion(
                    prompt=rendered.tokens,
                    max_tokens=budget,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    top_k=0,
                    min_p=0.0,
                    repeat_penalty=1.0,
                    stop=stops,
                    seed=seeds[i],
                    stopping_criteria=criteria,
                ),
            )
            choice = response["choices"][0]
            texts.append(choice["text"])
            reasons.append(_finish_reason(choice["finish_reason"], stop_flag))
            counts.append(response["usage"]["completion_tokens"])
        if params.greedy and texts:
            texts, reasons, counts = texts * params.n, reasons * params.n, counts * params.n
        return Completion(
            texts=tuple(texts),
            finish_reasons=tuple(reasons),
            prompt_tokens=n_prompt,
            completion_tokens=tuple(counts),
        )

    def _require_llama(self) -> Llama:
        if self._llama is None:
            raise ModelFileError("the model is not loaded yet")
        return self._llama

    def _render(self, prompt: str, prompt_format: PromptFormat) -> _Prompt:
        llama = self._require_llama()
        if prompt_format == "raw":
            return _Prompt(llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False), ())
        if self._chat is None:
            raise InvalidRequest("this model has no chat template; use prompt_format 'raw'")
        messages: list[ChatCompletionRequestMessage] = [{"role": "user", "content": prompt}]
        result = self._chat(messages=messages)
        tokens = llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stops = _as_tuple(result.stop)
        return _Prompt(tokens, stops)


def _in_batches(
    batched: BatchedSampler,
    rendered: _Prompt,
    params: SamplingParams,
    seeds: list[int],
    budget: int,
    stops: list[str],
    stop_flag: threading.Event,
    group: int,
    clock: _PhaseClock,
) -> Completion:
    """The n samples decoded `group` at a time, each group one batch."""
    samples: list[Sample] = []
    for start in range(0, params.n, group):
        if stop_flag.is_set():
            break
        samples += batched.sample(
            rendered.tokens,
            seeds=seeds[start : start + group],
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=budget,
            stops=stops,
            cancel=stop_flag,
            evaluated=clock.first_token,
        )
    return Completion(
        texts=tuple(s.text for s in samples),
        finish_reasons=tuple(_finish_reason(s.finish_reason, stop_flag) for s in samples),
        prompt_tokens=len(rendered.tokens),
        completion_tokens=tuple(s.tokens for s in samples),
    )


def _nothing() -> None:
    """A no-op job: the single worker runs it only after every job submitted before it."""


def _as_tuple(stop: str | Sequence[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    return tuple(s for s in stop if s)


class _PhaseClock:
    """Marks, on the worker thread, when a generation started and when its prompt was done."""

    __slots__ = ("_first_token_ns", "_started_ns")

    def __init__(self) -> None:
        self._started_ns = time.time_ns()
        self._first_token_ns = 0

    def first_token(self) -> None:
        """Called when a first token exists; only the first call counts."""
        if not self._first_token_ns:
            self._first_token_ns = time.time_ns()

    def phases(self) -> Phases:
        finished = time.time_ns()
        return Phases(
            submitted_ns=self._started_ns,
            started_ns=self._started_ns,
            first_token_ns=self._first_token_ns or finished,
            finished_ns=finished,
        )


def _stop_when(flag: threading.Event, clock: _PhaseClock) -> StoppingCriteria:
    def stopping(_ids: npt.NDArray[np.intc], _logits: npt.NDArray[np.single]) -> bool:
        clock.first_token()
        return flag.is_set()

    return stopping


def _finish_reason(reason: str | None, cancel: threading.Event) -> FinishReason:
    if cancel.is_set():
        return "cancelled"
    return "length" if reason == "length" else "stop"


def _chat_formatter(llama: Llama) -> Jinja2ChatFormatter | None:
    """The GGUF's own chat template, as llama-cpp-python would build it for chat completions."""
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    model = llama._model  # llama-cpp-python exposes token texts only here
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
        bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
        stop_token_ids=[eos_id],
    )
