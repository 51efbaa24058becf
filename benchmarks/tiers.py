"""Tier server overhead: tokens/s and time to first token, server (gRPC) vs llama.cpp direct.

For each model, in the same run and interleaved (direct, server, direct, server, ...) so machine
noise hits both alike: the same prompts and greedy settings go once through `LlamaEngine` in this
process and once through the KServe tier server over OIP v2 gRPC (`OipTierClient`). Each
repetition prefixes the prompt with its index, so the prompt is evaluated in full every time
(llama.cpp's prefix cache would otherwise hide prompt evaluation on the repeats).

TTFT is the latency of a 1-token completion (the server does not stream). tokens/s is completion
tokens / wall time of a `--max-tokens` completion, prompt evaluation included. "call overhead" is
the median latency difference of a cached 1-token request (the prompt stays in llama.cpp's KV
cache), 20 calls interleaved per path: what KServe + gRPC + the client add to each call, nearly
free of model compute and so far less sensitive to a noisy machine than the other columns.

    python benchmarks/tiers.py --models S M L --repeats 3 --max-tokens 128
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.oip_client import OipTierClient
from codecascade.tierserver.assemble import fetch_models
from codecascade.tierserver.engine import EngineConfig, LlamaEngine
from codecascade.tierserver.locate import default_cache_dir

PROMPT = (
    "Write a Python function `running_max(xs: list[int]) -> list[int]` that returns, for each "
    "position, the largest value seen so far. Include a docstring and one example."
)


@dataclass
class Sample:
    ttft_s: float
    total_s: float
    tokens: int


async def _direct(engine: LlamaEngine, prompt: str, max_tokens: int) -> Sample:
    started = time.perf_counter()
    await engine.generate(prompt, SamplingParams(max_tokens=1))
    ttft = time.perf_counter() - started
    started = time.perf_counter()
    result = await engine.generate("Again: " + prompt, SamplingParams(max_tokens=max_tokens))
    return Sample(ttft, time.perf_counter() - started, result.total_completion_tokens)


async def _server(client: OipTierClient, prompt: str, max_tokens: int) -> Sample:
    started = time.perf_counter()
    await client.generate(prompt, SamplingParams(max_tokens=1))
    ttft = time.perf_counter() - started
    started = time.perf_counter()
    result = await client.generate("Again: " + prompt, SamplingParams(max_tokens=max_tokens))
    return Sample(ttft, time.perf_counter() - started, result.completion_tokens)


async def _start_server(name: str, port: int, threads: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        "python", "-m", "codecascade.tierserver", "--model", name, "--grpc_port", str(port),
        "--http_port", str(port + 1), "--n-threads", str(threads),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return process


async def bench_model(name: str, path: Path, args: argparse.Namespace) -> dict[str, float]:
    engine = LlamaEngine(EngineConfig(model_path=path, n_threads=args.threads))
    engine.load()
    process = await _start_server(name, args.port, args.threads)
    client = OipTierClient(
        TierSpec(
            name=name,
            address=f"127.0.0.1:{args.port}",
            model=name,
            price_per_1k_tokens=0.0,
            timeout_s=600,
        )
    )
    try:
        for _ in range(300):
            if await client.ready(timeout_s=1.0):
                break
            await asyncio.sleep(0.2)
        await _direct(engine, "warm up", 4)
        await _server(client, "warm up", 4)
        overhead_direct: list[float] = []
        overhead_server: list[float] = []
        tiny = SamplingParams(max_tokens=1)
        for _ in range(20):
            started = time.perf_counter()
            await engine.generate("ping", tiny)
            overhead_direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            await client.generate("ping", tiny)
            overhead_server.append(time.perf_counter() - started)
        direct: list[Sample] = []
        server: list[Sample] = []
        for i in range(args.repeats):
            prompt = f"[{name} run {i}] {PROMPT}"
            # Alternate who goes first, so neither side always runs on a warmer machine.
            if i % 2:
                server.append(await _server(client, prompt, args.max_tokens))
                direct.append(await _direct(engine, prompt, args.max_tokens))
            else:
                direct.append(await _direct(engine, prompt, args.max_tokens))
                server.append(await _server(client, prompt, args.max_tokens))
    finally:
        await client.close()
        process.terminate()
        await process.wait()
        engine.close()

    def rate(samples: list[Sample]) -> float:
        return statistics.median(s.tokens / s.total_s for s in samples)

    def ttft(samples: list[Sample]) -> float:
        return statistics.median(s.ttft_s for s in samples)

    return {
        "direct_tok_s": rate(direct),
        "server_tok_s": rate(server),
        "ratio": rate(server) / rate(direct),
        "direct_ttft_ms": ttft(direct) * 1000,
        "server_ttft_ms": ttft(server) * 1000,
        "added_ms": (ttft(server) - ttft(direct)) * 1000,
        "tokens": statistics.median(s.tokens for s in server),
        "call_overhead_ms": (
            statistics.median(overhead_server) - statistics.median(overhead_direct)
        )
        * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["S"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18531)
    args = parser.parse_args()
    paths = fetch_models(args.models, default_cache_dir())
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print("| model | direct tok/s | server tok/s | ratio | direct TTFT ms | server TTFT ms "
          "| added ms | tokens | call overhead ms |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        r = await bench_model(name, paths[name], args)
        print(
            f"| {name} | {r['direct_tok_s']:.1f} | {r['server_tok_s']:.1f} | {r['ratio']:.3f} "
            f"| {r['direct_ttft_ms']:.0f} | {r['server_ttft_ms']:.0f} | {r['added_ms']:+.1f} "
            f"| {r['tokens']:.0f} | {r['call_overhead_ms']:+.1f} |",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
