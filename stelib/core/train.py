r"""Coarse gradient descent (CGD), batched over many independent runs.

Yin et al.'s Algorithm 1: the second layer follows the true gradient, the first layer the
coarse gradient of an STE,

.. math::

    v^{t+1} = v^t - \eta\,\partial_v f(v^t, w^t),\qquad
    w^{t+1} = w^t - \eta\, g_\mu(v^t, w^t).

``population_cgd`` uses closed-form expectations (a model with ``loss``, ``grad_v`` and
``expected_coarse_grad``, such as ``gaussian.YinModel`` or ``misspecified.LinearTeacherModel``);
``stochastic_cgd`` uses Monte Carlo mini-batches from any sampler. R runs (seeds x STEs x
learning rates) advance together as one tensor computation: runs are grouped by STE and each
group is one batched call per step, never a Python loop over runs.

Divergence: a non-finite v or w stops a single run (R = 1) with :class:`TrainingDiverged`
naming the step and learning rate; in a batched sweep the run is frozen, its later records
are NaN and ``History.diverged`` marks it.

Example
-------
>>> import torch
>>> from stelib.core.gaussian import YinModel
>>> model = YinModel(v_star=torch.ones(3, dtype=torch.float64), w_star=torch.tensor([1.0, 0.0], dtype=torch.float64))
>>> h = population_cgd(model, torch.zeros(4, 3), torch.randn(4, 2), ste="relu", lr=0.1, steps=100)
>>> h.loss.shape   # (recorded steps, runs)
torch.Size([101, 4])
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from stelib.core import _graphs
from stelib.core._closedform import device_path, flush, norm, polar, trusted
from stelib.core._validate import as_tensor, check_choice, check_positive_int
from stelib.core.rounding import fmt
from stelib.core.ste import check_ste, derivative_unchecked, names

DTYPE = torch.float64
RECORDED = ("loss", "theta", "w_norm", "grad_norm")  # a run's records besides the step
FUSED_MAX = 2**24  # record values (records x runs x 4) at most, for a graph that holds the records
FUSE_EVERY = 16  # steps between records at most, for a graph that holds the records
# Such a graph also needs 16 (record_every - 1) blocks at least: its capture runs three blocks op by
# op, which a loop of few long blocks does not repay (counted with tools/sync_count.py --ops).


class TrainingDiverged(FloatingPointError):
    """Raised when a single CGD run produces non-finite values."""


@dataclass(frozen=True)
class History:
    """What a batch of CGD runs did. Arrays indexed ``[record, run]`` unless stated.

    ``steps`` (T,) the recorded step numbers; ``loss``, ``theta`` (angle between w and the
    model's reference direction w* or a), ``w_norm`` = |w|, ``grad_norm`` = |g| (the coarse
    w-gradient; for stochastic runs the mini-batch one); ``v`` (R, m) and ``w`` (R, n) final
    values; ``ste`` and ``lr`` per run; ``diverged`` (R,) and ``diverged_step`` (R,) (-1 when
    finite throughout).
    """

    steps: torch.Tensor
    loss: torch.Tensor
    theta: torch.Tensor
    w_norm: torch.Tensor
    grad_norm: torch.Tensor
    v: torch.Tensor
    w: torch.Tensor
    ste: tuple[str, ...]
    lr: torch.Tensor
    diverged: torch.Tensor
    diverged_step: torch.Tensor

    @property
    def runs(self) -> int:
        return len(self.ste)

    def to(self, device) -> History:
        """The same history with every tensor on ``device`` (e.g. ``"cpu"`` to plot a CUDA run)."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    def cpu(self) -> History:
        """``self.to("cpu")``: for plotting, or for combining with CPU tensors."""
        return self.to("cpu")

    def select(self, ste: str) -> torch.Tensor:
        """Indices of the runs that used ``ste``."""
        check_ste(ste)
        return torch.tensor([i for i, s in enumerate(self.ste) if s == ste], dtype=torch.long,
                            device=self.diverged.device)

    def summary(self) -> str:
        """One line per STE: runs, diverged runs, median final loss and |w| (a loss below
        ``stelib.rounding.FLOOR`` as ``<1e-12``: its digits would be rounding)."""
        lines = []
        for ste in dict.fromkeys(self.ste):
            idx = self.select(ste)
            ok = idx[~self.diverged[idx]]
            loss = self.loss[-1, ok].median().item() if len(ok) else float("nan")
            norm = self.w_norm[-1, ok].median().item() if len(ok) else float("nan")
            lines.append(f"{ste:>8}: {len(idx)} runs, {int(self.diverged[idx].sum())} diverged, "
                         f"median final loss {fmt(loss)}, median final |w| {norm:.4g}")
        return "\n".join(lines)


def _runs_setup(v0, w0, ste, lr, on_divergence):
    v = as_tensor(v0, name="v0", ndim=2, dtype=DTYPE).clone()  # (R, m)
    w = as_tensor(w0, name="w0", ndim=2, dtype=DTYPE).clone()  # (R, n)
    R = v.shape[0]
    if R == 0:
        raise ValueError(f"v0 has shape {tuple(v.shape)}: no runs; give at least one row (one per run)")
    if w.shape[0] != R:
        raise ValueError(f"v0 has {R} runs (rows) but w0 has {w.shape[0]}; give one row per run")
    stes = (ste,) * R if isinstance(ste, str) else tuple(ste)
    if len(stes) != R:
        raise ValueError(f"ste has {len(stes)} entries for {R} runs; give one name or one per run")
    for s in stes:
        check_ste(s)
    lr_t = as_tensor(lr, name="lr", dtype=DTYPE).reshape(-1).to(v.device)
    if lr_t.numel() == 1:
        lr_t = lr_t.expand(R).clone()
    if lr_t.numel() != R or bool((lr_t <= 0).any()):
        raise ValueError(f"lr={lr!r} must be a positive number or one positive number per run ({R} runs)")
    mode = on_divergence or ("raise" if R == 1 else "mark")
    check_choice(mode, ("raise", "mark"), name="on_divergence")
    # Group runs by STE: contiguous slices of a permuted order, so each group is one call.
    registered = names()
    order = sorted(range(R), key=lambda i: registered.index(stes[i]))
    perm = torch.tensor(order, dtype=torch.long, device=v.device)
    groups, start = [], 0
    for s in registered:
        k = sum(1 for i in order if stes[i] == s)
        if k:
            groups.append((s, slice(start, start + k)))
        start += k
    return v[perm], w[perm], lr_t[perm], stes, perm, groups, mode


def _reference(model, n, device):
    """The model's unit reference direction (w* or a) on ``device`` (the runs'), or None."""
    for name in ("reference_direction", "w_star", "a"):
        d = getattr(model, name, None)
        if d is not None:
            d = as_tensor(d, name=name, dtype=DTYPE).reshape(-1).to(device)
            if d.shape == (n,):
                return d / torch.linalg.vector_norm(d)
    return None


def _theta(w, ref):
    if ref is None:
        return torch.full(w.shape[:1], float("nan"), dtype=DTYPE, device=w.device)
    # Kahan's formula 2 atan2(|w_hat - ref|, |w_hat + ref|): accurate near 0 and pi, where
    # arccos of a rounded cosine bottoms out at ~1e-8.
    w_hat = polar(w)[1]
    return 2.0 * torch.atan2(torch.linalg.vector_norm(w_hat - ref, dim=-1), torch.linalg.vector_norm(w_hat + ref, dim=-1))


def _finite_rows(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Runs whose v and w are finite, w != 0 and |w| finite, shape (R,), in one test: with s the
    largest |w_i|, s |w / s| is nan when w = 0 (0 / 0) or an entry of w is nan or inf (amax and
    maximum propagate nan; inf / inf), and otherwise the scaled norm of :func:`norm` (finite
    unless |w| itself overflows). Half the operations of testing each condition on its own (on a
    GPU's path this runs at every step)."""
    s = w.abs().amax(dim=1)
    scaled = s * torch.linalg.vector_norm(w / s[:, None], dim=1)
    return torch.isfinite(torch.maximum(scaled, v.abs().amax(dim=1)))


def _run(step_fn, loss_fn, v, w, lr, stes, perm, groups, mode, steps, record_every, ref, trace=None,
         graph=False):
    """The step loop. ``trace``, a list, receives ``(v, w)`` (runs in the caller's order) at
    every record: the path itself, for :func:`stelib.fields.cgd_path`. ``graph``: the step may be
    replayed as a CUDA graph (:mod:`stelib.core._graphs`; runs on a CUDA device only, and only a
    step that draws no random numbers and reads nothing back). With records at most
    :data:`FUSE_EVERY` steps apart (and no ``trace``) the graph holds a block of steps and the
    record that ends it: the rows go to buffers on the device (at most :data:`FUSED_MAX` values);
    the history is the same."""
    R = v.shape[0]
    inv = torch.argsort(perm)
    rec = {k: [] for k in ("steps", *RECORDED)}
    alive = torch.ones(R, dtype=torch.bool, device=v.device)
    dstep = torch.full((R,), -1, dtype=torch.long, device=v.device)

    sync_free = device_path(v)  # no host reads inside the loop

    def raise_diverged(i, t):
        raise TrainingDiverged(
            f"coarse gradient descent diverged at step {t} with learning rate lr={lr[i].item():g} "
            f"(ste={stes[int(perm[i])]!r}): v or w became non-finite, w reached 0 or the loss "
            "overflowed; try a smaller lr")

    def diverge(bad, t):
        """Stop the runs in ``bad`` at step t (raise for a single run; on the sync-free path the
        raise waits for the next record, with the step the run diverged at)."""
        if mode == "raise" and not sync_free and bool(bad.any()):
            raise_diverged(int(torch.nonzero(bad)[0]), t)
        dstep.copy_(torch.where(bad, t, dstep))  # in place: a CUDA graph's step holds these tensors
        alive.logical_and_(~bad)

    nan = torch.tensor(float("nan"), dtype=DTYPE, device=v.device)  # once: a copy from the host waits

    def measure(t, gnorm):
        """The record's four rows at step t (a number, or the step counter on the device), after
        stopping the finite runs whose loss overflows (no host read on the sync-free path)."""
        loss = loss_fn(v, w)
        bad = alive & ~torch.isfinite(loss)
        if sync_free or bool(bad.any()):  # finite v, w whose loss overflows: diverged too
            diverge(bad, t)
        return (torch.where(alive, loss, nan), torch.where(alive, _theta(w, ref), nan),
                torch.where(alive, norm(w)[:, 0], nan), torch.where(alive, gnorm, nan))

    def raise_if_diverged():
        if sync_free and mode == "raise" and bool((dstep >= 0).any()):  # one read per record
            i = int(torch.nonzero(dstep >= 0)[0])
            raise_diverged(i, int(dstep[i]))

    def record(t, gnorm):
        flush()  # the checks the closed forms kept since the last record (GPU; one read)
        values = measure(t, gnorm)
        raise_if_diverged()
        rec["steps"].append(t)
        for k, x in zip(RECORDED, values, strict=True):
            rec[k].append(x)
        if trace is not None:
            trace.append((v[inv], w[inv]))

    gv, gw = step_fn(v, w, groups)  # the start, with every check of the closed forms
    record(0, torch.linalg.vector_norm(gw, dim=-1))
    bufs = None
    with trusted():  # the loop keeps the runs finite and w nonzero: no per-step value checks
        if sync_free:  # no host reads: one step updates one set of tensors in place
            gv, gw = gv.clone(), gw.clone()
            t_dev = torch.zeros((), dtype=dstep.dtype, device=v.device)

            def advance():  # the careful test for every run, and no branch on its result
                t_dev.add_(1)
                v_new = v - lr[:, None] * gv
                w_new = w - lr[:, None] * gw
                diverge(alive & ~_finite_rows(v_new, w_new), t_dev)
                v.copy_(torch.where(alive[:, None], v_new, v))  # diverged runs stay at their last values
                w.copy_(torch.where(alive[:, None], w_new, w))
                g = step_fn(v, w, groups)
                gv.copy_(g[0])
                gw.copy_(g[1])

            state = [v, w, gv, gw, alive, dstep, t_dev]
            wanted = graph and _graphs.wanted(v.device, steps)
            blocks = steps // record_every  # steps between two records, then the record
            rows = blocks + 1 + (steps % record_every > 0)
            if (wanted and trace is None and record_every <= FUSE_EVERY and len(RECORDED) * rows * R <= FUSED_MAX
                    and blocks >= max(_graphs.MIN_BLOCKS, 16 * (record_every - 1))):  # see FUSE_EVERY
                # the graph holds a block: record_every steps and the record, whose rows go to
                # buffers on the device (the host reads only what the records read: checks kept
                # for later, and the divergence of a run that raises)
                bufs = [torch.full((rows, R), float("nan"), dtype=DTYPE, device=v.device) for _ in RECORDED]
                r_dev = torch.zeros((), dtype=torch.long, device=v.device)  # the last row written
                state += [*bufs, r_dev]

                def write_record():
                    r_dev.add_(1)
                    for b, x in zip(bufs, measure(t_dev, torch.linalg.vector_norm(gw, dim=-1)), strict=True):
                        b.index_copy_(0, r_dev.view(1), x[None])

                def close_record(t):  # what record() does besides the rows, written by the block
                    flush()
                    raise_if_diverged()
                    rec["steps"].append(t)

                def block():
                    for _ in range(record_every):
                        advance()
                    write_record()

                step = block
                for k in range(1, blocks + 1):
                    if k == 2:  # capture_step makes block 2
                        step = _graphs.capture_step(step, tuple(state)) or step
                    else:
                        step()
                    close_record(k * record_every)
                if steps % record_every:  # the last, shorter block, op by op
                    for _ in range(steps % record_every):
                        advance()
                    write_record()
                    close_record(steps)
            else:
                step = advance
                for t in range(1, steps + 1):
                    if t == 2 and wanted:  # capture_step makes step 2
                        step = _graphs.capture_step(advance, tuple(state)) or advance
                    else:
                        step()
                    if t % record_every == 0 or t == steps:
                        record(t, torch.linalg.vector_norm(gw, dim=-1))
        else:
            for t in range(1, steps + 1):
                v_new = v - lr[:, None] * gv
                w_new = w - lr[:, None] * gw
                finite = _finite_rows(v_new, w_new)
                if not bool(finite.all()):
                    diverge(alive & ~finite, t)
                if not bool(alive.all()):
                    v_new = torch.where(alive[:, None], v_new, v)  # diverged runs stay at their last values
                    w_new = torch.where(alive[:, None], w_new, w)
                v, w = v_new, w_new
                gv, gw = step_fn(v, w, groups)
                if t % record_every == 0 or t == steps:
                    record(t, torch.linalg.vector_norm(gw, dim=-1))
    if bufs is None:
        table = [torch.stack(rec[k]) for k in RECORDED]
    else:  # the rows on the device, and record 0, made before the loop
        table = bufs
        for k, b in zip(RECORDED, bufs, strict=True):
            b[0].copy_(rec[k][0])
    stack = {k: x[:, inv] for k, x in zip(RECORDED, table, strict=True)}
    return History(torch.tensor(rec["steps"], device=v.device), stack["loss"], stack["theta"], stack["w_norm"],
                   stack["grad_norm"], v[inv], w[inv], stes, lr[inv], ~alive[inv], dstep[inv])


def population_cgd(model, v0, w0, *, ste: str | tuple[str, ...], lr, steps: int,
                   record_every: int = 1, on_divergence: str | None = None) -> History:
    """CGD on the population loss with closed-form expected coarse gradients.

    ``v0`` (R, m), ``w0`` (R, n): one row per run; ``ste`` one name or one per run; ``lr`` a
    number or one per run. ``on_divergence`` is ``"raise"`` (default for R = 1) or ``"mark"``.
    """
    return _population_cgd(model, v0, w0, ste, lr, steps, record_every, on_divergence)


def _population_cgd(model, v0, w0, ste, lr, steps, record_every, on_divergence, trace=None) -> History:
    """:func:`population_cgd`, with the ``trace`` of :func:`_run`."""
    steps = check_positive_int(steps, name="steps", maximum=10**7)
    record_every = check_positive_int(record_every, name="record_every")
    missing = [a for a in ("m", "n", "loss", "grad_v", "expected_coarse_grad") if not hasattr(model, a)]
    if missing:
        raise ValueError(f"model={type(model).__name__} lacks {', '.join(missing)}: give a population "
                         "model such as gaussian.YinModel or misspecified.LinearTeacherModel")
    v, w, lr, stes, perm, groups, mode = _runs_setup(v0, w0, ste, lr, on_divergence)
    if (v.shape[1], w.shape[1]) != (model.m, model.n):
        raise ValueError(f"v0 rows have length {v.shape[1]} and w0 rows {w.shape[1]}; the model needs m={model.m}, n={model.n}")

    shared = getattr(model, "_coarse_step", None)  # the library's models: one geometry for both

    def step_fn(v, w, groups):
        if shared is not None:
            return shared(v, w, groups)
        gw = torch.cat([model.expected_coarse_grad(v[sl], w[sl], s) for s, sl in groups])
        return model.grad_v(v, w), gw

    return _run(step_fn, model.loss, v, w, lr, stes, perm, groups, mode, steps, record_every,
                _reference(model, w.shape[1], w.device), trace, graph=shared is not None)


def _minibatch_grads(v, w, Z, y, groups):
    """Mini-batch v-gradient and coarse w-gradients for R runs: Z (R, B, m, n), y (R, B)."""
    R, B, m, n = Z.shape
    Zf = Z.reshape(R, B * m, n)
    pre = torch.bmm(Zf, w[:, :, None]).reshape(R, B, m)  # (R, B, m)
    s = (pre > 0).to(DTYPE)
    r = (s * v[:, None, :]).sum(-1) - y  # (R, B)
    gv = (s * r[..., None]).mean(dim=1)  # (R, m)
    vr = v[:, None, :] * r[..., None]  # (R, B, m)
    mu = torch.cat([derivative_unchecked(pre[sl], s_) for s_, sl in groups])  # (R, B, m): names checked
    gw = torch.bmm((mu * vr).reshape(R, 1, B * m), Zf)[:, 0] / B  # (R, n)
    return gv, gw


def stochastic_cgd(sampler, v0, w0, *, ste: str | tuple[str, ...], lr, steps: int, batch_size: int,
                   generator: torch.Generator, record_every: int = 1, common_batches: bool = False,
                   on_divergence: str | None = None) -> History:
    """CGD with Monte Carlo mini-batches of ``batch_size`` fresh draws per step and run.

    ``sampler`` has ``sample(batch, generator) -> (Z, y_star)``. The mini-batches are drawn on
    the generator's device and moved to the runs' (``v0``'s): a seeded CPU generator gives the
    same mini-batches whether the runs live on the CPU or a GPU. With ``common_batches`` all
    runs see the same mini-batch at each step (common random numbers). The recorded loss is
    the closed-form population loss when the sampler has a ``loss(v, w)`` method, else the
    mini-batch loss.
    """
    steps = check_positive_int(steps, name="steps", maximum=10**7)
    batch_size = check_positive_int(batch_size, name="batch_size", maximum=10**7)
    record_every = check_positive_int(record_every, name="record_every")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    v, w, lr, stes, perm, groups, mode = _runs_setup(v0, w0, ste, lr, on_divergence)
    R = v.shape[0]
    last = {}

    def step_fn(v, w, groups):
        Z, y = sampler.sample(batch_size if common_batches else R * batch_size, generator)
        Z, y = Z.to(v.device), y.to(v.device)  # drawn on the generator's device, run on v0's
        if common_batches:
            Z, y = Z.expand(R, *Z.shape), y.expand(R, *y.shape)
        else:
            Z, y = Z.reshape(R, batch_size, *Z.shape[1:]), y.reshape(R, batch_size)
        if Z.shape[-2:] != (v.shape[1], w.shape[1]):
            raise ValueError(f"the sampler draws patches of shape {tuple(Z.shape[-2:])}; v0/w0 need ({v.shape[1]}, {w.shape[1]})")
        last["batch"] = (Z, y)
        return _minibatch_grads(v, w, Z, y, groups)

    def batch_loss(v, w):
        Z, y = last["batch"]
        pre = torch.bmm(Z.reshape(Z.shape[0], -1, Z.shape[-1]), w[:, :, None]).reshape(Z.shape[:3])
        r = ((pre > 0).to(DTYPE) * v[:, None, :]).sum(-1) - y
        return 0.5 * (r * r).mean(dim=1)

    loss_fn = sampler.loss if callable(getattr(sampler, "loss", None)) else batch_loss
    return _run(step_fn, loss_fn, v, w, lr, stes, perm, groups, mode, steps, record_every,
                _reference(sampler, w.shape[1], w.device))

