"""Progress lines carry the rate so far and the time left."""

from __future__ import annotations

import io

from codecascade.evaluation.progress import Progress


def test_eta_from_the_rate_so_far() -> None:
    now = [100.0]
    out = io.StringIO()
    progress = Progress("S generate", 4, out, clock=lambda: now[0])
    now[0] += 30.0
    progress.step("HumanEval/0", "844 tokens")
    assert progress.eta_s() == 90.0
    assert out.getvalue() == "[S generate] 1/4 HumanEval/0  30.0 s/item  eta 1.5 min  844 tokens\n"
