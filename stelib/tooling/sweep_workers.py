"""Where a sweep's points run: local Jupyter kernels, or the workers of a Dask cluster.

Locally, points run ``--workers`` at a time (default: half the CPU cores), each in its own
Jupyter kernel process (:mod:`stelib.kernels`) driven by a thread; Ctrl-C starts no new point
and ends the running kernels. With ``--scheduler``, they run on a Dask distributed cluster
(``pip install stelib[sweep]``): the workers receive the notebook's text and send the executed
notebook back (:func:`run_point`), so they need stelib and the chapter's packages but no shared
file system. Nothing here writes a file of the sweep: the client does, as each point finishes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stelib.tooling import kernels
from stelib.tooling.sweep_grid import Point, _plain


def run_point(source: str, parameters: dict[str, Any], cwd: str | None) -> tuple[bool, str | None, str]:
    """Execute one notebook (its JSON text) with ``parameters``: ``(ok, executed JSON, error)``.

    Runs in a local worker thread or on a Dask worker; writes only to its own temporary directory.
    """
    import logging

    import nbformat
    import papermill

    os.environ.pop("MPLBACKEND", None)  # figures inline, as rerun does
    logging.getLogger("papermill").setLevel(logging.ERROR)  # not its notes on parameter comments
    nb = nbformat.reads(source, as_version=4)
    # The kernel starts in cwd (nbclient's resources path). papermill's own cwd= would chdir the
    # whole process, which races between worker threads and can leave it in another folder.
    where = {"resources": {"metadata": {"path": cwd}}} if cwd and Path(cwd).is_dir() else {}
    with tempfile.TemporaryDirectory() as tmp, kernels.quiet_kernels() as quiet:
        out = Path(tmp) / "run.ipynb"
        try:
            papermill.execute_notebook(nb, str(out), parameters=parameters, kernel_name="python3",
                                       progress_bar=False, **where, **quiet)
            ok, err = True, ""
        except papermill.PapermillExecutionError as exc:
            ok, err = False, f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        except Exception as exc:  # a kernel that died, a bad notebook: reported, the sweep goes on
            ok, err = False, f"{type(exc).__name__}: {exc}"
        text = out.read_text() if out.exists() else None
    return ok, text, err


def _execute(todo: list[Point], source: str, cwd: str, workers: int, scheduler: str | None,
             done: Callable[[Point, bool, str | None, str], None]) -> None:
    """Run the points on local processes or a Dask cluster, calling ``done`` as each finishes."""
    if scheduler is None:
        # Threads suffice: each point runs in its own kernel process, the thread only drives it.
        # (A process pool would re-import a calling script without a main guard, or fork a
        # process that holds PyTorch's threads.)
        from concurrent.futures import ThreadPoolExecutor, as_completed

        pool = ThreadPoolExecutor(max_workers=workers)
        futures = {pool.submit(run_point, source, _plain(p.overrides), cwd): p for p in todo}
        try:
            for fut in as_completed(futures):
                exc = fut.exception()
                done(futures[fut], *(fut.result() if exc is None else (False, None, f"{type(exc).__name__}: {exc}")))
        except KeyboardInterrupt:  # Ctrl-C: start nothing more, end the running kernels
            for fut in futures:
                fut.cancel()
            _end_kernels()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = {client.submit(run_point, source, _plain(p.overrides), cwd, pure=False): p for p in todo}
        for fut in as_completed(futures):
            if fut.status == "finished":
                done(futures[fut], *fut.result())
            else:
                done(futures[fut], False, None, f"{type(fut.exception()).__name__}: {fut.exception()}")


def _end_kernels(grace: float = 3.0) -> None:
    """Terminate the Jupyter kernels this process started (then kill what is left after
    ``grace`` seconds): their worker threads then return at once with an error."""
    import psutil

    kernels = [c for c in psutil.Process().children(recursive=True)
               if "ipykernel" in " ".join(_cmdline(c))]
    for k in kernels:
        with contextlib.suppress(psutil.Error):
            k.terminate()
    _, alive = psutil.wait_procs(kernels, timeout=grace)
    for k in alive:
        with contextlib.suppress(psutil.Error):
            k.kill()


def _cmdline(proc) -> list[str]:
    try:
        return proc.cmdline()
    except Exception:  # a process that ended or is not ours to read
        return []
