r"""Results too expensive for a chapter: computed once, stored under ``data/`` with provenance.

A stored result is a long-form CSV (one number a row) and a JSON provenance record beside it: the
command and every parameter, stelib's version and git commit, the versions of torch and NumPy,
the device, threads and CPU kernels, the wall time. The chapter reads the CSV
(:func:`load`) and checks its SHA-256 against ``data/SHA256SUMS``; the command line computes,
writes and checks it (``stelib results compute NAME``, ``stelib results check NAME``; with
``--record`` a check appends its outcome to the JSON record, which :func:`provenance_text` shows).

``practice-full`` -- Yin et al.'s recipe on the 8x8 digits at their epoch budget for LeNet-5
(50 epochs for the full-precision start and 50 for the quantized network), for the MLP and the
CNN of chapter practice, 2 and 4 bits, the three STEs and seeds 0-4. It is computed in *units*
of one (network, seed): an ensemble of bits x STEs started from that seed's full-precision
network. A unit depends on nothing else, so a test recomputes one unit from scratch and
compares it with the stored rows (:func:`check`).

Rows: ``arch, model, bits, ste, seed, epochs, metric, value`` with ``model`` either
``"full_precision"`` (the ReLU start, ``bits`` 0, ``ste`` ``"none"``) or ``"quantized"``,
``metric`` ``train_loss`` (cross-entropy in evaluation mode) or ``test_accuracy`` (a fraction).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["COLUMNS", "NAMES", "PRACTICE_FULL", "StoredRuns", "as_checked", "budget_text", "check", "checked_runs", "compute",
           "data_dir", "load",
           "check_summary", "provenance_text", "record_check", "runs_of", "write"]

COLUMNS = ("arch", "model", "bits", "ste", "seed", "epochs", "metric", "value")
PRACTICE_FULL: dict[str, object] = {
    "archs": ["mlp", "cnn"], "bits": [2, 4], "stes": ["identity", "relu", "crelu"], "seeds": [0, 1, 2, 3, 4],
    "epochs": 50, "pre_epochs": 50, "lr": 0.05, "batch_size": 64, "momentum": 0.9, "norm": "plain",
    "dataset": "digits", "data_seed": 0, "lloyd_samples": 200_000, "lloyd_seed": 0,
}
NAMES = {"practice-full": "practice_full"}  # result name -> file stem under data/
#: stored vs recomputed: accuracies are counts of the 449 test images and must agree exactly; a
#: loss may move by summation order (other CPU kernels: ~1e-11 relative, measured), never by more
#: than this unless a run took another path, which the accuracies would show too. Other kernels
#: can send a run down another path: the end of a quantized training run can depend on how a few
#: operations round, and recomputed with AVX2 kernels two of the five MLP seeds stored with
#: AVX-512 ones end elsewhere (the recorded check)
LOSS_RTOL = 1e-7


def data_dir(root: str | Path | None = None) -> Path:
    """``ROOT/data`` of a checkout (default: the one this package sits in), or the wheel's copy."""
    pkg = Path(__file__).resolve().parents[1]
    if root is not None:
        return Path(root) / "data"
    return next((d for d in (pkg.parent / "data", pkg / "data") if d.is_dir()), pkg.parent / "data")


def _stem(name: str) -> str:
    if name not in NAMES:
        raise ValueError(f"name={name!r}: unknown stored result; known: {', '.join(NAMES)}")
    return NAMES[name]


def _check_subset(values, allowed: Sequence, what: str) -> list:
    values = list(allowed) if values is None else list(values)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ValueError(f"{what}={values!r}: choose a non-empty subset of {list(allowed)}")
    return values


def _alphas(params: dict) -> dict[int, float]:
    from stelib.analyses.lloyd import lloyd_alphas

    fits = lloyd_alphas(params["bits"], samples=params["lloyd_samples"], seed=params["lloyd_seed"])
    return {b: f.alpha for b, f in fits.items()}


MNIST_TRAIN = 60_000  #: images in MNIST's training set, on which Yin et al. train LeNet-5


def budget_text(params: dict = PRACTICE_FULL) -> str:
    """The training budget of stored parameters against Yin et al.'s LeNet-5 on MNIST, as a clause
    the practice chapter glues: equal epochs are not equal updates on a smaller training split.
    The SGD steps per run count the last, short batch of each epoch, as training does."""
    from stelib.analyses.practice import load_data

    n = len(load_data(params["dataset"], seed=params["data_seed"]).x_train)
    steps = params["epochs"] * math.ceil(n / params["batch_size"])
    return (f"{params['epochs']} epochs of {n:,} training images in batches of {params['batch_size']} are "
            f"{steps:,} SGD steps per run; the same epochs of MNIST's {MNIST_TRAIN:,} images are "
            f"{MNIST_TRAIN / n:.0f} times as many images, and at the same batch size as many times the steps")


def practice_full_unit(arch: str, seed: int, *, params: dict = PRACTICE_FULL, alpha=None, data=None) -> list[dict]:
    """The rows of one unit of ``practice-full``: network ``arch`` started from seed ``seed``."""
    from stelib.analyses.practice import load_data, train

    alpha = _alphas(params) if alpha is None else alpha
    data = load_data(params["dataset"], seed=params["data_seed"]) if data is None else data
    r = train(arch, bits=params["bits"], stes=params["stes"], seeds=(seed,), epochs=params["epochs"],
              lr=params["lr"], batch_size=params["batch_size"], momentum=params["momentum"], norm=params["norm"],
              alpha=alpha, init="pretrained", pre_epochs=params["pre_epochs"], data=data)
    rows = []
    for metric in ("train_loss", "test_accuracy"):
        rows.append({"arch": arch, "model": "full_precision", "bits": 0, "ste": "none", "seed": seed,
                     "epochs": params["pre_epochs"], "metric": metric,
                     "value": float(getattr(r.pretrained, metric)[0, 0, 0, -1])})
        for i, b in enumerate(r.bits):
            for j, s in enumerate(r.stes):
                rows.append({"arch": arch, "model": "quantized", "bits": b, "ste": s, "seed": seed,
                             "epochs": params["epochs"], "metric": metric,
                             "value": float(getattr(r, metric)[i, j, 0, -1])})
    return rows


def compute(name: str = "practice-full", *, archs=None, seeds=None,
            progress: Callable[[str], None] | None = None) -> tuple[list[dict], dict]:
    """Compute a stored result (all units, or those of ``archs`` x ``seeds``): rows and provenance."""
    _stem(name)
    params = dict(PRACTICE_FULL)
    archs = _check_subset(archs, params["archs"], "archs")
    seeds = _check_subset(seeds, params["seeds"], "seeds")
    from stelib.analyses.practice import load_data

    start, commit = time.perf_counter(), _commit()  # the code as it is when the run starts
    alpha, data = _alphas(params), load_data(params["dataset"], seed=params["data_seed"])
    rows, units = [], {}
    for arch in archs:
        for seed in seeds:
            t = time.perf_counter()
            rows += practice_full_unit(arch, seed, params=params, alpha=alpha, data=data)
            units[f"{arch} seed {seed}"] = round(time.perf_counter() - t, 1)
            if progress:
                progress(f"{arch} seed {seed}: {units[f'{arch} seed {seed}']:.1f} s")
    return rows, _provenance(name, params, archs, seeds, units, time.perf_counter() - start, commit)


def _provenance(name, params, archs, seeds, units, seconds, commit) -> dict:
    import numpy as np

    from stelib._version import __version__

    return {
        "name": name, "command": f"stelib results compute {name}",
        "parameters": {**params, "archs": archs, "seeds": seeds},
        "stelib": __version__, "git_commit": commit, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "device": "cpu", "cpu": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
        "wall_seconds": round(seconds, 1), "unit_seconds": units,
        "computed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _commit() -> str:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "stelib"], cwd=root, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "value": repr(float(r["value"]))})
    return buf.getvalue().encode()


def write(name: str, rows: list[dict], provenance: dict, *, directory: str | Path | None = None,
          overwrite: bool = False) -> Path:
    """Write ``<stem>.csv`` and ``<stem>.json`` into ``directory`` (default: the checkout's
    ``data/``) and record the CSV's SHA-256 in its ``SHA256SUMS``. Refuses to replace stored
    files unless ``overwrite``; each file is written to a temporary name and moved into place."""
    stem = _stem(name)
    d = data_dir() if directory is None else Path(directory)
    if not d.is_dir():
        raise ValueError(f"directory={str(d)!r} is not a folder")
    csv_path, json_path = d / f"{stem}.csv", d / f"{stem}.json"
    if not overwrite and (csv_path.exists() or json_path.exists()):
        raise FileExistsError(f"{csv_path} exists: pass overwrite=True (--overwrite) to replace the stored result")
    raw = _csv_bytes(rows)
    provenance = {**provenance, "rows": len(rows), "sha256": hashlib.sha256(raw).hexdigest()}
    sums_path = d / "SHA256SUMS"
    sums = {}
    if sums_path.exists():
        sums = dict(line.split()[::-1] for line in sums_path.read_text().splitlines() if line.strip())
    sums[csv_path.name] = provenance["sha256"]
    for path, data in ((csv_path, raw), (json_path, (json.dumps(provenance, indent=1) + "\n").encode()),
                       (sums_path, "".join(f"{h}  {f}\n" for f, h in sorted(sums.items())).encode())):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return csv_path


def load(name: str = "practice-full", *, directory: str | Path | None = None) -> tuple[list[dict], dict]:
    """Rows and provenance of a stored result; ``ValueError`` if its SHA-256 is not the one in
    ``SHA256SUMS`` (the file was changed by hand) or it is missing."""
    stem = _stem(name)
    d = data_dir() if directory is None else Path(directory)
    csv_path = d / f"{stem}.csv"
    if not csv_path.is_file():
        raise ValueError(f"no stored result {name!r} in {d}: run `stelib results compute {name}`")
    raw = csv_path.read_bytes()
    sums = dict(line.split()[::-1] for line in (d / "SHA256SUMS").read_text().splitlines() if line.strip())
    digest = hashlib.sha256(raw).hexdigest()
    if sums.get(csv_path.name) != digest:
        raise ValueError(f"{csv_path.name} has SHA-256 {digest}, SHA256SUMS records {sums.get(csv_path.name)}")
    rows = [{**r, "bits": int(r["bits"]), "seed": int(r["seed"]), "epochs": int(r["epochs"]),
             "value": float(r["value"])} for r in csv.DictReader(raw.decode().splitlines())]
    return rows, json.loads((d / f"{stem}.json").read_text())


def check(name: str = "practice-full", *, archs=None, seeds=None, directory: str | Path | None = None,
          progress: Callable[[str], None] | None = None, record: bool = False) -> list[dict]:
    """Recompute the units of ``archs`` x ``seeds`` (default: all) and compare them with the
    stored rows. Returns the rows that differ: accuracies must be equal, losses within
    ``LOSS_RTOL`` (relative). Each returned row has ``stored`` and ``recomputed``. With
    ``record``, the outcome is appended to the provenance's ``checks`` list (:func:`record_check`)."""
    stored, _ = load(name, directory=directory)
    new, prov = compute(name, archs=archs, seeds=seeds, progress=progress)
    key = lambda r: tuple(r[c] for c in COLUMNS[:-1])  # noqa: E731
    old = {key(r): r["value"] for r in stored}
    bad = []
    for r in new:
        s = old.get(key(r))
        same = s is not None and (s == r["value"] if r["metric"] == "test_accuracy"
                                  else math.isclose(s, r["value"], rel_tol=LOSS_RTOL))
        if not same:
            bad.append({**{c: r[c] for c in COLUMNS[:-1]}, "stored": s, "recomputed": r["value"]})
    if record:
        record_check(name, prov, compared=len(new), differences=bad, directory=directory)
    return bad


def record_check(name: str, computed: dict, *, compared: int, differences: list[dict],
                 directory: str | Path | None = None) -> Path:
    """Append one check to the ``checks`` list of ``<stem>.json``: which units were recomputed,
    by which code and machine (``computed``: the recomputation's provenance, as :func:`compute`
    returns it), how many stored numbers were compared, and every one that differed with its
    stored and recomputed value (``differences``, as :func:`check` returns them; with them
    :func:`as_checked` rebuilds the rows as the check computed them). The JSON is rewritten
    through a temporary file; the CSV and its SHA-256 are not touched."""
    d = data_dir() if directory is None else Path(directory)
    path = d / f"{_stem(name)}.json"
    prov = json.loads(path.read_text())
    keep = ("parameters", "stelib", "git_commit", "torch", "numpy", "python", "device", "cpu",
            "cpu_capability", "threads", "wall_seconds")
    entry = {"command": f"stelib results check {name}", **{k: computed[k] for k in keep},
             "compared": compared, "differing": len(differences), "checked": computed["computed"],
             "differences": [dict(d) for d in differences]}
    par = entry.pop("parameters")
    entry["units"] = {k: par[k] for k in ("archs", "seeds")}
    prov["checks"] = [*prov.get("checks", []), entry]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(prov, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def as_checked(rows: list[dict], check: dict) -> list[dict]:
    """The stored ``rows`` with the recomputed value of every number that ``check`` (an entry of
    the provenance's ``checks``) found different: the rows as that check computed them."""
    key = lambda r: tuple(r[c] for c in COLUMNS[:-1])  # noqa: E731
    new = {key(d): d["recomputed"] for d in check["differences"]}
    missing = set(new) - {key(r) for r in rows}
    if missing:
        raise ValueError(f"check: {len(missing)} differences name rows that are not stored, e.g. {sorted(missing)[0]}")
    return [{**r, "value": new.get(key(r), r["value"])} for r in rows]


def checked_runs(rows: list[dict], prov: dict) -> dict[str, StoredRuns] | None:
    """:func:`runs_of` the rows as the last recorded check computed them, or None when no check
    is recorded or the last one found every number equal (nothing to compare)."""
    checks = prov.get("checks", [])
    if not checks or not checks[-1]["differences"]:
        return None
    return runs_of(as_checked(rows, checks[-1]))


def provenance_text(prov: dict) -> str:
    """What produced a stored result and its last recorded check, as the chapter prints it."""
    par = prov["parameters"]
    lines = [f"{prov['command']}: stelib {prov['stelib']}, commit {prov['git_commit'][:10]},",
             f"    torch {prov['torch']}, {prov['threads']} thread(s), {prov['wall_seconds']:.0f} s;",
             f"    epochs {par['epochs']} (full-precision start {par['pre_epochs']}), seeds {par['seeds']}"]
    checks = prov.get("checks", [])
    if not checks:
        return "\n".join(lines + ["    not checked since (stelib results check --record)"])
    c = checks[-1]
    units = f"{', '.join(c['units']['archs'])} x seeds {c['units']['seeds']}"
    lines += [f"last check ({len(checks)} recorded): {units}, commit {c['git_commit'][:10]},",
              f"    torch {c['torch']}, {c['cpu_capability']} kernels: {c['compared'] - c['differing']} of"
              f" {c['compared']} stored numbers agree",
              f"    (accuracies exactly, losses to a relative {LOSS_RTOL:g})"]
    if c["differing"]:
        where = sorted({(d["arch"], d["seed"]) for d in c["differences"]})
        units = "; ".join(f"{a} seed{'s' * (sum(x == a for x, _ in where) > 1)} "
                          f"{', '.join(str(sd) for x, sd in where if x == a)}"
                          for a in dict.fromkeys(x for x, _ in where))
        lines.append(f"    the {c['differing']} that differ: {units} (stored with {prov['cpu_capability']} kernels)")
    return "\n".join(lines)


def check_summary(prov: dict) -> str:
    """The last recorded check in one phrase, for prose: what it recomputed, on which kernels,
    and how many stored numbers it reproduced (or that none is recorded)."""
    checks = prov.get("checks", [])
    if not checks:
        return "no recorded recomputation yet"
    c = checks[-1]
    return (f"a recorded recomputation ({c['cpu_capability']} kernels, the stored run used "
            f"{prov['cpu_capability']}) reproduced {c['compared'] - c['differing']} of the "
            f"{c['compared']} stored numbers")


@dataclass(frozen=True)
class StoredRuns:
    """The stored runs of one network in the shape the practice report reads
    (:func:`stelib.practice_report.summary_frame`, ``yin_verdicts``): ``bits``, ``stes``,
    ``seeds``, ``final(metric)`` and ``diverged``; ``pretrained`` the full-precision start."""

    arch: str
    bits: tuple[int, ...]
    stes: tuple[str, ...]
    seeds: tuple[int, ...]
    train_loss: torch.Tensor  # (bits, stes, seeds, 1): the last record only
    test_accuracy: torch.Tensor
    pretrained: dict[str, torch.Tensor]  # metric -> (seeds,)

    @property
    def diverged(self) -> torch.Tensor:
        return ~torch.isfinite(self.train_loss[..., -1])

    def final(self, what: str = "test_accuracy") -> tuple[torch.Tensor, torch.Tensor]:
        x = getattr(self, what)[..., -1]
        return x.mean(dim=-1), (x.std(dim=-1) if x.shape[-1] > 1 else torch.zeros_like(x[..., 0]))


def runs_of(rows: list[dict]) -> dict[str, StoredRuns]:
    """``{arch: StoredRuns}`` from stored rows."""
    out = {}
    for arch in dict.fromkeys(r["arch"] for r in rows):
        q = [r for r in rows if r["arch"] == arch and r["model"] == "quantized"]
        bits = tuple(sorted({r["bits"] for r in q}))
        stes = tuple(dict.fromkeys(r["ste"] for r in q))
        seeds = tuple(sorted({r["seed"] for r in q}))
        val = {(r["metric"], r["bits"], r["ste"], r["seed"]): r["value"] for r in q}

        def grid(metric, bits=bits, stes=stes, seeds=seeds, val=val):
            return torch.tensor([[[[val.get((metric, b, s, sd), math.nan)] for sd in seeds] for s in stes]
                                 for b in bits], dtype=torch.float64, device="cpu")  # read from a file

        fp = {m: torch.tensor([r["value"] for r in rows if r["arch"] == arch and r["model"] == "full_precision"
                               and r["metric"] == m], dtype=torch.float64, device="cpu")
              for m in ("train_loss", "test_accuracy")}
        out[arch] = StoredRuns(arch, bits, stes, seeds, grid("train_loss"), grid("test_accuracy"), fp)
    return out
