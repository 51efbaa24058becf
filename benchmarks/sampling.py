"""n sampled completions of one prompt: decoded in one batch vs one after the other.

What a tier does for every cascade step (k solutions, t test generations of one prompt). Per
model, in the same run and alternating which goes first each round: one `LlamaEngine` with
batched sampling (the default) and one with `parallel_sequences=1` (the sequential path), the
same model file, threads, prompt, seeds and `max_tokens`. Each round's prompt starts with its
index, so both evaluate the prompt in full. Printed: generated tokens/s of each path and their
ratio, and the wall seconds per request.

    python benchmarks/sampling.py --models S M L --n 5 --max-tokens 256 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

from codecascade.core.sampling import SamplingParams
from codecascade.tierserver.assemble import fetch_models
from codecascade.tierserver.engine import EngineConfig, LlamaEngine
from codecascade.tierserver.locate import default_cache_dir

PROMPT = (
    "Write a Python function `running_max(xs: list[int]) -> list[int]` that returns, for each "
    "position, the largest value seen so far. Include a docstring and one example."
)


def _timed(engine: LlamaEngine, prompt: str, params: SamplingParams) -> tuple[float, int]:
    started = time.perf_counter()
    result = engine.generate_blocking(prompt, params, "chat")
    return time.perf_counter() - started, result.total_completion_tokens


def bench_model(name: str, args: argparse.Namespace) -> dict[str, float]:
    path = fetch_models([name], default_cache_dir())[name]
    config = EngineConfig(model_path=path, n_threads=args.threads)
    engines = {
        "batched": LlamaEngine(config),
        "sequential": LlamaEngine(replace(config, parallel_sequences=1)),
    }
    for engine in engines.values():
        engine.load()
    seconds: dict[str, list[float]] = {key: [] for key in engines}
    tokens: dict[str, list[int]] = {key: [] for key in engines}
    for round_ in range(args.repeats):
        params = SamplingParams(
            n=args.n, temperature=0.8, top_p=0.95, max_tokens=args.max_tokens, seed=round_
        )
        order = list(engines) if round_ % 2 == 0 else list(reversed(engines))
        for key in order:
            wall, count = _timed(engines[key], f"{round_}. {PROMPT}", params)
            seconds[key].append(wall)
            tokens[key].append(count)
    for engine in engines.values():
        engine.close()
    rate = {key: sum(tokens[key]) / sum(seconds[key]) for key in engines}
    return {
        "batched_tps": rate["batched"],
        "sequential_tps": rate["sequential"],
        "ratio": rate["batched"] / rate["sequential"],
        "batched_s": statistics.median(seconds["batched"]),
        "sequential_s": statistics.median(seconds["sequential"]),
        "batched_tokens": statistics.mean(tokens["batched"]),
        "sequential_tokens": statistics.mean(tokens["sequential"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["S", "M", "L"])
    parser.add_argument("--n", type=int, default=5, help="samples per request")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"n = {args.n} samples per request, max_tokens {args.max_tokens}, T = 0.8, top_p 0.95")
    print(
        "| model | batched tok/s | sequential tok/s | ratio | batched s/request "
        "| sequential s/request | tokens/request (batched, sequential) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        r = bench_model(name, args)
        print(
            f"| {name} | {r['batched_tps']:.1f} | {r['sequential_tps']:.1f} | {r['ratio']:.2f} "
            f"| {r['batched_s']:.1f} | {r['sequential_s']:.1f} "
            f"| {r['batched_tokens']:.0f}, {r['sequential_tokens']:.0f} |",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
