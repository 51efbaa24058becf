"""`cascade serve sandbox` as a real process: start-up checks, the demo, and SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from codecascade.cli.supervisor import free_port

CASCADE = [sys.executable, "-m", "codecascade.cli"]
needs_runsc = pytest.mark.skipif(
    shutil.which("runsc") is None or os.geteuid() != 0, reason="needs root and runsc"
)


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CASCADE, "serve", "sandbox"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_runsc_stops_the_service_with_a_fix() -> None:
    result = _serve({"RUNSC_PATH": "/nonexistent/runsc", "GRPC_PORT": str(free_port())})
    assert result.returncode == 2
    assert "runsc" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_the_process_backend_refuses_without_the_insecure_flag() -> None:
    result = _serve({"SANDBOX_BACKEND": "process", "GRPC_PORT": str(free_port())})
    assert result.returncode == 2
    assert "SANDBOX_ALLOW_INSECURE" in result.stdout


def test_malformed_configuration_names_the_variable() -> None:
    result = _serve({"POOL_SIZE": "lots"})
    assert result.returncode == 2 and "POOL_SIZE" in result.stdout


@needs_runsc
def test_demo_runs_the_example_in_gvisor() -> None:
    result = subprocess.run(
        [*CASCADE, "sandbox", "demo"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[1:5] for line in result.stdout.splitlines()[2:6]}
    assert rows["correct"] == ["pass"] * 4
    assert "FAIL" in rows["off-by-one"]
    assert "pass" not in rows["exits"]  # os._exit(0) must never read as a pass
    assert rows["spins"][1:] == ["TIME"] * 3 or set(rows["spins"]) == {"TIME"}
    assert "backend=runsc" in result.stdout


@needs_runsc
def test_sigterm_stops_the_service_cleanly() -> None:
    port = free_port()
    process = subprocess.Popen(
        [*CASCADE, "serve", "sandbox"],
        env={**os.environ, "GRPC_PORT": str(port), "POOL_SIZE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            probe = subprocess.run(
                [*CASCADE, "sandbox", "run", "--address", f"127.0.0.1:{port}", "--timeout", "30"],
                capture_output=True,
                text=True,
                check=False,
            )
            ready = probe.returncode == 0
            if not ready:
                time.sleep(0.5)
        assert ready, "service never answered"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert '"message": "shutting down"' in output
    leftovers = subprocess.run(
        ["runsc", "--root", "/run/codecascade/sandbox/runsc", "list", "-quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftovers.stdout.strip() == ""
