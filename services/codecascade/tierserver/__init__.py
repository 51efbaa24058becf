"""The tier image: a llama.cpp model served over the Open Inference Protocol v2 by KServe.

`python -m codecascade.tierserver` (or `cascade serve tier`) runs one tier. Only the light,
dependency-free names are exported here; the engine (`llama_cpp`) and the KServe predictor
(`kserve`) are imported from their modules, so importing the package does not pull in a model
runtime. Nothing here imports the tier clients: the two sides meet on the wire and in
`codecascade.core.sampling`.
"""

from __future__ import annotations

from codecascade.tierserver.catalog import ModelSpec, WheelPart, embedded_models
from codecascade.tierserver.generation import Completion, SamplingLimits, parse_sampling_parameters

__all__ = [
    "Completion",
    "ModelSpec",
    "SamplingLimits",
    "WheelPart",
    "embedded_models",
    "parse_sampling_parameters",
]
