"""Warm sealed workers: a zygote that imported the heavy libraries once forks a fresh job each time.

A sealed process spends seconds importing torch, transformers, peft and scikit-learn before a
method's first line (`benchmarks/sealed_start.py`). A zygote is one such process, started inside
the very bubblewrap sandbox a job of its kind gets (the same visible and hidden paths, the same
environment), that never runs a method's code. For each job it forks, and the fork enters new
mount, pid and IPC namespaces where it sees (`enter_job`):

- its own job folder at `/w2s/job` and its stage folder at `/w2s/stage` (read-only unless the
  job saves into it), bound from the zygote's spool; the spool itself is covered by an empty
  folder, so other jobs' folders do not exist there;
- a fresh `/tmp` and `/dev/shm`, `/` and `/dev` read-only, and a `/proc` of its own pid namespace
  (only its own processes; `sys`, `sysrq-trigger`, `irq` and `bus` read-only, as bubblewrap
  makes them);

then drops every capability (bounding set, ambient, permitted, effective), sets no_new_privs and
checks in `/proc/self/status` that it holds none before the job runs. The job's first process
is its pid namespace's init: when it exits, the kernel kills every process the job started.
So each job starts from the zygote's state as it was after the imports; no file, process or
memory of an earlier job is reachable from the next one.

The zygote keeps CAP_SYS_ADMIN and CAP_SETPCAP inside its own user namespace (bubblewrap's
`--cap-add`) to make those mounts; it runs only this module and the harness's imports. Jobs
are sent over a socket pair with the caller's stdout and stderr (`socket.send_fds`), so a job's
output goes where the caller's goes at that moment. Nothing here imports the package.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess

SPOOL = "/w2s/spool"  # where the zygote sees its spool (job and stage folders, one per job)
STASH = "/w2s/stash"  # where a job's fork sets the sandbox's /tmp aside while it makes a fresh one
CAPS = ("CAP_SYS_ADMIN", "CAP_SETPCAP")  # what the zygote keeps (in its user namespace only)
NO_SANDBOX = 87  # a job's exit code where its fork could not make the job's sandbox (nothing of it ran)

_CLONE_NEWNS, _CLONE_NEWPID, _CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_c().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), None), f"mount {target}")


def _bind(source: str, target: str, readonly: bool) -> None:
    _mount(source, target, None, _MS_BIND | _MS_REC)
    if readonly:
        _readonly(target)


def _readonly(target: str) -> None:
    """`target`, already a mount point, read-only in this mount namespace."""
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _mounts_under(top: str) -> list[tuple[str, bool]]:
    """(mount point, read-only) of every mount below `top`, in the order they were made."""
    out = []
    for line in open("/proc/self/mountinfo").read().splitlines():
        fields = line.split()
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point.startswith(top.rstrip("/") + "/"):
            out.append((point, "ro" in fields[5].split(",")))
    return out


def _fresh_tmp() -> None:
    """An empty, writable `/tmp` for the job, with the sandbox's binds below it kept (visible
    paths that lie under /tmp, and the covers of hidden ones): the old /tmp is set aside at
    `STASH`, the new one mounted, each bind made again from the stash, the stash detached."""
    below = _mounts_under("/tmp")
    _mount("/tmp", STASH, None, _MS_BIND | _MS_REC)
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV)
    for point, readonly in below:
        source = STASH + point[len("/tmp") :]
        if os.path.isdir(source):
            os.makedirs(point, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), exist_ok=True)
            open(point, "a").close()
        _mount(source, point, None, _MS_BIND)
        if readonly:
            _readonly(point)
    _check(_c().umount2(STASH.encode(), 2), f"umount {STASH}")  # MNT_DETACH


def _drop_capabilities() -> None:
    c = _c()
    for cap in range(64):  # the bounding set first (needs CAP_SETPCAP), then the rest
        c.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    c.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    _check(c.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")
    _check(c.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    held = {
        k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb") if int(status[k].strip(), 16)
    }
    if held or status["NoNewPrivs"].strip() != "1":
        raise PermissionError(f"the job still holds capabilities {held}: refusing to run it")


def enter_job(job: str, stage: str | None, stage_writable: bool, job_at: str, stage_at: str) -> None:
    """In the fork, after `unshare`: the job's own view of the sandbox (see the module docstring),
    every capability dropped."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing below propagates back to the zygote
    _bind(os.path.join(SPOOL, job), job_at, readonly=False)
    if stage is not None:
        _bind(os.path.join(SPOOL, stage), stage_at, readonly=not stage_writable)
    _mount("tmpfs", SPOOL, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY)  # other jobs' folders: gone
    _fresh_tmp()
    _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _readonly("/dev")
    _readonly("/")
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)  # this pid namespace's
    for sub in ("sys", "sysrq-trigger", "irq", "bus"):
        path = f"/proc/{sub}"
        if os.path.exists(path):
            _bind(path, path, readonly=True)
    os.chdir(job_at)
    os.environ["PWD"] = job_at  # as bubblewrap's --chdir sets it for a fresh interpreter
    _drop_capabilities()


def _job_process(request: dict, fds: list[int], run, job_at: str, stage_at: str) -> None:
    """The fork of the zygote: new namespaces, then the job as their first process."""
    c = _c()
    c.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _check(c.unshare(_CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC), "unshare")
    pid = os.fork()
    if pid == 0:
        try:
            c.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            enter_job(request["job"], request.get("stage"), bool(request.get("stage_writable")), job_at, stage_at)
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fds[0], 1)
            os.dup2(fds[1], 2)
            os.closerange(3, 65536)  # the zygote's socket among them
        except BaseException as e:  # noqa: BLE001 - reported through the exit code and stderr
            os.write(fds[1] if fds else 2, f"w2s-bench zygote: could not make the job's sandbox: {e}\n".encode())
            os._exit(NO_SANDBOX)
        run(job_at)  # exits the process
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def serve(fd: int, run, job_at: str, stage_at: str) -> None:
    """The zygote's loop: one request at a time from the socket `fd`, one fresh fork per request;
    `run(job_folder)` runs the job (in the fork, never here). Returns when the caller hangs up."""
    import threading

    # a fork copies one thread: a Python thread holding a lock at that moment would hang the job.
    # The imports leave only native pools that mend themselves across fork (OpenBLAS's workers and
    # jemalloc's background thread register fork handlers; the job starts them again if it needs them)
    if threading.active_count() != 1:
        raise RuntimeError(
            f"the zygote runs {threading.active_count()} Python threads after its imports; it must run one"
        )
    sock = socket.socket(fileno=fd)
    sock.send(json.dumps({"ready": os.getpid()}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(sock, 65536, 2)
        if not message:
            return
        pid = os.fork()
        if pid == 0:
            try:
                _job_process(json.loads(message), fds, run, job_at, stage_at)
            finally:
                os._exit(5)
        for f in fds:
            os.close(f)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        sock.send(json.dumps({"code": code}).encode())


class ZygoteError(RuntimeError):
    """The zygote could not start or stopped answering."""


class Zygote:
    """The caller's side: starts the zygote (`argv`, which must end by calling `serve` on the file
    descriptor number appended to it) and sends it jobs."""

    def __init__(self, argv: list[str], env: dict[str, str], spool: str, cwd: str):
        self.spool = spool
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = mine
        try:
            self.proc = subprocess.Popen(
                [*argv, str(theirs.fileno())], env=env, cwd=cwd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL
            )
        finally:
            theirs.close()
        reply = self._reply()
        if "ready" not in reply:
            self.close()
            raise ZygoteError(f"the zygote did not start: {reply}")

    def _reply(self) -> dict:
        try:
            message = self.sock.recv(65536)
        except OSError as e:
            message = f'{{"error": "{e}"}}'.encode()
        if not message:
            code = self.proc.poll() if self.proc.poll() is not None else self.proc.wait(timeout=30)
            return {"error": f"the zygote exited (code {code})"}
        return json.loads(message)

    def run(self, job: str, stage: str | None, stage_writable: bool) -> int:
        """Run the job whose folder is `spool/job` (stage folder `spool/stage`); its exit code."""
        request = json.dumps({"job": job, "stage": stage, "stage_writable": stage_writable}).encode()
        try:
            socket.send_fds(self.sock, [request], [1, 2])
        except OSError as e:
            raise ZygoteError(f"the zygote stopped answering: {e}") from None
        reply = self._reply()
        if "code" not in reply:
            raise ZygoteError(reply.get("error", str(reply)))
        return reply["code"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
