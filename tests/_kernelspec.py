"""A Jupyter kernel spec whose kernels run with extra environment settings, for nbval.

``make test`` executes the chapters with the settings of ``tests/other_kernels.env`` (other CPU
kernels than ``make execute`` stored the outputs with). Given to the kernel alone, through the
spec's ``env``, they leave the library tests that run beside the chapters (same pytest run,
same workers) on this machine's own kernels, and the chapters need no second run of pytest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "stelib-other-kernels"


def read_settings(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of ``path`` (``#`` starts a comment line), as a dict."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    bad = [ln for ln in lines if ln and not ln.startswith("#") and "=" not in ln]
    if bad:
        raise ValueError(f"{path}: lines that are not KEY=VALUE: {bad[:3]}")
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


def write_spec(settings: dict[str, str], folder: Path) -> Path:
    """Write the kernel spec :data:`NAME` (this Python's ipykernel, with ``settings`` in its
    environment) under ``folder/kernels``; ``folder`` is the directory to put on JUPYTER_PATH."""
    spec = Path(folder) / "kernels" / NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (other CPU kernels)", "language": "python", "env": settings,
        "metadata": {"debugger": False}}, indent=1))
    return Path(folder)
