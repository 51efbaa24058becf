"""The in-sandbox runner, run directly with the system interpreter (no runsc needed).

Only cases that are safe on a bare host live here (the runner's seccomp filter contains forks
and signals, but a unit test should not rely on that to protect the machine running it); the
fully hostile programs run through gVisor in tests/integration/sandbox/test_hostile.py.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from codecascade.sandbox.protocol import RUNNER_PATH
from codecascade.sandbox.runner import seccomp_program

PYTHON = "/usr/bin/python3"
GOOD = "def add(a, b):\n    return a + b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]


def run_runner(
    solutions: list[str], tests: list[str] = TESTS, *, prefork: int = 2, **extra: Any
) -> list[dict[str, Any]]:
    """Runs a job through the runner; `prefork` children are forked before it (the default)."""
    job = {
        "nonce": "n0",
        "solutions": solutions,
        "tests": tests,
        "entry_point": "add",
        "setup_code": "",
        "timeout_s": 1.0,
        "memory_bytes": 256 << 20,
        "output_bytes": 64,
        "parallel": 2,
        **extra,
    }
    done = subprocess.run(
        [PYTHON, "-I", "-S", "-B", str(RUNNER_PATH), str(prefork)],
        input=json.dumps(job) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def row(lines: list[dict[str, Any]], index: int) -> dict[str, Any]:
    return next(d for d in lines if d.get("kind") == "solution" and d["index"] == index)


def outcomes(lines: list[dict[str, Any]], index: int) -> list[str]:
    return [t["outcome"] for t in row(lines, index)["tests"]]


def test_protocol_frames() -> None:
    lines = run_runner([GOOD])
    assert lines[0]["kind"] == "ready" and lines[0]["protocol"] == 1
    assert lines[-1] == {"kind": "end", "nonce": "n0"}
    assert all(d["nonce"] == "n0" for d in lines[1:])
    assert outcomes(lines, 0) == ["PASSED", "PASSED"]


@pytest.mark.parametrize("prefork", [0, 1, 6])
def test_standby_children_any_number(prefork: int) -> None:
    """Fewer, as many or more standby children than solutions: same rows, one fork each."""
    wrong = "def add(a, b):\n    return 0\n"
    lines = run_runner([GOOD, wrong, GOOD], prefork=prefork)
    assert lines[-1] == {"kind": "end", "nonce": "n0"}
    assert [outcomes(lines, i) for i in range(3)] == [
        ["PASSED", "PASSED"],
        ["FAILED", "FAILED"],
        ["PASSED", "PASSED"],
    ]
    assert all(row(lines, i)["forks"] == 1 for i in range(3))


def test_standby_children_exit_without_a_job() -> None:
    for stdin in ("", "not json\n"):
        done = subprocess.run(
            [PYTHON, "-I", "-S", "-B", str(RUNNER_PATH), "3"],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,  # a standby left behind would hold stdout open until this fires
            env={"PATH": "/usr/bin:/bin"},
        )
        assert done.returncode in (0, 2)


@pytest.mark.parametrize(
    ("solution", "expected"),
    [
        ("def add(a, b):\n    return a - b + 1\n", ["FAILED", "FAILED"]),
        ("def add(a, b):\n    return undefined\n", ["ERROR", "ERROR"]),
        ("def add(a, b):\n    return add(a, b)\n", ["ERROR", "ERROR"]),
        ("def add(a, b):\n    x = bytearray(2 << 30)\n", ["MEMORY_EXCEEDED"] * 2),
        ("def add(a, b):\n    while True:\n        pass\n", ["TIMEOUT", "TIMEOUT"]),
        ("import os\ndef add(a, b):\n    os._exit(0)\n", ["CRASHED", "CRASHED"]),
        ("import sys\ndef add(a, b):\n    sys.exit(0)\n", ["ERROR", "ERROR"]),
    ],
)
def test_classification(solution: str, expected: list[str]) -> None:
    assert outcomes(run_runner([solution]), 0) == expected


def test_caught_timeout_is_still_a_timeout() -> None:
    solution = (
        "def add(a, b):\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        return a + b\n"
    )
    assert outcomes(run_runner([solution]), 0) == ["TIMEOUT", "TIMEOUT"]


def test_load_errors() -> None:
    lines = run_runner(["def add(:\n", "def other():\n    pass\n", "import os\nos._exit(0)\n"])
    assert row(lines, 0)["load_error"]["type"] == "SyntaxError"
    assert outcomes(lines, 0) == ["ERROR", "ERROR"]
    assert row(lines, 1)["load_error"]["type"] == "NameError"
    assert outcomes(lines, 2) == ["CRASHED", "CRASHED"]


def test_bad_test_is_an_error_for_everyone() -> None:
    lines = run_runner([GOOD, GOOD], tests=["assert add(", *TESTS])
    for index in (0, 1):
        assert outcomes(lines, index) == ["ERROR", "PASSED", "PASSED"]


def test_a_crashing_test_does_not_poison_the_others() -> None:
    solution = "import os\ndef add(a, b):\n    if a == 1:\n        os._exit(3)\n    return a + b\n"
    lines = run_runner(
        [solution], tests=["assert add(1, 2) == 3", *TESTS[1:], "assert add(0, 5) == 5"]
    )
    assert outcomes(lines, 0) == ["CRASHED", "PASSED", "PASSED"]
    assert row(lines, 0)["forks"] == 2


def test_builtins_and_names_cannot_fake_a_pass() -> None:
    solution = (
        "import builtins, sys\n"
        "class AssertionError(Exception):\n    pass\n"
        "builtins.AssertionError = AssertionError\n"
        "builtins.issubclass = lambda *a: False\n"
        "builtins.dict = lambda ns: {'add': lambda a, b: a + b}\n"
        "builtins.range = lambda *a: iter(())\n"
        "sys.modules['__main__'].__dict__.clear()\n"
        "def add(a, b):\n    return 0\n"
    )
    assert outcomes(run_runner([solution]), 0) == ["FAILED", "FAILED"]


def test_forged_result_lines_are_rejected() -> None:
    solution = (
        "import os\ndef add(a, b):\n"
        "    for fd in range(3, 32):\n"
        "        try:\n            os.write(fd, b'forged\\tT\\t0\\tPASSED\\n')\n"
        "        except OSError:\n            pass\n"
        '    print(\'{"kind": "solution"}\')\n'
        "    return 0\n"
    )
    lines = run_runner([solution])
    assert "PASSED" not in outcomes(lines, 0)
    assert row(lines, 0)["tests"][0]["type"] == "ProtocolViolation"


def test_output_kept_bounded_and_replaced() -> None:
    solution = (
        "import sys\n"
        "def add(a, b):\n"
        "    sys.stdout.buffer.write(b'\\xff' * 500)\n"
        "    return a + b\n"
    )
    cell = row(run_runner([solution]), 0)["tests"][0]
    assert cell["outcome"] == "PASSED" and cell["truncated"] is True
    assert cell["stdout"] == "\ufffd" * 64


def test_output_limit_kills() -> None:
    solution = "import sys\ndef add(a, b):\n    while True:\n        sys.stdout.write('x' * 4096)\n"
    cell = row(run_runner([solution], output_limit_bytes=65536), 0)["tests"][0]
    assert (cell["outcome"], cell["type"]) == ("ERROR", "OutputLimitExceeded")


def test_fork_and_sockets_refused_by_seccomp() -> None:
    solution = (
        "import os, socket\ndef add(a, b):\n"
        "    if a == 1:\n        os.fork()\n    socket.socket()\n"
    )
    lines = run_runner([solution])
    assert [t["type"] for t in row(lines, 0)["tests"]] == ["PermissionError"] * 2


def test_seccomp_program_shape() -> None:
    program = seccomp_program(1234)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
