"""Run a one-off model job (converting e5, exporting it to ONNX) in a child Python process.

Both jobs load torch and touch gigabytes once per machine. Run in the process that asked (often the
server, on its first start), that memory stays with it for its lifetime (a fresh clone's server held
2.6 GB RSS after converting e5 in-process); in a child it is returned when the child ends, and the
server never imports torch. On Linux the child is killed with its parent (`die_with_parent`, called
first thing by the child), so a killed conversion leaves no orphan writing into the cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies
PARENT_VARIABLE = "QA_CHILD_OF"  # the parent's pid, so the child can tell it was orphaned at birth


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
