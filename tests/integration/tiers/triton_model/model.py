"""A Triton Python-backend model serving the tier tensors over the same llama.cpp engine.

It proves the OIP v2 client reaches a real Triton unchanged. Triton's Python-backend stub runs
the *system* Python and ignores PYTHONPATH, so before anything else this module puts the venv's
site-packages (named in `site-packages.txt` beside it; `triton_python_backend_utils` itself needs
numpy) first on sys.path with `site.addsitedir`, which also runs the editable install's `.pth`
hook. That venv must hold numpy<2: the stub misreads BYTES inputs under numpy 2.
"""

from __future__ import annotations

import json
import site
import sys
from pathlib import Path
from typing import Any


def _use_site_packages(directory: str) -> None:
    """Puts `directory` (and what its .pth files add) first, ahead of any other environment's."""
    before = list(sys.path)
    site.addsitedir(directory)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before


_use_site_packages((Path(__file__).parent / "site-packages.txt").read_text().strip())

import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        import numpy as np

        from codecascade.core.errors import InvalidInput
        from codecascade.tierserver.engine import EngineConfig, LlamaEngine
        from codecascade.tierserver.generation import SamplingLimits, parse_sampling_parameters

        self._np = np
        self._invalid = InvalidInput
        self._parse = parse_sampling_parameters
        self._limits = SamplingLimits()
        self._engine = LlamaEngine(
            EngineConfig(model_path=Path(params["model_path"]), n_threads=int(params["n_threads"]))
        )
        self._engine.load()

    def _value(self, request: Any, name: str) -> Any:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy().reshape(-1)[0]

    def _one(self, request: Any) -> Any:
        np = self._np
        prompt = self._value(request, "text_input").decode("utf-8")
        raw = self._value(request, "sampling_parameters")
        params = self._parse(None if raw is None else raw.decode("utf-8"), self._limits)
        exclude = bool(self._value(request, "exclude_input_in_output") or False)
        completion = self._engine.generate_blocking(prompt, params, "chat")
        prefix = "" if exclude else prompt
        texts = [(prefix + t).encode("utf-8") for t in completion.texts]
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("text_output", np.array(texts, dtype=np.object_)),
                pb_utils.Tensor(
                    "finish_reason",
                    np.array([r.encode() for r in completion.finish_reasons], dtype=np.object_),
                ),
                pb_utils.Tensor(
                    "num_input_tokens", np.array([completion.prompt_tokens], dtype=np.uint32)
                ),
                pb_utils.Tensor(
                    "num_output_tokens", np.array(completion.completion_tokens, dtype=np.uint32)
                ),
            ]
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except self._invalid as exc:
                error = pb_utils.TritonError(str(exc), pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses

    def finalize(self) -> None:
        self._engine.close()
