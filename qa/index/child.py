"""One-off model jobs (converting e5, exporting it to ONNX): a folder made whole or not at all, by a
child Python process.

`build_folder_once` writes the folder beside its final place under a lock and renames it into place,
so a crash never leaves a half-written one and concurrent callers wait for the first. Both jobs load
torch and touch gigabytes once per machine. Run in the process that asked (often the server, on its
first start), that memory stays with it for its lifetime (a fresh clone's server held 2.6 GB RSS after
converting e5 in-process); in a child it is returned when the child ends, and the server never
imports torch. On Linux the child is killed with its parent (`die_with_parent`, called first thing by
the child), so a killed conversion leaves no orphan writing into the cache.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies
PARENT_VARIABLE = "QA_CHILD_OF"  # the parent's pid, so the child can tell it was orphaned at birth


def build_folder_once(target: Path, finished: str, write: Callable[[Path], None]) -> Path:
    """`target`, first made by `write(staging)` into an empty staging folder unless `target/finished`
    exists: one writer at a time (a lock beside it), leftovers of killed writers removed, and a
    target without `finished` (a foreign or broken folder) replaced."""
    if (target / finished).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time; the others then find it done
        if (target / finished).is_file():
            return target
        for leftover in target.parent.glob(f".{target.name}.*"):
            if leftover.is_dir():  # a writer killed midway; we hold the lock, so nobody is using it
                shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        staging.chmod(0o755)
        try:
            write(staging)
            if target.exists():  # without `finished`: move it aside, rename, then remove it
                aside = target.with_name(f".{target.name}.broken-{os.getpid()}")
                target.rename(aside)
                os.replace(staging, target)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m module args...` in a child process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, PARENT_VARIABLE: str(os.getpid())},
    )


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """The child's last line on stderr: its one-sentence error."""
    return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]


def die_with_parent() -> None:
    """In the child: ask Linux to SIGKILL this process when its parent dies, and leave at once if the
    parent is already gone. Elsewhere (or when not started by `run_module`) nothing happens."""
    parent = os.environ.get(PARENT_VARIABLE)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # the parent died before the request was armed
        os._exit(1)
