"""A pool of pre-started, single-use resources (sandboxes or runner processes).

Starting a gVisor sandbox and its interpreter costs ~200 ms; a request should not wait for that.
The pool keeps `size` items started and idle, hands each out exactly once, and starts a
replacement in the background as soon as one is taken. Items are never returned: a used sandbox
has run someone's code and is destroyed by its user. With `size == 0` every acquire starts an
item on demand (the cold path, also what the benchmark measures as "cold").

Callers say when they are done with an item they acquired (`retire`), so the pool can count items
in use as well as ready ones, and tell an optional `PoolObserver` (the service's metrics) whenever
either count changes; the pool itself knows nothing of metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from codecascade.sandbox.errors import PoolExhausted

__all__ = ["PoolObserver", "WarmPool"]

_log = logging.getLogger(__name__)
T = TypeVar("T")


class PoolObserver(Protocol):
    """Told the pool's counts each time one changes (called on the event loop, must not block)."""

    def pool_changed(self, *, ready: int, in_use: int) -> None:
        """`ready`: started and idle; `in_use`: acquired and not yet retired."""


class WarmPool(Generic[T]):
    """Keeps `size` items ready; `acquire` waits at most `wait_s` for one."""

    def __init__(
        self,
        *,
        create: Callable[[], Awaitable[T]],
        destroy: Callable[[T], Awaitable[None]],
        size: int,
        wait_s: float,
        max_starting: int = 2,
        name: str = "pool",
        observer: PoolObserver | None = None,
    ) -> None:
        self._create = create
        self._destroy = destroy
        self._size = size
        self._wait_s = wait_s
        self._name = name
        self._observer = observer
        self._ready: asyncio.Queue[T] = asyncio.Queue()
        self._starting = 0
        self._in_use = 0
        self._start_slots = asyncio.Semaphore(max(1, max_starting))
        self._wakeup = asyncio.Event()
        self._filler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.last_error: BaseException | None = None

    @property
    def ready_count(self) -> int:
        return self._ready.qsize()

    @property
    def in_use_count(self) -> int:
        """Items acquired and not yet retired."""
        return self._in_use

    def _changed(self) -> None:
        if self._observer is not None:
            self._observer.pool_changed(ready=self._ready.qsize(), in_use=self._in_use)

    def start(self) -> None:
        """Begins filling in the background."""
        if self._filler is None and self._size > 0:
            self._filler = asyncio.create_task(self._fill(), name=f"{self._name}-filler")

    async def acquire(self) -> T:
        """An item that is exclusively the caller's; the caller must destroy it, then `retire()`."""
        if self._closed:
            raise PoolExhausted(f"{self._name} is closed")
        if self._size == 0:
            item = await self._create()
            self._in_use += 1
            self._changed()
            return item
        self._wakeup.set()
        try:
            item = await asyncio.wait_for(self._ready.get(), self._wait_s)
        except TimeoutError:
            detail = f"; last start failure: {self.last_error}" if self.last_error else ""
            raise PoolExhausted(
                f"no sandbox became free within {self._wait_s:g}s "
                f"({self._size} kept warm, {self._starting} starting){detail}"
            ) from None
        finally:
            self._wakeup.set()
        self._in_use += 1
        self._changed()
        return item

    def retire(self) -> None:
        """Says that an item the caller acquired is no longer in use (items never come back)."""
        self._in_use = max(0, self._in_use - 1)
        self._changed()

    async def _fill(self) -> None:
        backoff = 0.5
        while not self._closed:
            while self._ready.qsize() + self._starting < self._size and not self._closed:
                await self._start_slots.acquire()
                self._starting += 1
                task = asyncio.create_task(self._start_one(), name=f"{self._name}-start")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._wakeup.clear()
            if self.last_error is not None:
                # Starting is failing (runsc broken, host overloaded): do not spin.
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = 0.5
                await self._wakeup.wait()

    async def _start_one(self) -> None:
        try:
            item = await self._create()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.warning("%s: starting an item failed: %s", self._name, exc)
            self.last_error = exc
            return
        finally:
            self._starting -= 1
            self._start_slots.release()
            self._wakeup.set()
        self.last_error = None
        if self._closed:
            await self._destroy(item)
        else:
            self._ready.put_nowait(item)
            self._changed()

    async def close(self) -> None:
        """Stops filling and destroys every idle item and every item still starting."""
        self._closed = True
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
        # Cancel starts in flight; `create` must clean up after itself when cancelled (the
        # runsc and local factories destroy what they started on any exception).
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._ready.empty():
            await self._destroy(self._ready.get_nowait())
        self._changed()
