"""`cascade serve tier --model S|M|L|PATH`: one GGUF model behind KServe's v2 REST and gRPC.

KServe's own flags come in through `parents=[model_server.parser]`; ours are only the model and
how llama.cpp runs it. Values not given on the command line come from `TierSettings` (environment
and config file), so a pod and a developer shell start the same server.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from codecascade.core.errors import CascadeError
from codecascade.mesh.logs import configure_logging
from codecascade.mesh.telemetry import setup_telemetry
from codecascade.tierserver.config import TierSettings
from codecascade.tierserver.engine import EngineConfig, LlamaEngine
from codecascade.tierserver.generation import SamplingLimits
from codecascade.tierserver.locate import resolve_model

__all__ = ["build_parser", "main"]

# Flags whose argparse default must not override the settings: left unset, they read as None.
_UNSET_FLAGS = ("grpc_port", "http_port", "model_name", "enable_latency_logging")


class _DropPerCallLogs(logging.Filter):
    """KServe's gRPC LoggingInterceptor logs every call at INFO (the method only); the predictor
    writes the call's line itself, with status, duration, tenant and trace id."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("grpc method:")


def build_parser() -> argparse.ArgumentParser:
    from kserve import model_server  # parses sys.argv on import; keep it out of module import

    parser = argparse.ArgumentParser(
        prog="cascade serve tier",
        parents=[model_server.parser],
        description="Serve a GGUF model over the Open Inference Protocol v2 (KServe).",
    )
    parser.add_argument("--model", default=None, help="S, M, L, or a path to any GGUF file.")
    parser.add_argument("--model-cache-dir", dest="model_cache_dir", default=None)
    parser.add_argument("--n-threads", dest="n_threads", type=int, default=None)
    parser.add_argument("--n-ctx", dest="n_ctx", type=int, default=None)
    parser.add_argument("--prompt-format", dest="prompt_format", choices=["chat", "raw"])
    parser.add_argument("--queue-size", dest="queue_size", type=int, default=None)
    return parser


def _settings(args: argparse.Namespace) -> TierSettings:
    keys = ("model", "model_cache_dir", "n_threads", "n_ctx", "prompt_format", "queue_size")
    overrides: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    for flag in ("grpc_port", "http_port"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.model_name is not None:
        overrides["served_model_name"] = args.model_name
    return TierSettings.load(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Resolves and loads the model, then serves until SIGTERM; 2 when the model is unusable."""
    parser = build_parser()
    args = parser.parse_args(argv, namespace=argparse.Namespace(**dict.fromkeys(_UNSET_FLAGS)))
    if args.workers != 1:
        parser.error("--workers must be 1: each worker process would load its own model copy")
    try:
        settings = _settings(args)
        # Our lines (one per call, codecascade.tierserver.model) as JSON on stdout like every
        # mesh service; KServe and uvicorn keep their own loggers and format.
        configure_logging(settings.log_level)
        telemetry = setup_telemetry(f"tier-{settings.served_model_name or settings.model}")
        resolved = resolve_model(
            settings.model, settings.model_cache_dir, verify_sha256=settings.verify_model_sha256
        )
        engine = LlamaEngine(
            EngineConfig(
                model_path=resolved.path,
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads,
                n_batch=settings.n_batch,
                parallel_sequences=settings.parallel_sequences,
                parallel_ctx=settings.parallel_ctx,
                prompt_format=settings.prompt_format,
                queue_size=settings.queue_size,
                limits=SamplingLimits(
                    max_samples=settings.max_samples,
                    default_max_tokens=settings.default_max_tokens,
                    max_tokens_limit=settings.max_tokens_limit,
                ),
            )
        )
        from codecascade.tierserver.model import TierModel  # imports kserve; after config checks

        model = TierModel(settings.served_model_name or resolved.name, engine)
        model.load()
    except CascadeError as exc:
        print(f"cascade serve tier: {exc}", file=sys.stderr)
        return 2

    from codecascade.tierserver.serving import TierModelServer

    logging.getLogger("kserve").addFilter(_DropPerCallLogs())
    try:
        TierModelServer(
            http_port=settings.http_port,
            grpc_port=settings.grpc_port,
            workers=1,
            enable_latency_logging=bool(args.enable_latency_logging),
            grace_period=int(settings.shutdown_grace_s),
            grpc_options=settings.connection_ageing_options(),
        ).start([model])
    finally:
        telemetry.shutdown()  # flushes the spans still buffered
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
