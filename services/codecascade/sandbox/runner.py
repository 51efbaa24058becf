"""The program that runs INSIDE the sandbox: stdlib only, started as `python3 -I -S runner.py`.

Protocol (one process per request, never reused):

1. On start it imports what solutions commonly need, forks `argv[1]` standby children (default 0;
   see `_Standby`) and writes one line `{"kind": "ready", ...}` to stdout, then blocks on stdin.
   A pool of pre-started sandboxes waits at exactly this point, so interpreter start-up, imports
   and the first forks are paid before the request arrives.
2. It reads one JSON job line from stdin (see `Job`), forks one child per solution (at most
   `parallel` at once) and writes one JSON line per finished solution to stdout, in completion
   order, then `{"kind": "end"}`. Every line echoes the job's nonce. Results are streamed so that
   when a hostile solution brings the whole sandbox down, the host keeps the rows already done and
   reruns only the others, each in a sandbox of its own.

Why a child per solution, and its tests in that child: a sandbox per test costs ~220 ms each; one
process per solution pays the load once and keeps solutions from seeing each other's state.

Trust inside the sandbox. The parent never runs user code. A child runs user code *after* it has
set rlimits, redirected stdout/stderr to a private memfd, compiled every test, and installed a
seccomp filter (no fork/vfork/exec, no non-thread clone, no sockets, no ptrace or cross-process
memory access, no signals to other processes). It reports to the parent only through its own
pipe, as tab-separated lines carrying a per-child nonce, in strict test order; anything else
(wrong nonce, duplicate or out-of-order index, garbage) is a protocol violation that forfeits the
row. A test passes only on such an explicit message: exit codes, stdout and `os._exit(0)` count
for nothing. Classification uses references captured when this module was imported (the real
`AssertionError`, `type`, `issubclass`, `os.write`, `bytes.hex`...), so rebinding names,
builtins, `print`, `json` or exception classes cannot turn a failure into a pass.

Known limit, by construction: code running in the child's own address space can, with ctypes or
frame introspection, rewrite the runner's memory and forge the messages of *its own* row. That is
the same trust a CodeT-style scorer puts in its test harness; it cannot reach other rows (separate
processes, seccomp, non-dumpable, `/proc` masked by the bundle) nor leave the sandbox.

Timeouts are enforced twice: an in-child interval timer raises at the test's deadline (so the next
test can still run in the same process), and the parent SIGKILLs a child that has sent nothing for
`timeout + grace` (a C call like `10**10**7` or a swallowed signal cannot outlast it). A child that
dies mid-row loses only its current test (TIMEOUT/CRASHED/...); the remaining tests of that
solution run in a fresh fork, so one crashing test does not poison the others.
"""

from __future__ import annotations

import builtins
import ctypes
import gc
import json
import os
import resource
import select
import signal
import struct
import sys
import time
import types
from typing import Any

PROTOCOL_VERSION = 1
OUTCOMES = ("PASSED", "FAILED", "ERROR", "TIMEOUT", "MEMORY_EXCEEDED", "CRASHED")
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "string")
MESSAGE_CHARS = 1000  # exception messages kept per test
MAX_JOB_BYTES = 64 * 1024 * 1024

# References captured at import time, before any user code exists in this process tree.
_exec = builtins.exec
_compile = builtins.compile
_type = builtins.type
_issubclass = builtins.issubclass
_isinstance = builtins.isinstance
_str = builtins.str
_len = builtins.len
_BaseException = builtins.BaseException
_AssertionError = builtins.AssertionError
_MemoryError = builtins.MemoryError
_RecursionError = builtins.RecursionError
_hex = bytes.hex
_encode = str.encode
_write = os.write
_pread = os.pread
_fstat = os.fstat
_ftruncate = os.ftruncate
_lseek = os.lseek
_exit = os._exit
_monotonic = time.monotonic
_setitimer = signal.setitimer
_settrace = sys.settrace
_setprofile = sys.setprofile
_type_name = type.__dict__["__name__"].__get__
_BUILTINS = dict(vars(builtins))
_MACHINE = os.uname().machine
_PYTHON_VERSION = ".".join(str(part) for part in sys.version_info[:3])


def _sealed(fn: Any) -> Any:
    """A copy of `fn` whose globals and builtins are private snapshots.

    User code can reach this module (it is `__main__`) and the builtins module, and rebind or
    clear names there. The child's code, and every closure it defines, resolves names in these
    copies instead, so `builtins.dict = ...` or `sys.modules["__main__"].__dict__.clear()` cannot
    change what the runner calls.
    """
    scope = dict(fn.__globals__)
    scope["__builtins__"] = dict(_BUILTINS)
    return types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)


class _Timeout(BaseException):
    """Raised by the SIGALRM handler; BaseException so `except Exception` in tests keeps it."""


# --------------------------------------------------------------------------------------------
# seccomp (x86_64 only; elsewhere the sandbox's pids cgroup and rlimits are the backstop)

_AUDIT_ARCH_X86_64 = 0xC000003E
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_THREAD = 0x00010000
# x86_64 syscall numbers refused outright.
_DENY = {
    57: _EPERM,  # fork
    58: _EPERM,  # vfork
    59: _EPERM,  # execve
    322: _EPERM,  # execveat
    41: _EPERM,  # socket
    53: _EPERM,  # socketpair
    101: _EPERM,  # ptrace
    310: _EPERM,  # process_vm_readv
    311: _EPERM,  # process_vm_writev
    200: _EPERM,  # tkill
    129: _EPERM,  # rt_sigqueueinfo
    297: _EPERM,  # rt_tgsigqueueinfo
    424: _EPERM,  # pidfd_send_signal
    434: _EPERM,  # pidfd_open
    438: _EPERM,  # pidfd_getfd
    425: _EPERM,  # io_uring_setup
    272: _EPERM,  # unshare
    308: _EPERM,  # setns
    109: _EPERM,  # setpgid: stay in the runner's process group, so killpg reaches every child
    112: _EPERM,  # setsid
    435: _ENOSYS,  # clone3: flags live in memory BPF cannot read; glibc falls back to clone
}
_NR_CLONE, _NR_KILL, _NR_TGKILL = 56, 62, 234


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(own_pid: int) -> bytes:
    """The BPF filter a child installs: threads yes, processes/sockets/foreign signals no."""
    ld_arch, ld_nr, ld_arg0 = 0x20, 0x20, 0x20  # BPF_LD|BPF_W|BPF_ABS
    jeq, jset, ret = 0x15, 0x45, 0x06
    prog = [
        _insn(ld_arch, 0, 0, 4),
        _insn(jeq, 1, 0, _AUDIT_ARCH_X86_64),
        _insn(ret, 0, 0, _RET_KILL_PROCESS),
        _insn(ld_nr, 0, 0, 0),
        _insn(0x35, 0, 1, 0x40000000),  # JGE: the x32 ABI would bypass every number below
        _insn(ret, 0, 0, _RET_KILL_PROCESS),
    ]
    for nr, errno in sorted(_DENY.items()):
        prog += [_insn(jeq, 0, 1, nr), _insn(ret, 0, 0, _RET_ERRNO | errno)]
    # clone: only with CLONE_THREAD (threads), never a new process.
    prog += [
        _insn(jeq, 0, 4, _NR_CLONE),
        _insn(ld_arg0, 0, 0, 16),
        _insn(jset, 0, 1, _CLONE_THREAD),
        _insn(ret, 0, 0, _RET_ALLOW),
        _insn(ret, 0, 0, _RET_ERRNO | _EPERM),
    ]
    # kill / tgkill: only to this very process (raise(), abort()).
    for nr in (_NR_KILL, _NR_TGKILL):
        prog += [
            _insn(jeq, 0, 4, nr),
            _insn(ld_arg0, 0, 0, 16),
            _insn(jeq, 0, 1, own_pid),
            _insn(ret, 0, 0, _RET_ALLOW),
            _insn(ret, 0, 0, _RET_ERRNO | _EPERM),
        ]
    prog.append(_insn(ret, 0, 0, _RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def set_non_dumpable(libc: ctypes.CDLL | None) -> None:
    """PR_SET_DUMPABLE 0: siblings with the same uid cannot ptrace or read our memory."""
    if libc is not None:
        libc.prctl(4, 0, 0, 0, 0)


def install_seccomp(libc: ctypes.CDLL | None) -> bool:
    """Installs the filter in this process; False when not possible (then say so in notes)."""
    if libc is None or _MACHINE != "x86_64":
        return False
    program = seccomp_program(os.getpid())
    buf = ctypes.create_string_buffer(program, _len(program))
    fprog = _SockFprog(_len(program) // 8, ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return bool(libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0)  # PR_SET_SECCOMP, FILTER


# --------------------------------------------------------------------------------------------
# the job


class Job:
    """What the host sends; validated here because the runner trusts nothing it reads.

    Plain classes, not dataclasses, here and below: `dataclasses` pulls in `inspect`, `ast`
    and `dis`, and under gVisor's ptrace platform every module imported before `ready` costs
    syscalls and page faults (CPU per sandbox, so throughput), and memory every fork copies.
    """

    __slots__ = (
        "entry_point",
        "memory_bytes",
        "nofile",
        "nonce",
        "output_bytes",
        "output_limit_bytes",
        "parallel",
        "setup_code",
        "solutions",
        "tests",
        "timeout_s",
    )

    def __init__(
        self,
        *,
        nonce: str,
        solutions: list[str],
        tests: list[str],
        entry_point: str,
        setup_code: str,
        timeout_s: float,
        memory_bytes: int,
        output_bytes: int,
        output_limit_bytes: int,
        parallel: int,
        nofile: int,
    ) -> None:
        self.nonce = nonce
        self.solutions = solutions
        self.tests = tests
        self.entry_point = entry_point
        self.setup_code = setup_code
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.output_bytes = output_bytes
        self.output_limit_bytes = output_limit_bytes
        self.parallel = parallel
        self.nofile = nofile

    @classmethod
    def parse(cls, raw: bytes) -> Job:
        doc = json.loads(raw)
        if not _isinstance(doc, dict):
            raise ValueError("job is not an object")

        def strings(key: str) -> list[str]:
            value = doc.get(key)
            if not _isinstance(value, list) or not all(_isinstance(s, str) for s in value):
                raise ValueError(f"{key} must be a list of strings")
            return [str(s) for s in value]

        return cls(
            nonce=_str(doc["nonce"]),
            solutions=strings("solutions"),
            tests=strings("tests"),
            entry_point=_str(doc.get("entry_point", "")),
            setup_code=_str(doc.get("setup_code", "")),
            timeout_s=max(0.01, float(doc["timeout_s"])),
            memory_bytes=max(16 * 1024 * 1024, int(doc["memory_bytes"])),
            output_bytes=max(0, int(doc["output_bytes"])),
            output_limit_bytes=max(4096, int(doc.get("output_limit_bytes", 1 << 20))),
            parallel=max(1, int(doc.get("parallel", 1))),
            nofile=max(16, int(doc.get("nofile", 64))),
        )

    @property
    def grace_s(self) -> float:
        """Slack the parent allows past a test's timeout before it kills the child."""
        return max(0.5, 0.25 * self.timeout_s)


# --------------------------------------------------------------------------------------------
# the child: runs one solution's tests from `start` on


def _child(job: Job, solution: str, start: int, result_fd: int, nonce: str, libc: Any) -> None:
    """Never returns. Every message is `nonce\\tKIND\\t...` built from captured C-level methods."""
    # Plain locals: user code can reach the Job class and rebind its properties.
    timeout_s, grace_s, output_bytes = job.timeout_s, job.grace_s, job.output_bytes
    tests, entry_point, setup_code = list(job.tests), job.entry_point, job.setup_code

    def send(*fields: object) -> None:
        line = "\t".join([nonce, *(_str(f) for f in fields)]) + "\n"
        data = _encode(line, "utf-8")
        while data:
            data = data[_write(result_fd, data) :]

    def hexs(text: str, limit: int) -> str:
        return _hex(_encode(text[:limit], "utf-8", "replace"))

    # Output goes to an anonymous memfd (not on the shared /tmp, invisible to siblings).
    out_fd = os.memfd_create("out", 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        os.close(0)
    # Keep only 0, 1, 2, the result pipe and the memfd; nothing of the parent's or siblings'.
    keep = sorted({0, 1, 2, result_fd, out_fd})
    low = 3
    for fd in keep:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 16)

    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # CPython ignores it; we want the kill
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    cpu_budget = int(timeout_s * (_len(tests) - start + 1)) + 2
    for limit, value in (
        (resource.RLIMIT_AS, job.memory_bytes),
        (resource.RLIMIT_CPU, cpu_budget),  # soft: SIGXCPU (-> TIMEOUT); hard is soft + 1
        (resource.RLIMIT_FSIZE, job.output_limit_bytes),
        (resource.RLIMIT_NOFILE, job.nofile),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            hard = value + 1 if limit == resource.RLIMIT_CPU else value
            resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):
            pass

    # Tests are compiled before any user code runs, so a solution cannot alter them.
    codes: list[Any] = []
    for i, test in enumerate(tests):
        try:
            codes.append(_compile(test, f"<test {i}>", "exec", dont_inherit=True))
        except BaseException as exc:  # SyntaxError, MemoryError, RecursionError...
            codes.append(exc)

    armed = [False]
    fired = [False]

    def on_alarm(signum: int, frame: object) -> None:
        if armed[0]:
            fired[0] = True
            raise _Timeout

    signal.signal(signal.SIGALRM, on_alarm)
    real_stdout, real_stderr = sys.stdout, sys.stderr
    gc_callbacks = __import__("gc").callbacks

    install_seccomp(libc)

    def arm(seconds: float) -> None:
        fired[0] = False
        armed[0] = True
        _setitimer(signal.ITIMER_REAL, seconds)

    def disarm() -> None:
        armed[0] = False
        _setitimer(signal.ITIMER_REAL, 0)

    def describe(exc: BaseException) -> tuple[str, str]:
        """Type name and message; the message itself may be hostile (huge, slow, raising)."""
        try:
            name = _type_name(_type(exc))
        except BaseException:
            name = "BaseException"
        message = ""
        try:
            arm(min(1.0, timeout_s))
            try:
                message = _str(exc)[:MESSAGE_CHARS]
            finally:
                disarm()
        except BaseException:
            message = "<unprintable exception>"
        return (name if _isinstance(name, str) else "BaseException"), message

    def classify(exc: BaseException | None) -> str:
        if fired[0] or (exc is not None and _issubclass(_type(exc), _Timeout)):
            return "TIMEOUT"
        if exc is None:
            return "PASSED"
        cls = _type(exc)
        if _issubclass(cls, _MemoryError):
            return "MEMORY_EXCEEDED"
        if _issubclass(cls, _AssertionError):
            return "FAILED"
        return "ERROR"  # RecursionError, SystemExit, NameError, ...

    def hygiene() -> None:
        """Undo process-wide hooks a solution may have installed between tests."""
        _settrace(None)
        _setprofile(None)
        del gc_callbacks[:]
        sys.stdout, sys.stderr = real_stdout, real_stderr

    # Load: setup code, then the solution, in one module namespace.
    namespace: dict[str, Any] = {"__name__": "solution", "__builtins__": builtins}
    load_exc: BaseException | None = None
    try:
        arm(timeout_s)
        try:
            if setup_code:
                _exec(_compile(setup_code, "<setup>", "exec", dont_inherit=True), namespace)
            _exec(_compile(solution, "<solution>", "exec", dont_inherit=True), namespace)
            if entry_point and entry_point not in namespace:
                raise NameError(f"entry point {entry_point!r} is not defined")
        finally:
            disarm()
    except BaseException as exc:
        load_exc = exc
    hygiene()
    if load_exc is not None or fired[0]:
        failure: BaseException = load_exc if load_exc is not None else _Timeout()
        outcome = classify(failure)
        if outcome == "TIMEOUT":
            name, message = "Timeout", f"loading exceeded {timeout_s:g}s"
        else:
            name, message = describe(failure)
        send("E", outcome, hexs(name, 200), hexs(message, MESSAGE_CHARS))
        _exit(0)
    send("L")

    for i in range(start, _len(tests)):
        code = codes[i]
        if _isinstance(code, _BaseException):
            name, message = describe(code)
            send("T", i, "ERROR", hexs(name, 200), hexs(message, MESSAGE_CHARS), 0, "", 0)
            continue
        scope = dict(namespace)
        if entry_point and "candidate" not in scope:
            scope["candidate"] = namespace[entry_point]
        try:
            _ftruncate(out_fd, 0)
            _lseek(out_fd, 0, os.SEEK_SET)
        except OSError:
            pass
        hygiene()
        error: BaseException | None = None
        began = _monotonic()
        try:
            arm(timeout_s)
            try:
                _exec(code, scope)
            except BaseException as raised:
                error = raised
            finally:
                disarm()
        except BaseException as late:  # the alarm landed between the test and disarm()
            error = late if error is None else error
        duration = _monotonic() - began
        hygiene()
        if duration > timeout_s + grace_s:
            fired[0] = True  # the solution swallowed the alarm
        outcome = classify(error)
        if outcome == "TIMEOUT":
            name, message = "Timeout", f"test exceeded {timeout_s:g}s"
        else:
            name, message = ("", "") if error is None else describe(error)
        captured, truncated = b"", False
        try:
            real_stdout.flush()
            real_stderr.flush()
        except BaseException:
            pass
        try:
            size = _fstat(out_fd).st_size
            captured = _pread(out_fd, min(size, output_bytes), 0) if output_bytes else b""
            truncated = size > output_bytes
        except OSError:
            pass
        send(
            "T",
            i,
            outcome,
            hexs(name, 200),
            hexs(message, MESSAGE_CHARS),
            int(duration * 1e6),
            _hex(captured),
            int(truncated),
        )
    send("D")
    _exit(0)


# --------------------------------------------------------------------------------------------
# the parent: forks, watches, classifies deaths, streams rows


class _Row:
    __slots__ = (
        "cpu_time_s",
        "forks",
        "index",
        "load_error",
        "next_test",
        "peak_memory_bytes",
        "tests",
    )

    def __init__(self, index: int, tests: list[dict[str, Any] | None]) -> None:
        self.index = index
        self.tests = tests
        self.load_error: dict[str, str] | None = None
        self.peak_memory_bytes = 0
        self.cpu_time_s = 0.0
        self.forks = 0
        self.next_test = 0


class _Child:
    __slots__ = (
        "buffer",
        "deadline",
        "done",
        "fd",
        "killed_for_time",
        "loaded",
        "nonce",
        "pid",
        "row",
        "violation",
    )

    def __init__(self, row: _Row, pid: int, fd: int, nonce: str, deadline: float) -> None:
        self.row = row
        self.pid = pid
        self.fd = fd
        self.nonce = nonce
        self.deadline = deadline
        self.loaded = False
        self.done = False
        self.killed_for_time = False
        self.violation = ""
        self.buffer = bytearray()


_ACTIVATION = struct.Struct("<QII")  # job length, solution index, first test


class _Standby:
    """A child forked before the job arrived, blocked until the parent hands it a solution.

    Forking costs ~10-20 ms of CPU under gVisor's ptrace platform (a new host stub process per
    address space), so a pool sandbox forks its first children while it idles, off the request's
    path. Until activated a standby runs only runner code: it reads an activation (the raw job
    line, the solution index and the first test) from its own control pipe, parses the job, and
    becomes exactly the child `Parent.spawn` would have forked, nonce and result pipe included.
    """

    __slots__ = ("control", "fd", "nonce", "pid")

    def __init__(self, pid: int, control: int, fd: int, nonce: str) -> None:
        self.pid = pid
        self.control = control
        self.fd = fd
        self.nonce = nonce

    @classmethod
    def fork(cls, libc: Any) -> _Standby:
        nonce = os.urandom(16).hex()
        read_fd, write_fd = os.pipe()
        control_read, control_write = os.pipe()
        sealed, exit_now, parse, unpack = _sealed(_child), _exit, Job.parse, _ACTIVATION.unpack
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                os.close(control_write)
                header = _read_exact(control_read, _ACTIVATION.size)
                if _len(header) == _ACTIVATION.size:
                    size, index, start = unpack(header)
                    raw = _read_exact(control_read, size)
                    os.close(control_read)
                    if _len(raw) == size:
                        job = parse(raw)
                        sealed(job, job.solutions[index], start, write_fd, nonce, libc)
                exit_now(0)  # no (complete) activation: the job ended without needing us
            finally:
                exit_now(70)
        os.close(write_fd)
        os.close(control_read)
        os.set_blocking(read_fd, False)
        return cls(pid, control_write, read_fd, nonce)

    def activate(self, raw: bytes, index: int, start: int) -> bool:
        """Hands over a solution; False if the standby is gone (the caller forks instead)."""
        data = _ACTIVATION.pack(_len(raw), index, start) + raw
        try:
            while data:
                data = data[os.write(self.control, data) :]
        except OSError:
            self.discard()
            return False
        os.close(self.control)
        return True

    def discard(self) -> None:
        for fd in (self.control, self.fd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= _len(chunk)
    return b"".join(chunks)


def _unhex(text: str) -> str:
    return bytes.fromhex(text).decode("utf-8", "replace")


class Parent:
    """Schedules children and turns their messages and deaths into rows."""

    def __init__(
        self,
        job: Job,
        libc: Any,
        out: Any,
        *,
        raw: bytes = b"",
        standby: list[_Standby] | None = None,
    ) -> None:
        self.job = job
        self.libc = libc
        self.out = out
        self.raw = raw  # the job line, for standby children (none without it)
        # Not replenished during the job: forking while children run slowed requests down.
        self.standby = standby if raw and standby else []
        self.pending: list[tuple[_Row, int]] = [
            (_Row(i, [None] * _len(job.tests)), 0) for i in range(_len(job.solutions))
        ]
        self.children: dict[int, _Child] = {}
        # A message line can carry a test's output, hex-encoded, plus its exception text.
        self.max_line = 2 * job.output_bytes + 4 * MESSAGE_CHARS + 4096

    def emit(self, doc: dict[str, Any]) -> None:
        doc["nonce"] = self.job.nonce
        self.out.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self.out.flush()

    def spawn(self, row: _Row, start: int) -> None:
        while self.standby:
            ready = self.standby.pop(0)
            if ready.activate(self.raw, row.index, start):
                self.track(row, start, ready.pid, ready.fd, ready.nonce)
                return
        nonce = os.urandom(16).hex()
        read_fd, write_fd = os.pipe()
        # Locals, resolved before the fork: user code may clear this module's globals.
        sealed, exit_now = _sealed(_child), _exit
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                sealed(self.job, self.job.solutions[row.index], start, write_fd, nonce, self.libc)
            finally:
                exit_now(70)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.track(row, start, pid, read_fd, nonce)

    def track(self, row: _Row, start: int, pid: int, fd: int, nonce: str) -> None:
        row.forks += 1
        row.next_test = start
        deadline = _monotonic() + self.job.timeout_s + self.job.grace_s
        self.children[fd] = _Child(row, pid, fd, nonce, deadline)

    def run(self) -> None:
        while self.pending or self.children:
            while self.pending and _len(self.children) < self.job.parallel:
                row, start = self.pending.pop(0)
                self.spawn(row, start)
            now = _monotonic()
            wait = max(0.0, min(c.deadline for c in self.children.values()) - now)
            ready, _, _ = select.select(list(self.children), [], [], wait)
            for fd in ready:
                self.drain(self.children[fd])
            now = _monotonic()
            for child in list(self.children.values()):
                if child.deadline <= now and not child.done:
                    child.killed_for_time = True
                    self.reap(child)
        while self.standby:  # fewer solutions than standby children
            self.standby.pop().discard()

    def drain(self, child: _Child) -> None:
        try:
            data = os.read(child.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.reap(child)
            return
        child.buffer += data
        while True:
            cut = child.buffer.find(b"\n")
            if cut < 0:
                break
            line = bytes(child.buffer[:cut])
            del child.buffer[: cut + 1]
            if not self.handle(child, line):
                self.reap(child)
                return
        if _len(child.buffer) > self.max_line:
            child.violation = "oversized message on the result channel"
            self.reap(child)

    def handle(self, child: _Child, line: bytes) -> bool:
        """Applies one message; False on a protocol violation (the child is then killed)."""
        row, job = child.row, self.job
        try:
            parts = line.decode("ascii").split("\t")
            if parts[0] != child.nonce or child.done:
                raise ValueError("bad nonce or message after done")
            kind = parts[1]
            if kind == "L" and not child.loaded and _len(parts) == 2:
                child.loaded = True
            elif kind == "E" and not child.loaded and _len(parts) == 5:
                outcome, name, message = parts[2], _unhex(parts[3]), _unhex(parts[4])
                if outcome not in OUTCOMES or outcome == "PASSED":
                    raise ValueError("bad load outcome")
                if row.load_error is None and row.next_test == 0:
                    row.load_error = {"type": name, "message": message}
                self.fill(row, row.next_test, outcome, name, message)
                child.done = True
            elif kind == "T" and child.loaded and _len(parts) == 9:
                index = int(parts[2])
                if index != row.next_test or parts[3] not in OUTCOMES:
                    raise ValueError("out-of-order or unknown result")
                row.tests[index] = {
                    "index": index,
                    "outcome": parts[3],
                    "type": _unhex(parts[4]),
                    "message": _unhex(parts[5]),
                    "duration_s": int(parts[6]) / 1e6,
                    "stdout": _unhex(parts[7]),
                    "truncated": parts[8] == "1",
                }
                row.next_test += 1
            elif kind == "D" and child.loaded and row.next_test == _len(job.tests):
                child.done = True
            else:
                raise ValueError(f"unexpected message {kind!r}")
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            child.violation = f"result channel tampered: {exc}"
            return False
        child.deadline = _monotonic() + job.timeout_s + job.grace_s
        return True

    def fill(
        self, row: _Row, start: int, outcome: str, name: str, message: str, end: int = -1
    ) -> None:
        for i in range(start, _len(row.tests) if end < 0 else end):
            if row.tests[i] is None:
                row.tests[i] = {"index": i, "outcome": outcome, "type": name, "message": message}

    def reap(self, child: _Child) -> None:
        """Kills and waits the child, then decides what its death means for the row."""
        del self.children[child.fd]
        os.close(child.fd)
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status, usage = os.wait4(child.pid, 0)
        row = child.row
        row.peak_memory_bytes = max(row.peak_memory_bytes, usage.ru_maxrss * 1024)
        row.cpu_time_s += usage.ru_utime + usage.ru_stime
        if child.violation:
            self.fill(row, row.next_test, "CRASHED", "ProtocolViolation", child.violation)
        elif not child.done:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            if child.killed_for_time or sig == signal.SIGXCPU:
                outcome, name, message = "TIMEOUT", "Timeout", "test exceeded its time limit"
            elif sig == signal.SIGXFSZ:
                outcome, name = "ERROR", "OutputLimitExceeded"
                message = f"output exceeded {self.job.output_limit_bytes} bytes"
            elif sig:
                outcome, name = "CRASHED", "Crashed"
                message = f"killed by signal {signal.Signals(sig).name}"
            else:
                outcome, name = "CRASHED", "Crashed"
                message = f"exited with status {os.WEXITSTATUS(status)} without a result"
            if not child.loaded:
                if row.load_error is None and row.next_test == 0:
                    row.load_error = {"type": name, "message": message}
                self.fill(row, row.next_test, outcome, name, message)
            elif row.next_test < _len(row.tests):
                self.fill(row, row.next_test, outcome, name, message, end=row.next_test + 1)
                if row.next_test + 1 < _len(row.tests):
                    self.pending.insert(0, (row, row.next_test + 1))
                    return
        if any(t is None for t in row.tests):  # a "done" child that skipped tests
            self.fill(row, 0, "CRASHED", "ProtocolViolation", "missing results")
        self.emit(
            {
                "kind": "solution",
                "index": row.index,
                "tests": row.tests,
                "load_error": row.load_error,
                "peak_memory_bytes": row.peak_memory_bytes,
                "cpu_time_s": round(row.cpu_time_s, 6),
                "forks": row.forks,
            }
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point inside the sandbox; returns the process exit status.

    The one optional argument is how many children to fork before `ready` (see `_Standby`).
    """
    args = sys.argv[1:] if argv is None else argv
    prefork = max(0, min(16, int(args[0]))) if args else 0
    libc = _libc()
    set_non_dumpable(libc)
    for name in PRELOAD:
        __import__(name)
    # Every object so far lives for the whole process: move it out of the collector's reach, so
    # a collection in a child does not write to (and so copy) the pages the fork shares. Under
    # gVisor's ptrace platform each such copy-on-write fault is a round trip through the sentry.
    gc.freeze()
    standby = [_Standby.fork(libc) for _ in range(prefork)]
    out = sys.stdout
    ready = {
        "kind": "ready",
        "protocol": PROTOCOL_VERSION,
        "python": _PYTHON_VERSION,
        "seccomp": _MACHINE == "x86_64" and libc is not None,
    }
    out.write(json.dumps(ready) + "\n")
    out.flush()
    try:
        return _serve(libc, out, standby)
    finally:
        while standby:  # not all used (small job, bad job, no job)
            standby.pop().discard()


def _serve(libc: Any, out: Any, standby: list[_Standby]) -> int:
    raw = sys.stdin.buffer.readline(MAX_JOB_BYTES)
    if not raw.strip():
        return 0
    try:
        job = Job.parse(raw)
    except (ValueError, KeyError, TypeError) as exc:
        out.write(json.dumps({"kind": "error", "message": f"bad job: {exc}"}) + "\n")
        out.flush()
        return 2
    gc.freeze()  # the job's strings too, before the first fork
    Parent(job, libc, out, raw=raw, standby=standby).run()
    out.write(json.dumps({"kind": "end", "nonce": job.nonce}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
