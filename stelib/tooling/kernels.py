"""How the command line starts the Jupyter kernels that execute chapters (``stelib rerun``,
``stelib sweep``, ``stelib execute``).

:func:`quiet_kernels` gives the keywords for papermill's ``execute_notebook`` and nbclient's
``NotebookClient``: the kernel talks to this process over ZeroMQ IPC sockets in a private
temporary folder (:class:`IPCKernelManager`) instead of TCP on localhost, so nobody else on the
machine can read the traffic, and the kernel has no reason to print its warning ``Kernel is
running over TCP without encryption`` into every run's progress bar. Where ZeroMQ has no IPC
transport (Windows builds without it) the kernel keeps TCP and its log level is raised to
errors, which silences that warning only.

:func:`kernel_path` gives kernels the module search path of the parameter check;
:func:`quiet_after_interrupt` keeps an interrupted run's message the last word on the terminal;
:func:`kernel_env` is the environment of the kernels that execute the book's chapters in place
(``stelib execute``, and the ones ``stelib build`` starts through jupyter-book).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

QUIET = "--IPKernelApp.log_level=ERROR"  # the kernel's own log (not the notebook's output)


def kernel_env() -> dict[str, str]:
    """Environment for kernels: inline figures (the Makefile's MPLBACKEND=Agg is for tests)."""
    env = dict(os.environ, PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)
    return env


def quiet_after_interrupt() -> None:
    """After Ctrl-C or SIGTERM during a run: silence asyncio's log for the rest of the process.

    nbclient shuts the kernel down when interrupted and leaves its task that watches the kernel
    unawaited; on a busy machine that task can end with ``DeadKernelError`` first, and asyncio
    then prints "Task exception was never retrieved" with a traceback when the task is collected
    (at exit), after the run's "interrupted" message. Nothing else is logged there.
    """
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)


def ipc_available() -> bool:
    """Whether ZeroMQ supports the IPC transport here (Unix domain sockets)."""
    try:
        import zmq
    except ImportError:  # pragma: no cover - jupyter_client needs pyzmq
        return False
    return bool(zmq.has("ipc"))


def _manager_class(folder: str) -> type:
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        """A kernel manager whose kernel listens on the IPC sockets ``folder/<random>-N``."""

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = os.path.join(folder, uuid.uuid4().hex[:8])

    return IPCKernelManager


@contextlib.contextmanager
def quiet_kernels() -> Iterator[dict[str, Any]]:
    """Keywords for ``papermill.execute_notebook`` and ``nbclient.NotebookClient`` for the
    kernels started inside this block: IPC sockets in a private folder (``mkdtemp``: this user
    only, and a short path, as a socket path may have about 100 characters at most), removed
    afterwards; where ZeroMQ has no IPC, TCP with the kernel's log limited to errors."""
    if not ipc_available():
        yield {"extra_arguments": [QUIET]}
        return
    folder = tempfile.mkdtemp(prefix="stelib-")
    try:
        yield {"kernel_manager_class": _manager_class(folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def kernel_path():
    """While kernels start inside this block, give them (they start in ``chapters/``) the module
    search path the parameter check used: the current folder first, then ``PYTHONPATH``, so a
    user's STE module that passed the check also imports in the kernel. Restored afterwards."""
    before = os.environ.get("PYTHONPATH")
    parts = [p for p in (before or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *parts])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
