"""n samples of one prompt decoded together: one llama.cpp batch per step, a sequence per sample.

A cascade tier asks for k solutions and t test generations of the same prompt. Decoded one after
the other, each token of each sample reads every weight of the model once; on a CPU that read,
not the arithmetic, bounds the speed, so decoding the n samples in one batch reads the weights
once per step for all of them (docs/benchmarks.md#tiers measures the gain).

The prompt is evaluated once, its KV cells shared by every sequence (each prompt token carries
all n sequence ids); each sample then has its own sampler chain, seeded `seed + i` exactly as the
sequential path seeds its runs, and its own stop handling. The batch runs on a second llama.cpp
context over the same weights (no copy), sized for `max_sequences` sequences, so the `Llama`
object's own prompt cache is left alone.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llama_cpp
from llama_cpp import Llama
from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaSampler

from codecascade.tierserver.generation import FinishReason

__all__ = ["BatchedSampler", "Sample"]


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    finish_reason: FinishReason
    tokens: int


class _Sequence:
    """One sample being decoded: its sampler, what it has produced, and whether it is done."""

    def __init__(self, sampler: LlamaSampler, stops: Sequence[str]) -> None:
        self.sampler = sampler
        self.stops = stops
        self.tokens: list[int] = []
        self.finish: FinishReason | None = None
        # A piece may end inside a UTF-8 character: the decoder holds it until it is complete.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._text = ""
        self._cut = -1  # where the first stop string begins, once one is found

    def push(self, token: int, piece: bytes) -> None:
        self.tokens.append(token)
        searched = len(self._text)
        self._text += self._decoder.decode(piece)
        for stop in self.stops:
            at = self._text.find(stop, max(0, searched - len(stop) + 1))
            if at >= 0 and (self._cut < 0 or at < self._cut):
                self._cut = at
                self.finish = "stop"

    def result(self) -> Sample:
        text = self._text[: self._cut] if self._cut >= 0 else self._text
        return Sample(text, self.finish or "length", len(self.tokens))


class BatchedSampler:
    """Decodes up to `max_sequences` samples of one prompt in lockstep on the worker thread."""

    def __init__(self, llama: Llama, *, n_ctx: int, max_sequences: int) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = llama.context_params.n_batch
        params.n_ubatch = llama.context_params.n_ubatch
        params.n_threads = llama.context_params.n_threads
        params.n_threads_batch = llama.context_params.n_threads_batch
        params.n_seq_max = max_sequences
        params.kv_unified = True  # prompt cells shared by all sequences, not copied per sequence
        params.no_perf = True
        self._llama = llama
        self._ctx = LlamaContext(model=llama._model, params=params, verbose=False)
        self._vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self._n_batch = int(params.n_batch)
        self._batch = LlamaBatch(
            n_tokens=max(self._n_batch, max_sequences), embd=0, n_seq_max=max_sequences
        )
        self.max_sequences = max_sequences
        self.n_ctx = n_ctx

    def close(self) -> None:
        # llama-cpp-python's internals are untyped.
        self._batch.close()  # type: ignore[no-untyped-call]
        self._ctx.close()  # type: ignore[no-untyped-call]

    def group_size(self, n_prompt: int, max_tokens: int) -> int:
        """How many samples of max_tokens each, after an n_prompt-token prompt, fit one batch."""
        return min(self.max_sequences, max(0, self.n_ctx - n_prompt) // max(1, max_tokens))

    def sample(
        self,
        prompt: list[int],
        *,
        seeds: Sequence[int],
        temperature: float,
        top_p: float,
        max_tokens: int,
        stops: Sequence[str],
        cancel: threading.Event,
        evaluated: Callable[[], None] | None = None,
    ) -> list[Sample]:
        """len(seeds) samples of `prompt`; at most `group_size` of them. `evaluated` is called
        once the prompt is decoded (the tier server's prompt-evaluation span ends there)."""
        n = len(seeds)
        llama_cpp.llama_memory_clear(self._ctx.memory, True)  # drop the previous request
        sequences = [_Sequence(self._sampler(seed, temperature, top_p), stops) for seed in seeds]
        last = self._evaluate_prompt(prompt, n)
        if evaluated is not None:
            evaluated()
        rows = {i: last for i in range(n)}  # sequence -> the batch row holding its next logits
        position = len(prompt)
        while rows and not cancel.is_set():
            for i, row in rows.items():
                seq = sequences[i]
                token = seq.sampler.sample(self._ctx, row)
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    seq.finish = "stop"
                    continue
                seq.push(token, self._llama.detokenize([token]))
                if seq.finish is None and len(seq.tokens) >= max_tokens:
                    seq.finish = "length"
            live = [i for i in rows if sequences[i].finish is None]
            if not live:
                break
            self._fill([(sequences[i].tokens[-1], position, (i,), True) for i in live])
            self._ctx.decode(self._batch)
            rows = {i: row for row, i in enumerate(live)}
            position += 1
        if cancel.is_set():
            for seq in sequences:
                seq.finish = "cancelled"
        return [seq.result() for seq in sequences]

    def _sampler(self, seed: int, temperature: float, top_p: float) -> LlamaSampler:
        # The chain create_completion builds for top_k 0, min_p 0, no penalties.
        sampler = LlamaSampler()  # type: ignore[no-untyped-call]
        sampler.add_top_p(top_p, 1)
        sampler.add_temp(temperature)
        sampler.add_dist(seed)
        return sampler

    def _evaluate_prompt(self, prompt: list[int], n: int) -> int:
        """Decodes the prompt for all n sequences at once; returns the row of its last logits."""
        everyone = tuple(range(n))
        for start in range(0, len(prompt), self._n_batch):
            chunk = prompt[start : start + self._n_batch]
            end = start + len(chunk)
            self._fill(
                [
                    (token, start + j, everyone, start + j == len(prompt) - 1)
                    for j, token in enumerate(chunk)
                ]
            )
            self._ctx.decode(self._batch)
            if end == len(prompt):
                return len(chunk) - 1
        raise ValueError("an empty prompt has nothing to continue")

    def _fill(self, rows: list[tuple[int, int, tuple[int, ...], bool]]) -> None:
        batch = self._batch.batch
        for j, (token, position, seq_ids, logits) in enumerate(rows):
            batch.token[j] = token
            batch.pos[j] = position
            batch.n_seq_id[j] = len(seq_ids)
            for s, seq_id in enumerate(seq_ids):
                batch.seq_id[j][s] = seq_id
            batch.logits[j] = logits
        batch.n_tokens = len(rows)
