"""What produced an executed run: recorded in its notebook metadata by ``rerun`` and ``sweep``.

``metadata["stelib"]["provenance"]`` holds the stelib version, a SHA-256 of the library's own
source files (so an uncommitted edit counts too), the book's git commit, a SHA-256 of the
chapter notebook, a SHA-256 of every user module the run imports (the chapter parameter
``ste_modules``), and the parameters. A sweep reuses a finished point only when the record in
its file matches the one it would write now in everything that decides its numbers -- stelib's
version and source, the chapter, the user modules, the parameters (:func:`mismatch`) --
otherwise it runs it again and says why. The git commit is recorded for the reader but not
compared: a commit that touches neither the library nor the chapter changes no result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stelib._version import __version__

__all__ = ["KEY", "library_hash", "mismatch", "record", "recorded", "stamp"]

KEY = "provenance"
_PACKAGE = Path(__file__).resolve().parents[1]  # stelib/


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_hash() -> str:
    """SHA-256 over the paths and contents of stelib's ``.py`` files."""
    h = hashlib.sha256()
    for f in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(f.relative_to(_PACKAGE)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _module_hash(name: str, search: list[str]) -> str:
    """SHA-256 of the file of module ``name`` as the chapter's kernel would find it."""
    saved = sys.path[:]
    try:
        sys.path[:0] = search
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    finally:
        sys.path[:] = saved
    origin = getattr(spec, "origin", None)
    if not origin or not Path(origin).is_file():
        return "not found"
    return _sha(Path(origin).read_bytes())


def record(chapter_path: Path, values: Mapping[str, Any], *, commit: str, library: str | None = None) -> dict:
    """The provenance of a run of the chapter at ``chapter_path`` with parameter ``values``."""
    chapter_path = Path(chapter_path)
    modules = values.get("ste_modules") or []
    search = [str(chapter_path.parent), os.getcwd()]  # where the kernel looks (stelib.cli.kernel_path)
    return {
        "stelib": __version__,
        "library_sha256": library or library_hash(),
        "git_commit": commit,
        "chapter": chapter_path.name,
        "chapter_sha256": _sha(chapter_path.read_bytes()),
        "modules_sha256": {m: _module_hash(m, search) for m in modules},
        "parameters": json.loads(json.dumps(dict(values), default=repr)),
    }


def stamp(notebook_text: str, prov: Mapping[str, Any], final_path: Path) -> str:
    """The executed notebook with ``prov`` in its metadata and papermill's ``output_path`` set to
    the final name (not the temporary one it was executed into)."""
    nb = json.loads(notebook_text)
    meta = nb.setdefault("metadata", {})
    meta.setdefault("stelib", {})[KEY] = dict(prov)
    if isinstance(meta.get("papermill"), dict):
        meta["papermill"]["output_path"] = str(final_path)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def recorded(path: Path) -> dict | None:
    """The provenance stored in the notebook at ``path``; None when the file is missing, not a
    notebook, or has none."""
    try:
        nb = json.loads(Path(path).read_text())
        prov = nb["metadata"]["stelib"][KEY]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return prov if isinstance(prov, dict) else None


def mismatch(path: Path, prov: Mapping[str, Any]) -> str | None:
    """Why the run at ``path`` cannot be reused for ``prov`` (None when it can)."""
    return differs(recorded(path), prov)


def differs(old: Mapping[str, Any] | None, prov: Mapping[str, Any]) -> str | None:
    """Why a run that recorded ``old`` cannot be reused for ``prov`` (None when it can)."""
    if old is None:
        return "no provenance in the file (unfinished, foreign or older run)"
    what = {"stelib": "stelib version", "library_sha256": "library source", "chapter_sha256": "chapter",
            "parameters": "parameters"}
    for key, label in what.items():
        if old.get(key) != prov.get(key):
            return f"{label} changed"
    for mod, digest in prov.get("modules_sha256", {}).items():
        if old.get("modules_sha256", {}).get(mod) != digest:
            return f"module {mod} changed"
    return None
