"""The code in a model's answer: what the router runs as a solution and test synthesis parses.

Models wrap code in Markdown fences, sometimes several, sometimes labelled `py` or unlabelled;
base models often write bare code. Both services must read an answer the same way, or a test
would be judged against a different program than the one that is returned.
"""

from __future__ import annotations

import re

__all__ = ["extract_code"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str) -> str:
    """The code in a model's answer: its fenced Python blocks if any, else the raw text."""
    blocks = [
        body
        for lang, body in _FENCE.findall(text)
        if lang.lower() in ("", "python", "py", "python3")
    ]
    return "\n".join(blocks) if blocks else text
