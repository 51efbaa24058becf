"""Async wrappers around the `runsc` commands the backend needs, and nothing else.

Every call has a timeout and a clean environment: runsc itself never needs the server's
variables, and passing none keeps secrets out of its process table entries too. `kill` and
`delete` tolerate "not found", because cleanup races with sandboxes that exit on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from codecascade.sandbox.protocol import READER_LIMIT_BYTES

__all__ = ["CLEAN_ENV", "CommandResult", "RunscCli"]

CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True, slots=True)
class RunscCli:
    """One runsc binary with one state root; `platform` is ptrace on this kind of machine."""

    binary: str
    root: Path
    platform: str = "ptrace"

    def global_args(self) -> list[str]:
        return [
            self.binary,
            f"--root={self.root}",
            f"--platform={self.platform}",
            "--network=none",
        ]

    async def spawn_run(self, bundle: Path, sandbox_id: str) -> asyncio.subprocess.Process:
        """Starts `runsc run` with piped stdio; the runner inside then waits for its job."""
        return await asyncio.create_subprocess_exec(
            *self.global_args(),
            "run",
            f"--bundle={bundle}",
            sandbox_id,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=CLEAN_ENV,
            limit=READER_LIMIT_BYTES,
            start_new_session=True,
        )

    async def command(self, *args: str, timeout_s: float = 10.0) -> CommandResult:
        proc = await asyncio.create_subprocess_exec(
            *self.global_args(),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=CLEAN_ENV,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return CommandResult(proc.returncode or 0, out, err)

    async def kill_all(self, sandbox_id: str) -> None:
        """SIGKILLs every process in the sandbox (the deadline path)."""
        with contextlib.suppress(TimeoutError):
            await self.command("kill", "--all", sandbox_id, "KILL")

    async def delete(self, sandbox_id: str) -> bool:
        """`delete --force`: always run, even after a clean exit; True when it is gone."""
        try:
            result = await self.command("delete", "--force", sandbox_id, timeout_s=20.0)
        except TimeoutError:
            return False
        return result.returncode == 0 or b"does not exist" in result.stderr

    async def list_ids(self) -> list[str]:
        """IDs of every container under this root, whatever its state."""
        result = await self.command("list", "--format=json")
        if result.returncode != 0:
            detail = result.stderr[-500:].decode(errors="replace")
            raise RuntimeError(f"runsc list failed: {detail}")
        text = result.stdout.strip()
        if not text or text == b"null":
            return []
        entries = json.loads(text)
        return [str(entry["id"]) for entry in entries if isinstance(entry, dict) and "id" in entry]
