"""Worker processes die with the server. A `kill -9` of the server runs none of its shutdown, so
its vision workers (and with them multiprocessing's resource tracker, which waits for every
holder of its pipe to go) kept running for minutes. On Linux the kernel is asked to SIGKILL a
worker when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere nothing is asked.

Such a worker also ignores SIGINT: Ctrl-C in a terminal signals the whole process group, and the
server stops its workers itself; without this each printed its KeyboardInterrupt traceback. A
worker can be hit while it is still importing, before any code of ours runs, so the server starts
its workers with SIGINT ignored (`sigint_ignored`): an ignored signal stays ignored across exec,
and Python leaves an ignored SIGINT alone at start-up. (A signal mask would not do: the spawn
start method's fork_exec clears it in the child.)"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

log = logging.getLogger("vigil.process")

PR_SET_PDEATHSIG: Final = 1


def die_with_parent(parent_pid: int) -> None:
    """Call first thing in the child. `parent_pid`: the server's pid, read before the child was
    started, to catch a parent that died before the request was made."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            error = ctypes.get_errno()
            log.warning(
                "prctl(PR_SET_PDEATHSIG) failed (%s): this worker may outlive the server",
                os.strerror(error),
            )
    if os.getppid() != parent_pid:
        os._exit(1)  # the server is already gone


def owned_worker(parent_pid: int) -> None:
    """The start of a worker process the server owns: dies with it, leaves Ctrl-C to it."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Start worker processes inside this, and nothing slow: a Ctrl-C in these few milliseconds
    is lost to the server too (press it again). Off the main thread, where Python may not touch
    signal handlers, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        # None: a handler not set from Python; the default is the nearest we can put back.
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
