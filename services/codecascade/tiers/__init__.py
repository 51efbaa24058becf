"""Model tiers: llama.cpp models served over the Open Inference Protocol v2, and their clients.

Only the light, dependency-free names are exported here. The engine (`llama_cpp`), the KServe
predictor (`kserve`) and the protocol clients (`tritonclient`, `httpx`) are imported from their
modules, so importing the package does not pull in a model runtime.
"""

from __future__ import annotations

from codecascade.tiers.catalog import ModelSpec, WheelPart, embedded_models
from codecascade.tiers.client import TierClient, TierEndpoint, TierResult, completion_cost
from codecascade.tiers.generation import (
    Completion,
    SamplingLimits,
    SamplingParams,
    parse_sampling_parameters,
)

__all__ = [
    "Completion",
    "ModelSpec",
    "SamplingLimits",
    "SamplingParams",
    "TierClient",
    "TierEndpoint",
    "TierResult",
    "WheelPart",
    "completion_cost",
    "embedded_models",
    "parse_sampling_parameters",
]
