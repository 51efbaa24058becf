"""One progress line per finished item, with the rate so far and an ETA (runs take hours)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts finished items of one phase and prints `[phase] i/n item  s/item  eta`."""

    def __init__(
        self, phase: str, total: int, out: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._phase, self._total, self._out, self._clock = phase, total, out, clock
        self._started = clock()
        self._done = 0

    def eta_s(self) -> float:
        if not self._done:
            return float("nan")
        return (self._clock() - self._started) / self._done * (self._total - self._done)

    def step(self, item: str, note: str = "") -> None:
        self._done += 1
        rate = (self._clock() - self._started) / self._done
        eta = self.eta_s()
        eta_text = f"{eta / 60:.1f} min" if eta >= 60 else f"{eta:.0f} s"
        print(
            f"[{self._phase}] {self._done}/{self._total} {item}  {rate:.1f} s/item  "
            f"eta {eta_text}{'  ' + note if note else ''}",
            file=self._out,
            flush=True,
        )
