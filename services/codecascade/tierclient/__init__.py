"""The tier client SDK the mesh image uses: one async interface to a tier, whatever it runs.

OIP v2 over gRPC (`tritonclient`) reaches Triton, KServe or our llama.cpp tier; the OpenAI
protocol (`httpx`) reaches vLLM or a hosted API. Only the light names are exported here; the
protocol clients are imported from their modules (`connect` picks one), so importing the package
pulls in neither library. Nothing here imports the tier server: the two sides meet on the wire and
in `codecascade.core.sampling`.
"""

from __future__ import annotations

from codecascade.tierclient.client import TierClient, TierResult

__all__ = ["TierClient", "TierResult"]
