"""The first program of every local container: it puts the container's termination-message file at the
path the Pod asks for (/dev/termination-log by default) without touching the host, then runs the
container's command as its child and ends the way the command ends.

It runs as ``python -I -S sandbox.py`` (standard library only, no kubeasset import, so it starts in a few
milliseconds) and is single-threaded, which makes unshare(2), prctl(2) and fork(2) safe, unlike in a
preexec_fn of the multi-threaded kubelet. In a private mount namespace it bind-mounts the per-container
file on the path; when the path does not exist on the host, its nearest existing directory is shadowed by a
tmpfs that holds bind mounts of every original entry plus the new file, so only this container sees it.
The Pod's volumes are bind-mounted the same way at their mountPaths (``--mount``, one per volumeMount);
every host path is opened before the first mount, so a mount over /tmp cannot hide the others' sources.
With ``--hostname`` the container gets its own UTS namespace and the Pod's name as host name.
A mountPath whose first component does not exist on the host (``/data``) would need the root itself
shadowed; instead the container gets a new root: a tmpfs holding bind mounts of every entry of ``/`` plus
the missing folders, entered with chroot(2).

    python -I -S sandbox.py --termination-path /dev/termination-log --termination-file F \\
        --mount '["/kubelet/volumes/shop/assets", "/data", false]' \\
        --scratch D --workdir W -- python -m kubeasset.runner execute
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import signal
import sys
from collections.abc import Sequence

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_PDEATHSIG = 1
#: What the kernel sends this process when the kubelet dies: a real-time signal no program sends by chance.
_KUBELET_GONE: int = signal.SIGRTMIN + 1
#: Exit code when the sandbox itself cannot set up the container (like a runtime's "cannot start").
EXIT_SETUP_FAILED = 128
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sandbox")
    parser.add_argument("--termination-path")
    parser.add_argument("--termination-file")
    parser.add_argument("--scratch")
    parser.add_argument("--mount", action="append", default=[], help='JSON ["source", "target", read_only]')
    parser.add_argument(
        "--keep", action="append", default=[], help="a host folder that stays visible under the mounts (repeatable)"
    )
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--hostname", help="the container's host name (the Pod's name), in a UTS namespace")
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--probe", action="store_true", help="only check that a mount namespace can be made")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args(argv)
    if args.parent_pid:
        # The kubelet thread that started us waits for us, so its end means the kubelet is gone (even
        # SIGKILLed): then the whole container goes, children included, as a container dies with its node.
        signal.signal(_KUBELET_GONE, lambda *_: os.killpg(0, signal.SIGKILL))
        _libc.prctl(_PR_SET_PDEATHSIG, _KUBELET_GONE)
        if os.getppid() != args.parent_pid:
            return EXIT_SETUP_FAILED
    try:
        if args.probe:
            _private_mount_namespace()
            return 0
        mounts = [
            (str(source), str(target), bool(read_only)) for source, target, read_only in map(json.loads, args.mount)
        ]
        if args.termination_path:
            mounts.append((args.termination_file, args.termination_path, False))
        # Held open across the mounts: a mount at /tmp may hide the host folder of the working directory.
        workdir = os.open(args.workdir, os.O_PATH | os.O_DIRECTORY)
        if mounts:
            _private_mount_namespace()
            _mount_all(mounts, args.scratch, keep=args.keep)
        if args.hostname:
            # as in a container, gethostname() is the Pod's name (leader election identities use it)
            _check(_libc.unshare(_CLONE_NEWUTS), "unshare(CLONE_NEWUTS)")
            name = args.hostname.encode()
            _check(_libc.sethostname(name, len(name)), "sethostname")
        try:
            os.chdir(args.workdir)
        except OSError:
            os.fchdir(workdir)
    except OSError as error:
        print(f"kubeasset local kubelet: cannot set up the container: {error}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    if not args.command:
        return 0
    return _run(args.command)


def _run(command: list[str]) -> int:
    """Run ``command`` as a child and end the way it ended (same exit code, or the same signal).

    Staying alive as its parent is what lets a dying kubelet take the container's children along; the
    kubelet's SIGTERM reaches the whole process group anyway, so this process ignores it.
    """
    for forwarded in (signal.SIGTERM, signal.SIGINT):
        signal.signal(forwarded, signal.SIG_IGN)
    child = os.fork()
    if child == 0:
        # ignored signals stay ignored across exec: give the command the default dispositions back
        for restored in (int(signal.SIGTERM), int(signal.SIGINT), _KUBELET_GONE):
            signal.signal(restored, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        except OSError as error:
            # the runtime's message for a missing executable, so the log reads as in a cluster
            print(f'exec: "{command[0]}": {error.strerror}', file=sys.stderr, flush=True)
            os._exit(127 if isinstance(error, FileNotFoundError) else 126)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _private_mount_namespace() -> None:
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Without this, the mounts below would propagate back to the host's shared mounts.
    _check(_libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")


def _mount_all(mounts: list[tuple[str, str, bool]], scratch: str, keep: Sequence[str] = ()) -> None:
    """Bind every (source, target, read_only), parents before children; the scratch folder holds tmpfs
    copies of directories that had to be shadowed. The ``keep`` folders (the interpreter, kubeasset's code)
    are bound back where a mount would hide them: a real container has them in its image."""
    # A stable sort: of two mounts at the same depth the earlier wins nothing, both are made in order.
    ordered = sorted(mounts, key=lambda mount: len([part for part in mount[1].split("/") if part]))
    # Every host path is opened before the first mount and used through /proc/self/fd: a mount (an
    # emptyDir at /tmp, say) may hide the host folders that hold the other sources and the scratch space.
    os.makedirs(scratch, exist_ok=True)
    scratch = _held(scratch, directory=True)
    ordered = [(_held(source), target, read_only) for source, target, read_only in ordered]
    missing_top = sorted(
        {top for _, target, _ in ordered if (top := _first_component(target)) and not os.path.lexists("/" + top)}
    )
    if missing_top:
        _new_root(os.path.join(scratch, "root"), missing_top)
    targets = [target.rstrip("/") or "/" for _, target, _ in ordered]
    hidden = [path for path in keep if any(_under(path, target) for target in targets)]
    # Only the outermost of nested folders: binding it brings the inner ones along.
    hidden = [path for path in hidden if not any(_under(path, other) for other in hidden if other != path)]
    held_keep = [(path, _held(path, directory=True)) for path in hidden if os.path.isdir(path)]
    for index, (source, target, read_only) in enumerate(ordered):
        _expose(target, source, os.path.join(scratch, f"shadow-{index}"))
        if read_only:
            _check(
                _libc.mount(None, target.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY, None),
                f"make {target} read-only",
            )
    for index, (path, held) in enumerate(held_keep):
        try:
            os.makedirs(path, exist_ok=True)  # inside the volume mounted above it (an emptyDir: writable)
            _bind(held, path, recursive=True)
        except OSError:
            _expose(path, held, os.path.join(scratch, f"keep-{index}"))


def _under(path: str, folder: str) -> bool:
    """Whether ``path`` lies strictly inside ``folder``."""
    return folder == "/" and path != "/" or path.startswith(folder.rstrip("/") + "/")


def _held(path: str, *, directory: bool = False) -> str:
    """A path that keeps naming what ``path`` names now, whatever is mounted over it later."""
    descriptor = os.open(path, os.O_PATH | (os.O_DIRECTORY if directory else 0))
    return f"/proc/self/fd/{descriptor}"


def _first_component(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    return parts[0] if parts else ""


def _new_root(root: str, missing: list[str]) -> None:
    """Enter a new root: a tmpfs with every entry of ``/`` bind-mounted plus the ``missing`` folders."""
    os.makedirs(root, exist_ok=True)
    _check(_libc.mount(b"tmpfs", root.encode(), b"tmpfs", 0, b"mode=755"), f"mount tmpfs on {root}")
    _copy_entries("/", root)
    for name in missing:
        os.mkdir(os.path.join(root, name))
    os.chdir(root)
    os.chroot(".")
    os.chdir("/")


def _copy_entries(anchor: str, scratch: str) -> None:
    with os.scandir(anchor) as entries:
        for entry in entries:
            copy = os.path.join(scratch, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), copy)
            elif entry.is_dir(follow_symlinks=False):
                os.mkdir(copy)
                _bind(entry.path, copy, recursive=True)
            else:
                open(copy, "w").close()  # noqa: SIM115 - a mount point, closed at once
                _bind(entry.path, copy)


def _expose(target: str, source: str, scratch: str) -> None:
    """Bind ``source`` (a file or a folder) at ``target``, shadowing target's nearest existing folder
    when ``target`` does not exist."""
    is_dir = os.path.isdir(source)
    if os.path.isdir(target) and not is_dir:
        raise IsADirectoryError(f"cannot mount the file {source} on {target}: it is a directory")
    if os.path.lexists(target):
        if is_dir and not os.path.isdir(target):
            raise NotADirectoryError(f"cannot mount the folder {source} on {target}: it is not a directory")
        _bind(source, target, recursive=is_dir)
        return
    missing = [os.path.basename(target)]
    anchor = os.path.dirname(target)
    while not os.path.isdir(anchor):
        missing.insert(0, os.path.basename(anchor))
        anchor = os.path.dirname(anchor)
    os.makedirs(scratch, exist_ok=True)
    _check(_libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", 0, b"mode=755"), f"mount tmpfs on {scratch}")
    _copy_entries(anchor, scratch)
    folder = scratch
    for name in missing[:-1]:
        folder = os.path.join(folder, name)
        os.mkdir(folder)
    mount_point = os.path.join(folder, missing[-1])
    if is_dir:
        os.mkdir(mount_point)
    else:
        open(mount_point, "w").close()  # noqa: SIM115
    _bind(source, mount_point, recursive=is_dir)
    _bind(scratch, anchor, recursive=True)


def _bind(source: str, target: str, *, recursive: bool = False) -> None:
    flags = _MS_BIND | (_MS_REC if recursive else 0)
    _check(_libc.mount(source.encode(), target.encode(), None, flags, None), f"bind {source} on {target}")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
