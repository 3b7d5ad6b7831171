"""The first process of every sandboxed run: it builds the isolation, then runs the program.

LiveMind compiles this file once and runs it as `__main__` in a fresh base interpreter
(`python -I -S -B -c RUN_LAUNCHER CODE PLAN`, runner.py). It uses the standard library only, imports
as little as it can (every run pays for its start-up: no json, typing, dataclasses or socket here)
and never imports livemind, whose files the program must not see. PLAN is a `LaunchPlan` (plan.py),
marshalled and hex-encoded.

With namespaces (the plan's `namespaces`):

    stage 0   LiveMind's child, root or the user: unshares the user (when not root), mount, pid, network,
              IPC and UTS namespaces, waits until LiveMind has moved it into the run's cgroups (if any),
              forks init, waits for it
    init      pid 1 of the new pid namespace: mounts the private root (a tmpfs with read-only binds of
              the system and the base interpreter), brings the namespace's own loopback up, forks the
              worker, reaps, writes how the worker ended, exits; the kernel then kills whatever is left
    worker    drops to the throwaway uid (root) or keeps the user's uid (no capabilities survive exec),
              sets no_new_privs and the rlimits, execs the interpreter on the program

Without namespaces, stage 0 forks the worker itself into its own process group and, after it ends,
kills that group and (with a throwaway uid) every process of that uid.

SIGUSR1 to stage 0 means "stop the run now" (LiveMind's wall clock or output bound): stage 0 kills
init (or the worker's group) and exits once the kernel has emptied the namespace.

Stage 0 and init report on the status descriptor, one line each: `exit N CPU` or `signal N CPU` (how
the worker ended and its CPU seconds, read by result.Ending) or `setup MESSAGE` (it never ran).
"""

from __future__ import annotations

import ctypes
import marshal
import os
import resource
import signal
import sys

TYPE_CHECKING = False  # typing costs the launcher 4 ms per run; the type checker still reads the block below
if TYPE_CHECKING:
    from typing import NoReturn

    from livemind.sandbox.plan import LaunchPlan

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

AF_INET = 2
SOCK_DGRAM = 2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ_SIZE = 40
IFREQ_FLAGS_OFFSET = 16

SETUP_FAILED = 125
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "armv7l": 218, "ppc64le": 203, "s390x": 217}

# Devices a Python program may open; bound from the host because an unprivileged userns cannot mknod.
DEVICES = ("null", "zero", "full", "random", "urandom")
DEVICE_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"))

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encoded = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3]), f"mount {target}")


def _report(fd: int, line: str) -> None:
    try:
        os.write(fd, (line + "\n").encode())
    except OSError:
        return  # LiveMind stopped listening: nothing left to tell


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _ending_line(status: int, usage: resource.struct_rusage) -> str:
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)} {cpu:.3f}"
    return f"exit {os.waitstatus_to_exitcode(status)} {cpu:.3f}"


def _locked_flags(path: str) -> int:
    """The mount flags a remount of a bind of `path` must keep (a user namespace may not drop them)."""
    found = os.statvfs(path).f_flag
    flags = found & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if found & os.ST_RELATIME:
        flags |= MS_RELATIME
    return flags


def _bind(source: str, target: str, *, is_read_only: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _write(target, "")
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | _locked_flags(source)
    _mount(None, target, None, flags | (MS_RDONLY if is_read_only else MS_NOEXEC))


def _build_root(plan: LaunchPlan, program: bytes) -> None:
    """Mount the private root at plan["root"]: a tmpfs, the read-only system, devices, proc, the workdir."""
    root = plan["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={plan['root_mb']}m,nr_inodes=16384,mode=0755")
    for path in plan["binds"]:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin stays the same link
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        elif os.path.exists(path):
            _bind(path, root + path, is_read_only=True)
    os.makedirs(root + "/dev", exist_ok=True)
    for device in DEVICES:
        _bind("/dev/" + device, f"{root}/dev/{device}", is_read_only=False)
    for name, target in DEVICE_LINKS:
        os.symlink(target, f"{root}/dev/{name}")
    for folder in ("/tmp", "/dev/shm"):
        os.makedirs(root + folder)
        os.chmod(root + folder, 0o1777)
    os.makedirs(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/etc", exist_ok=True)
    uid = plan["uid"] if plan["uid"] is not None else os.getuid()
    _write(root + "/etc/passwd",
           f"root:x:0:0:root:/root:/bin/false\nsandbox:x:{uid}:{uid}:sandbox:{plan['workdir']}:/bin/false\n")
    _write(root + "/etc/group", f"root:x:0:\nsandbox:x:{uid}:\n")
    _write(root + "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")
    workdir = root + plan["workdir"]
    os.makedirs(workdir, mode=0o700)
    with open(workdir + "/main.py", "wb") as file:
        file.write(program)
    if plan["uid"] is not None:
        os.chown(workdir, uid, uid)
        os.chown(workdir + "/main.py", uid, uid)


def _switch_root(root: str) -> None:
    """Make the private root `/` and drop every host mount from this namespace."""
    os.chdir(root)
    number = PIVOT_ROOT.get(os.uname().machine)
    if number is None:  # no known pivot_root number: move the mount over / and chroot into it
        _mount(root, "/", None, MS_MOVE)
        os.chroot(".")
    else:
        _check(libc.syscall(number, b".", b"."), "pivot_root")
        _check(libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")


def _bring_up_loopback() -> None:
    """The namespace's own loopback (the host's 127.0.0.1 stays out of reach): a test's local server works."""
    sock = libc.socket(AF_INET, SOCK_DGRAM, 0)
    _check(sock, "socket")
    try:
        request = ctypes.create_string_buffer(b"lo", IFREQ_SIZE)
        _check(libc.ioctl(sock, SIOCGIFFLAGS, request), "read lo's flags")
        flags = ctypes.c_short.from_buffer(request, IFREQ_FLAGS_OFFSET)
        flags.value |= IFF_UP
        _check(libc.ioctl(sock, SIOCSIFFLAGS, request), "bring lo up")
    finally:
        os.close(sock)


def _become_worker(plan: LaunchPlan) -> NoReturn:
    """Drop privileges, set the limits and exec the interpreter on the program (the forked child)."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the launcher's blocked signals are not the program's
        uid = plan["uid"]
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        for name, soft, hard in plan["rlimits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.chdir(plan["workdir"])
        os.execve(plan["argv"][0], plan["argv"], plan["env"])
    except OSError as error:
        _report(plan["status_fd"], f"setup worker: {error}")
    os._exit(SETUP_FAILED)


def _run_init(plan: LaunchPlan) -> NoReturn:
    """Pid 1 of the run's namespace: build the root, run the worker, report how it ended."""
    fd = plan["status_fd"]
    try:
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # a same-uid program cannot interrupt it
        os.umask(0o022)  # the folders made for the binds must be traversable by the throwaway uid
        with open(plan["program"], "rb") as file:
            program = file.read()
        _build_root(plan, program)
        _switch_root(plan["root"])
        _bring_up_loopback()
        _check(libc.sethostname(b"sandbox", 7), "sethostname")
    except OSError as error:
        _report(fd, f"setup {error}")
        os._exit(SETUP_FAILED)
    worker = os.fork()
    if worker == 0:
        _become_worker(plan)
    while True:  # as pid 1 it also reaps the program's orphans
        pid, status, usage = os.wait4(-1, 0)
        if pid == worker:
            break
    _report(fd, _ending_line(status, usage))
    os._exit(0)  # the kernel kills every process left in the namespace before this exit completes


def _enter_namespaces(plan: LaunchPlan) -> None:
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    if plan["user_namespace"]:
        flags |= CLONE_NEWUSER
    _check(libc.unshare(flags), "unshare")
    if plan["user_namespace"]:  # the same uid inside: the program is never root, even in its namespace
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _sweep_uid(uid: int) -> None:
    """Kill every process of the throwaway uid (the program's daemons), from a child that takes that uid."""
    sweeper = os.fork()
    if sweeper == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(1000):  # a fork bomb refills between sweeps; RLIMIT_NPROC bounds how much
                os.kill(-1, signal.SIGKILL)
        except OSError:
            os._exit(0)  # ESRCH: no process of that uid is left
        os._exit(0)
    os.waitpid(sweeper, 0)


def _stop(child: int, plan: LaunchPlan) -> None:
    """Kill the run: init (the kernel then empties its namespace), or the worker's process group and uid."""
    try:
        if plan["namespaces"]:
            os.kill(child, signal.SIGKILL)
        else:
            os.killpg(child, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    if not plan["namespaces"] and plan["uid"] is not None:
        _sweep_uid(plan["uid"])


def _lead_own_group(pid: int) -> None:
    """Put the worker in its own group from here too, so a stop can never come before its own setpgid."""
    try:
        os.setpgid(pid, pid)
    except OSError:
        return  # it has exec'd already, in its own group


def main() -> NoReturn:
    """Stage 0: enter the namespaces, wait to be in the cgroups, fork init (or the worker) and supervise it."""
    plan: LaunchPlan = marshal.loads(bytes.fromhex(sys.argv[1]))
    fd = plan["status_fd"]
    os.set_inheritable(fd, False)  # the worker's exec closes it
    child = 0
    is_stopping = False

    def stop_on_request(signum: int, frame: object) -> None:
        nonlocal is_stopping
        is_stopping = True
        if child:
            _stop(child, plan)

    signal.signal(signal.SIGUSR1, stop_on_request)
    # Without a throwaway uid the program has LiveMind's uid: it must not be able to trace the launcher (and
    # write a false report through its descriptor) nor stop it with a signal; SIGUSR1 is LiveMind's to send.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - {signal.SIGUSR1})
    try:
        if plan["namespaces"]:
            _enter_namespaces(plan)  # before: a process that is not dumpable cannot write its own uid_map
        elif plan["uid"] is not None:
            os.chown(plan["root"], plan["uid"], plan["uid"])
            os.chown(plan["program"], plan["uid"], plan["uid"])
        _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")
        if plan["go_fd"] is not None:
            is_placed = os.read(plan["go_fd"], 1) == b"1"  # EOF: LiveMind could not place it in the cgroups
            os.close(plan["go_fd"])
            if not is_placed:
                os._exit(SETUP_FAILED)
    except OSError as error:
        _report(fd, f"setup {error}")
        os._exit(SETUP_FAILED)
    pid = os.fork()
    if pid == 0:
        if plan["namespaces"]:
            _run_init(plan)
        os.setpgid(0, 0)  # its own group: stopping it never reaches stage 0
        _become_worker(plan)
    if not plan["namespaces"]:
        _lead_own_group(pid)
    child = pid
    if is_stopping:
        _stop(child, plan)
    # Learn that it ended without reaping it, so its pid (and group id) cannot be reused while we kill by it.
    os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)
    if not plan["namespaces"]:
        _stop(child, plan)  # what the program left behind in its group (and its uid)
    _, status, usage = os.wait4(child, 0)
    child = 0
    if not plan["namespaces"]:
        _report(fd, _ending_line(status, usage))
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == SETUP_FAILED:
        os._exit(SETUP_FAILED)
    os._exit(0)


if __name__ == "__main__":
    main()
