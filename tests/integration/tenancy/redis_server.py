"""A real redis-server (Debian's, installed by scripts/setup.sh) on a free loopback port.

Started in the foreground and waited for by its own "Ready to accept connections" line (no
polling, no sleeps); stopped by PID with SIGTERM. Data is kept in an append-only file in the
test's directory, so a restart on the same port brings back what was there: an outage, not a
loss.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import uuid
from pathlib import Path

from codecascade.cli.supervisor import free_port


class RedisServer:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run scripts/setup.sh (Debian's redis-server)"
            )
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        assert not self.running
        process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--daemonize", "no",
                "--loglevel", "notice",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "Ready to accept connections" in line:
                break
        else:
            process.wait()
            raise RuntimeError(f"redis-server did not start: {''.join(seen)[-2000:]}")
        self._process = process
        # Keep reading its log so a full pipe can never block it.
        self._drain = threading.Thread(target=process.stdout.read, daemon=True)
        self._drain.start()

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        process.send_signal(signal.SIGTERM)  # by its PID; redis saves and exits
        process.wait(timeout=30)
        self._drain.join(timeout=30)  # the log ends with the process
        if process.stdout is not None:
            process.stdout.close()


def fresh_prefix() -> str:
    """A key prefix no other test uses (one hash tag, as the store's default)."""
    return f"test:{{{uuid.uuid4().hex}}}:"
