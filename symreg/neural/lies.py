"""LIES: a fixed network of log, identity, exp and sin units, trained sparse and read off.

After Montazerin, Al Aawar, Ortega & Srivastava (2025), *Sparse interpretable deep
learning with LIES networks for symbolic regression*; this is our own implementation
of the idea, in one file:

* **The network** (:class:`LIESNet`). Layer ``l`` sees every earlier feature (the
  inputs and the outputs of all earlier layers: dense skip connections) through one
  weight matrix, and applies one of four primitive units to each pre-activation:
  ``id``, ``exp``, ``sin``, ``log``. The output is a linear map of every feature.
  The inputs are the scaled columns ``x_j / s_j``, the standardised ``log|x_j|`` of
  the columns without zeros, and a constant 1 (the biases). Domains are made safe
  instead of trusted: ``log`` computes ``log(sqrt(z² + ε²))`` and ``exp`` clamps its
  argument; pre-activations outside the real domain (``z <= δ`` for log, ``z >
  exp_max`` for exp) pay a penalty that pushes them back, so that the formula read
  off later equals the network on the data.
* **Log space**. When ``y`` has one sign and no zeros, a second mode trains on
  ``log|y|``: a product of powers ``c·∏ x_j^a_j`` is then a linear model in the
  ``log|x_j|`` features (the output layer alone), and ``x·exp(-z)`` or
  ``x·sin(z)`` need one unit.
* **Training** (:func:`train`). Adam on the mean squared error of the standardised
  target plus an L1 penalty that is ramped in after a warm-up, with the
  worst-fit rows oversampled (re-weighted every few steps) so that a formula cannot
  ignore the corner of the input space where it is wrong, and with gradient
  clipping and a rollback on non-finite losses.
* **Pruning** (:func:`prune`). Each surviving weight is zeroed in turn and the loss
  increase measured; the least important are removed (hard threshold to 0 and
  masked) and the network is retrained without the L1 term; a removal that breaks
  the fit is undone with a smaller batch. Every accepted state is a snapshot: one
  candidate per sparsity level.
* **Read-off** (:func:`read_off`). From the output back through the surviving
  weights to a tree of ``symreg`` operators; input scalings fold into the weights.
  ``exp`` of a sum that holds logarithms becomes a product of powers
  (``exp(a·log u + b·log v + c) = e^c·u^a·v^b``), which is how the network writes
  products. Then :func:`~symreg.simplify.fold_constants`, a batched
  Levenberg–Marquardt fit of all constants
  (:func:`~symreg.constants.fit_constants`), rounding of near-integer and
  half-integer exponents when the refitted loss holds (:func:`snap_exponents`), and
  snapping of the other constants to nice values.

:class:`LIESProposer` runs restarts (log space first when it applies, then the plain
target; several seeds) until its time budget is spent or a formula fits exactly,
and returns the candidates of all sparsity levels, best first.

* **Groups** (:func:`group_weights`). A unit whose pre-activation weighs several
  ``log|x_j|`` features computes, or is a function of, the product of powers those
  weights spell: often the law's dimensionless group, learned even when the formula
  read off is only an approximation (``x₀·g^1.06·exp(0.41·g^1.27)`` for ``I₀(e^g −
  1)``). The proposer snaps and screens them (:mod:`symreg.neural.groups`) and leaves
  the ones the data support in ``reductions_``, for the regressor to search ``f`` in
  ``y = M·f(g)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..constants import fit_constants
from ..evaluate import evaluate_batch
from ..expression import Expression
from ..tree import integer_power
from .groups import find_reductions
from .proposer import Proposer

__all__ = ["UNITS", "LIESConfig", "LIESNet", "LIESProposer", "prune", "read_off",
           "snap_exponents", "train"]

#: the unit kinds and the operator each needs in the read-off formula
UNITS: dict[str, str | None] = {"id": None, "exp": "exp", "sin": "sin", "log": "log"}


@dataclass
class LIESConfig:
    """Settings of one LIES network and its training.

    Attributes
    ----------
    n_layers : int
        Hidden layers of primitive units.
    width : int
        Units of each kind per layer.
    units : tuple of str
        Unit kinds, from ``"id"``, ``"exp"``, ``"sin"``, ``"log"``.
    steps : int
        Adam steps of the dense phase.
    lr : float
        Adam learning rate.
    l1 : float
        Weight of the L1 penalty on all weights (reached after ``warmup``).
    warmup : float
        Fraction of ``steps`` trained without L1 before it is ramped in.
    init_std : float
        Standard deviation of the initial weights.
    log_eps : float
        ε of the smoothed ``log(sqrt(z² + ε²))``.
    log_margin : float
        δ: a log pre-activation below it pays ``penalty · (δ - z)``.
    exp_max : float
        Largest exp argument; above it the argument is clamped and pays the penalty.
    penalty : float
        Weight of the domain penalties.
    oversample_frac : float
        Share of rows counted as the worst-fit region.
    oversample_weight : float
        Weight of those rows in the loss (the others have weight 1).
    resample_every : int
        Steps between recomputations of the worst-fit rows.
    grad_clip : float
        Gradient norm clip.
    prune_rounds : int
        Most removal attempts of the pruning phase.
    prune_fraction : float
        Share of the surviving weights removed in one attempt (halved after a failure).
    retrain_steps : int
        Adam steps after each removal.
    prune_tol : float
        A removal is kept while the loss stays below ``(1 + prune_tol)`` times the
        best loss so far plus ``prune_abs`` (normalised MSE).
    prune_abs : float
        See ``prune_tol``. Generous on purpose: a few hundred Adam steps rarely
        regain the precision of the dense fit, while a removal that breaks the
        formula costs far more than 1e-3; every level is a candidate anyway, and the
        exact constant fit decides.
    max_rows : int
        Training rows (a fixed random subset of larger tables).
    """

    n_layers: int = 2
    width: int = 1
    units: tuple[str, ...] = ("id", "exp", "sin", "log")
    steps: int = 1000
    lr: float = 0.03
    l1: float = 2e-3
    warmup: float = 0.25
    init_std: float = 0.3
    log_eps: float = 1e-4
    log_margin: float = 1e-2
    exp_max: float = 8.0
    penalty: float = 1.0
    oversample_frac: float = 0.1
    oversample_weight: float = 4.0
    resample_every: int = 25
    grad_clip: float = 10.0
    prune_rounds: int = 12
    prune_fraction: float = 0.3
    retrain_steps: int = 100
    prune_tol: float = 1.0
    prune_abs: float = 1e-3
    max_rows: int = 512


# ----------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------

class LIESNet(nn.Module):
    """Layers of log/identity/exp/sin units with dense skip connections.

    Parameters
    ----------
    n_inputs : int
        Input features, the constant 1 included (the caller appends it).
    kinds : sequence of str
        Unit kind of each unit of one layer (every layer has the same units).
    n_layers : int
    config : LIESConfig
    generator : torch.Generator
        Source of the initial weights.

    The weights of layer ``l`` form a matrix ``[len(kinds), n_inputs + l·len(kinds)]``;
    a mask of the same shape marks the weights that are still alive.
    """

    def __init__(self, n_inputs: int, kinds: Sequence[str], n_layers: int, config: LIESConfig,
                 generator: torch.Generator):
        super().__init__()
        self.kinds = tuple(kinds)
        self.n_inputs = int(n_inputs)
        self.cfg = config
        u = len(self.kinds)
        self.weights = nn.ParameterList()
        masks = []
        for layer in range(n_layers + 1):
            rows = 1 if layer == n_layers else u
            w = torch.randn(rows, n_inputs + layer * u, generator=generator,
                            dtype=torch.float64) * config.init_std
            if layer < n_layers:
                # log units start in their domain: a bias of 1 keeps z away from 0
                for k, kind in enumerate(self.kinds):
                    if kind == "log":
                        w[k, n_inputs - 1] = 1.0
            self.weights.append(nn.Parameter(w))
            masks.append(torch.ones_like(w))
        self.masks = masks
        # units of one kind are contiguous (the caller groups them): one slice each
        self._slices: list[tuple[str, int, int]] = []
        for k, kind in enumerate(self.kinds):
            if self._slices and self._slices[-1][0] == kind:
                self._slices[-1] = (kind, self._slices[-1][1], k + 1)
            else:
                self._slices.append((kind, k, k + 1))
        if len({s[0] for s in self._slices}) != len(self._slices):
            raise ValueError(f"units of one kind must be contiguous: {self.kinds}")

    @property
    def n_layers(self) -> int:
        return len(self.weights) - 1

    def effective(self, layer: int) -> torch.Tensor:
        return self.weights[layer] * self.masks[layer]

    def forward(self, F: torch.Tensor, pre: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Output ``[n]`` and the domain penalty (a scalar); ``pre`` collects the
        pre-activations of each layer when given."""
        cfg = self.cfg
        H = F
        penalty = F.new_zeros(())
        for layer in range(self.n_layers):
            Z = H @ self.effective(layer).T
            if pre is not None:
                pre.append(Z.detach())
            parts = []
            for kind, lo, hi in self._slices:
                z = Z[:, lo:hi]
                if kind == "id":
                    a = z
                elif kind == "sin":
                    a = torch.sin(z)
                elif kind == "exp":
                    a = torch.exp(torch.clamp(z, max=cfg.exp_max))
                    penalty = penalty + torch.relu(z - cfg.exp_max).mean()
                else:  # log: smooth at 0, and pushed to stay in z > δ
                    a = 0.5 * torch.log(z * z + cfg.log_eps ** 2)
                    penalty = penalty + torch.relu(cfg.log_margin - z).mean()
                parts.append(a)
            H = torch.cat([H, *parts], dim=1)
        out = H @ self.effective(self.n_layers).T
        return out[:, 0], penalty

    def l1(self) -> torch.Tensor:
        return sum(self.effective(k).abs().sum() for k in range(len(self.weights)))

    def n_active(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks))

    def state(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """A snapshot: copies of the weights and the masks."""
        return ([w.detach().clone() for w in self.weights], [m.clone() for m in self.masks])

    def load(self, state) -> None:
        ws, ms = state
        with torch.no_grad():
            for p, w in zip(self.weights, ws):
                p.copy_(w)
        self.masks = [m.clone() for m in ms]


def _nmse(net: LIESNet, F: torch.Tensor, t: torch.Tensor) -> float:
    with torch.no_grad():
        out, _ = net(F)
        v = float(torch.mean((out - t) ** 2))
    return v if math.isfinite(v) else math.inf


def train(net: LIESNet, F: torch.Tensor, t: torch.Tensor, steps: int, *, l1: float,
          warmup: int = 0, deadline: float = math.inf) -> float:
    """Adam on the weighted squared error + L1 + domain penalties.

    The worst-fit ``oversample_frac`` of the rows get weight ``oversample_weight``,
    recomputed every ``resample_every`` steps. A non-finite loss rolls the weights
    back to the last finite state and halves the learning rate. Returns the final
    (unweighted) normalised MSE; stops early at ``deadline`` (``time.monotonic``).
    """
    cfg = net.cfg
    params = [p for p in net.weights]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    n = F.shape[0]
    weights = torch.ones(n, dtype=F.dtype)
    k_worst = max(1, round(cfg.oversample_frac * n))
    good = net.state()
    lr = cfg.lr
    for step in range(steps):
        if step % 50 == 0 and time.monotonic() > deadline:
            break
        if cfg.oversample_weight > 1 and step % cfg.resample_every == 0:
            with torch.no_grad():
                out, _ = net(F)
                r = (out - t) ** 2
                if torch.isfinite(r).all():
                    worst = torch.topk(r, k_worst).indices
                    weights = torch.ones(n, dtype=F.dtype)
                    weights[worst] = cfg.oversample_weight
                    weights = weights / weights.mean()
        # L1 ramps in linearly over the steps after the warm-up
        ramp = 0.0 if step < warmup else min(1.0, (step - warmup + 1) / max(1, (steps - warmup) // 2))
        out, pen = net(F)
        loss = torch.mean(weights * (out - t) ** 2) + cfg.penalty * pen
        if l1 > 0 and ramp > 0:
            loss = loss + l1 * ramp * net.l1()
        if not torch.isfinite(loss):
            net.load(good)
            lr *= 0.5
            if lr < 1e-5:
                break
            opt = torch.optim.Adam(params, lr=lr)
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p, m in zip(net.weights, net.masks):
            if p.grad is not None:
                p.grad.mul_(m)          # pruned weights stay at 0
                torch.nan_to_num_(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        if step % 50 == 49:
            good = net.state()
    return _nmse(net, F, t)


def _importance(net: LIESNet, F: torch.Tensor, t: torch.Tensor) -> list[tuple[float, int, int, int]]:
    """(loss increase when zeroed, layer, row, column) of every surviving weight."""
    base = _nmse(net, F, t)
    out = []
    with torch.no_grad():
        for layer, m in enumerate(net.masks):
            for r, c in torch.nonzero(m).tolist():
                m[r, c] = 0.0
                loss = _nmse(net, F, t)
                m[r, c] = 1.0
                out.append((loss - base, layer, r, c))
    out.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    return out


def prune(net: LIESNet, F: torch.Tensor, t: torch.Tensor, *, deadline: float = math.inf
          ) -> list[tuple[float, tuple]]:
    """Hard-threshold pruning with retraining; returns ``(nmse, state)`` snapshots,
    densest first (the state as given is the first)."""
    cfg = net.cfg
    with torch.no_grad():
        # weights that are already negligible go at once (hard threshold)
        for w, m in zip(net.weights, net.masks):
            m[(w.abs() < 1e-6)] = 0.0
    best = train(net, F, t, cfg.retrain_steps, l1=0.0, deadline=deadline)
    snaps = [(best, net.state())]
    frac = cfg.prune_fraction
    bulk = True          # until a removal fails, every negligible weight goes at once
    sub = F if F.shape[0] <= 256 else F[:256]     # importances on a subset: cheaper
    tsub = t[: sub.shape[0]]
    for _ in range(cfg.prune_rounds):
        if time.monotonic() > deadline or net.n_active() <= 1:
            break
        order = _importance(net, sub, tsub)
        k = max(1, int(frac * len(order)))
        if bulk:
            # weights into dead units and the like: their removal costs nothing
            negligible = sum(1 for d, *_ in order if d <= 1e-3 * cfg.prune_abs)
            k = max(k, min(negligible, len(order) - 1))
        before = net.state()
        with torch.no_grad():
            for _, layer, r, c in order[:k]:
                net.masks[layer][r, c] = 0.0
                net.weights[layer][r, c] = 0.0
        loss = train(net, F, t, cfg.retrain_steps, l1=0.0, deadline=deadline)
        if loss <= best * (1 + cfg.prune_tol) + cfg.prune_abs:
            best = min(best, loss)
            snaps.append((loss, net.state()))
        else:
            # the failed state can still be the right formula for a better fit
            snaps.append((loss, net.state()))
            net.load(before)
            if k == 1:
                break
            if bulk:
                bulk = False
            else:
                frac = max(frac / 2, 0.5 / len(order))
    return snaps


def group_weights(net: LIESNet, feats: _Features, n_columns: int) -> list[np.ndarray]:
    """Each hidden unit's weights on the ``log|x_j|`` features, as exponents of
    the ``x_j`` (``[n_columns]``; a column without a log feature gets 0): the
    product of powers, the candidate group, that the unit computes or is a
    function of (see :mod:`symreg.neural.groups`). Units that see fewer than two
    log features are left out."""
    cols = [(k, int(base[1][1:] if isinstance(base[1], str) else base[1][1][1:]))
            for k, base in enumerate(feats.bases)
            if isinstance(base, tuple) and base[0] == "log"]
    out = []
    for layer in range(net.n_layers):
        W = net.effective(layer).detach().numpy()
        for row in W:
            e = np.zeros(n_columns)
            for k, j in cols:
                e[j] = row[k] * feats.a[k]
            if np.count_nonzero(np.abs(e) > 1e-6) >= 2:
                out.append(e)
    return out


# ----------------------------------------------------------------------------
# features of the data
# ----------------------------------------------------------------------------

@dataclass
class _Features:
    """Network inputs and how to read them back: feature ``k`` equals
    ``a[k]·tree(base[k]) + b[k]``; the last feature is the constant 1 (base None)."""

    F: np.ndarray
    bases: list
    a: list[float]
    b: list[float]


def _scale(v: np.ndarray) -> float:
    """Root mean square, computed without overflow; 1 for an all-zero column."""
    m = float(np.max(np.abs(v))) if v.size else 0.0
    if not math.isfinite(m) or m == 0.0:
        return 1.0
    return float(m * np.sqrt(np.mean((v / m) ** 2)))


def _features(X: np.ndarray, use_log: bool) -> _Features:
    cols, bases, a, b = [], [], [], []
    for j in range(X.shape[1]):
        x = X[:, j]
        s = _scale(x)
        cols.append(x / s)
        bases.append(f"x{j}")
        a.append(1.0 / s)
        b.append(0.0)
    if use_log:
        for j in range(X.shape[1]):
            x = X[:, j]
            if np.any(x == 0):
                continue
            with np.errstate(all="ignore"):
                lx = np.log(np.abs(x))
            sd = float(np.std(lx))
            if not np.all(np.isfinite(lx)) or sd < 1e-9:
                continue
            m = float(np.mean(lx))
            if np.all(x > 0):
                arg = f"x{j}"
            elif np.all(x < 0):
                arg = ("neg", f"x{j}")
            else:
                arg = ("abs", f"x{j}")
            cols.append((lx - m) / sd)
            bases.append(("log", arg))
            a.append(1.0 / sd)
            b.append(-m / sd)
    cols.append(np.ones(X.shape[0]))
    bases.append(None)
    a.append(1.0)
    b.append(0.0)
    return _Features(np.stack(cols, axis=1), bases, a, b)


# ----------------------------------------------------------------------------
# read-off: the network as a tree of symreg operators
# ----------------------------------------------------------------------------
# A linear form is ``(terms, const)`` with terms {key: [coef, base tree]}; trees are
# the nested tuples of symreg.simplify (floats, "x<i>", (op, child, ...)).

def _key(tree) -> str:
    return repr(tree)


def _add_term(terms: dict, tree, coef: float) -> None:
    k = _key(tree)
    if k in terms:
        terms[k][0] += coef
    else:
        terms[k] = [coef, tree]


def _sum_tree(terms: dict, const: float):
    """``Σ coef·tree + const`` as a tree (terms in a fixed order)."""
    parts = []
    for k in sorted(terms):
        c, tree = terms[k]
        if c == 0.0:
            continue
        parts.append(tree if c == 1.0 else ("mul", float(c), tree))
    if not parts:
        return float(const)
    out = parts[0]
    for p in parts[1:]:
        out = ("add", out, p)
    if const != 0.0:
        out = ("add", out, float(const))
    return out


def _power(base, e: float):
    """``base ** e`` for a float exponent; an even integer power drops abs/neg."""
    if e == 1.0:
        return base
    if e == int(e) and int(e) % 2 == 0 and isinstance(base, tuple) and base[0] in ("abs", "neg"):
        base = base[1]
    return ("pow", base, float(e))


def _exp_tree(terms: dict, const: float):
    """``exp(Σ coef·tree + const)`` with the logarithms turned into powers:
    ``exp(a·log u + rest + c) = e^c · u^a · exp(rest)``."""
    num, den = [], []          # factors with positive and negative exponents
    rest: dict = {}
    for k in sorted(terms):
        c, tree = terms[k]
        if c == 0.0:
            continue
        if isinstance(tree, tuple) and tree[0] == "log":
            if c > 0:
                num.append(_power(tree[1], c))
            else:
                den.append(_power(tree[1], -c))
        else:
            rest[k] = [c, tree]
    if rest:
        num.append(("exp", _sum_tree(rest, 0.0)))
    scale = float(math.exp(const)) if const < 700 else math.inf

    def product(factors):
        out = factors[0]
        for f in factors[1:]:
            out = ("mul", out, f)
        return out

    top = product(num) if num else None
    if top is None:
        top = scale
    elif scale != 1.0:
        top = ("mul", scale, top)
    # a quotient reads as physics writes it: c*u*v/(w*z**2)
    return ("div", top, product(den)) if den else top


def read_off(net: LIESNet, feats: _Features, F: torch.Tensor, *, out_scale: float = 1.0,
             out_shift: float = 0.0, log_target: float = 0.0):
    """The tree of the network's formula.

    The network's output ``o`` maps back to the target by ``o·out_scale + out_shift``;
    with ``log_target`` = ±1 that is ``log|y|`` and the formula is
    ``log_target · exp(o·out_scale + out_shift)``. The sign of each log unit's
    pre-activation on the rows ``F`` decides ``log(z)``, ``log(-z)`` or ``log|z|``.
    """
    pre: list = []
    with torch.no_grad():
        net(F, pre)
    n_in = net.n_inputs
    n_units = len(net.kinds)
    # linear forms of every feature: inputs, then units layer by layer
    forms: list[tuple[dict, float]] = []
    for k in range(n_in):
        if feats.bases[k] is None:
            forms.append(({}, 1.0))
        else:
            forms.append(({_key(feats.bases[k]): [feats.a[k], feats.bases[k]]}, feats.b[k]))

    def combine(weights: torch.Tensor) -> tuple[dict, float]:
        terms: dict = {}
        const = 0.0
        for i, w in enumerate(weights.tolist()):
            if w == 0.0:
                continue
            f_terms, f_const = forms[i]
            for c, tree in f_terms.values():
                _add_term(terms, tree, w * c)
            const += w * f_const
        return terms, const

    for layer in range(net.n_layers):
        W = net.effective(layer).detach()
        Z = pre[layer]
        for u, kind in enumerate(net.kinds):
            terms, const = combine(W[u])
            if kind == "id":
                forms.append((terms, const))
                continue
            if not terms:          # a constant unit: folded later
                inner = float(const)
            else:
                inner = _sum_tree(terms, const)
            if kind == "exp":
                tree = _exp_tree(terms, const)
            elif kind == "sin":
                tree = ("sin", inner)
            else:
                z = Z[:, u]
                if bool((z > 0).all()):
                    tree = ("log", inner)
                elif bool((z < 0).all()):
                    tree = ("log", ("neg", inner))
                else:
                    tree = ("log", ("abs", inner))
            forms.append(({_key(tree): [1.0, tree]}, 0.0))
        assert len(forms) == n_in + (layer + 1) * n_units
    terms, const = combine(net.effective(net.n_layers).detach()[0])
    for v in terms.values():
        v[0] *= out_scale
    const = const * out_scale + out_shift
    if log_target:
        tree = _exp_tree(terms, const)
        return tree if log_target > 0 else ("neg", tree)
    return _sum_tree(terms, const)


# ----------------------------------------------------------------------------
# exponents
# ----------------------------------------------------------------------------

def _nice_exponent(e: float, tol: float = 0.12) -> float | None:
    """The nearest integer or half-integer to ``e`` within ``tol`` (integers first)."""
    if not math.isfinite(e) or abs(e) > 8:
        return None
    r = round(e)
    if abs(e - r) <= tol:
        return float(r)
    h = round(2 * e) / 2
    if abs(e - h) <= tol / 2:
        return float(h)
    return None


def _structural_power(g, e: float):
    """``g ** e`` for an integer or half-integer ``e`` without a constant exponent."""
    if e == 0:
        return 1.0
    m = abs(e)
    if m != int(m):
        node = ("sqrt", integer_power(g, round(2 * m)))
    else:
        node = integer_power(g, int(m))
    return ("inv", node) if e < 0 else node


def _pow_sites(tree, path=()) -> list[tuple[tuple, object, float]]:
    """(path, base, exponent) of every ``pow(g, constant)`` node."""
    if not isinstance(tree, tuple):
        return []
    out = []
    if tree[0] == "pow" and type(tree[2]) is float:
        out.append((path, tree[1], tree[2]))
    for i, child in enumerate(tree[1:], start=1):
        out.extend(_pow_sites(child, path + (i,)))
    return out


def _replace(tree, path: tuple, new):
    if not path:
        return new
    i = path[0]
    return tree[:i] + (_replace(tree[i], path[1:], new),) + tree[i + 1:]


def snap_exponents(expr: Expression, X: np.ndarray, y: np.ndarray, loss: float, *,
                   seed: int = 0) -> tuple[Expression, float]:
    """Round near-integer and half-integer constant exponents when the fit holds.

    Every ``pow(g, c)`` whose ``c`` is within 0.12 of an integer (0.06 of a half)
    is written as that power without a constant (``square``, ``sqrt``, ``inv``,
    ...), and the remaining constants are refitted. All exponents at once are tried
    first, then each alone and the passing ones together. A version with ``k``
    rounded exponents is kept when its loss is at most ``exp(2k/n)`` times ``loss``
    (the AIC allowance) or at the round-off floor.
    """
    from ..simplify import fold_constants
    from ..tree import expression_to_tree, tree_to_expression

    tree = expression_to_tree(expr)
    sites = [(p, g, _nice_exponent(e)) for p, g, e in _pow_sites(tree)]
    sites = [(p, g, v) for p, g, v in sites if v is not None]
    if not sites or not math.isfinite(loss):
        return expr, loss
    n = max(len(y), 1)
    floor = 1e-20 * float(np.mean(y * y))

    def ok(value: float, k: int) -> bool:
        return math.isfinite(value) and value <= max(loss * math.exp(2.0 * k / n), floor)

    def variant(chosen) -> Expression:
        t = tree
        # deepest paths first so that earlier replacements do not move later ones
        for p, g, v in sorted(chosen, key=lambda s: -len(s[0])):
            t = _replace(t, p, _structural_power(g, v))
        return fold_constants(tree_to_expression(t, expr.variable_names))

    def fit(variants: list[Expression]) -> tuple[list[Expression], np.ndarray]:
        with_c = [i for i, v in enumerate(variants) if v.n_constants]
        out = list(variants)
        losses = np.array(evaluate_batch(variants, X, y, dtype=torch.float64, device="cpu"))
        if with_c:
            fitted, fl = fit_constants([variants[i] for i in with_c], X, y, n_restarts=1,
                                       max_iter=60, seed=seed)
            for i, f, lo in zip(with_c, fitted, fl.tolist()):
                if lo < losses[i] or not math.isfinite(losses[i]):
                    out[i], losses[i] = f, lo
        return out, losses

    try:
        singles = [[s] for s in sites] if len(sites) > 1 else []
        cands, losses = fit([variant(sites)] + [variant(s) for s in singles])
        if ok(losses[0], len(sites)):
            return cands[0], float(losses[0])
        passing = [s[0] for s, lo in zip(singles, losses[1:]) if ok(lo, 1)]
        if not passing:
            return expr, loss
        if len(passing) == 1:
            i = singles.index([passing[0]]) + 1
            return cands[i], float(losses[i])
        both, bl = fit([variant(passing)])
        if ok(bl[0], len(passing)):
            return both[0], float(bl[0])
        i = 1 + int(np.argmin(losses[1:]))
        return cands[i], float(losses[i])
    except Exception:  # noqa: BLE001 - never lose the unsnapped candidate
        return expr, loss


# ----------------------------------------------------------------------------
# the proposer
# ----------------------------------------------------------------------------

def _tidy(expr: Expression) -> Expression:
    """``expr`` without terms whose factor is exactly 0 (``0*g`` -> 0, ``g + 0`` -> g)
    and with constants taken out of exponentials (``exp(g + c)`` -> ``e^c·exp(g)``).

    :func:`~symreg.simplify.fold_constants` keeps ``0*g`` because it changes
    the domain; here ``expr`` is known to be finite on the data, and a snapped
    weight of 0 means the term does not belong to the formula. The constant inside
    an exponential duplicates the factor in front, which the fold then merges.
    """
    from ..simplify import fold_constants
    from ..tree import expression_to_tree, tree_to_expression

    def walk(node):
        if not isinstance(node, tuple):
            return node
        args = tuple(walk(a) for a in node[1:])
        op = node[0]
        if op == "mul" and (args[0] == 0.0 or args[1] == 0.0):
            return 0.0
        if op == "div" and args[0] == 0.0:
            return 0.0
        if op in ("add", "sub") and args[1] == 0.0:
            return args[0]
        if op == "add" and args[0] == 0.0:
            return args[1]
        if op == "sub" and args[0] == 0.0:
            return ("neg", args[1])
        if (op == "exp" and isinstance(args[0], tuple) and args[0][0] == "add"
                and type(args[0][2]) is float and abs(args[0][2]) < 700):
            return ("mul", math.exp(args[0][2]), ("exp", args[0][1]))
        return (op,) + args

    try:
        tree = walk(expression_to_tree(expr))
        return fold_constants(tree_to_expression(tree if isinstance(tree, (tuple, str))
                                                 else float(tree), expr.variable_names))
    except Exception:  # noqa: BLE001
        return expr


def _allowed_ok(expr: Expression, allowed: frozenset[str] | None) -> Expression | None:
    """``expr`` written with the allowed operators (``pow`` as ``exp(c·log g)``
    when needed), or None."""
    if allowed is None:
        return expr
    from ..simplify import rewrite_operators
    from ..tree import expression_to_tree, tree_to_expression

    if "pow" in expr.tokens and "pow" not in allowed:
        def walk(node):
            if not isinstance(node, tuple):
                return node
            args = tuple(walk(a) for a in node[1:])
            if node[0] == "pow" and type(args[1]) is float and args[1] != int(args[1]):
                return ("exp", ("mul", args[1], ("log", args[0])))
            return (node[0],) + args
        expr = tree_to_expression(walk(expression_to_tree(expr)), expr.variable_names)
    out = rewrite_operators(expr, allowed)
    if out is None or any(t in _OPERATOR_NAMES and t not in allowed for t in out.tokens):
        return None
    return out


def _operator_names() -> frozenset[str]:
    from .. import operators as ops

    return frozenset(ops.OPERATORS)


_OPERATOR_NAMES = _operator_names()


class LIESProposer(Proposer):
    """Candidate formulas read off sparse LIES networks.

    Parameters
    ----------
    config : LIESConfig, optional
        Network and training settings.
    max_restarts : int
        Most networks trained per call.
    n_threads : int, optional
        Torch threads during the call (restored afterwards); ``None`` keeps the
        current setting. One by default: the tensors are small, and more threads
        only contend (on a loaded 2-core machine a step became 15 times slower).

    Notes
    -----
    Restarts cycle through the log-space mode (when ``y`` has one sign and no
    zeros), the plain target with ``log|x|`` inputs and the plain target without
    them, with seeds ``seed, seed + 1, ...``; they stop at the
    time budget, at ``max_restarts``, or once a formula fits to round-off. Results
    depend only on the seed as long as the budget lets every restart finish (step
    counts are fixed; the clock only cuts them short).
    """

    name = "lies"

    def __init__(self, config: LIESConfig | None = None, max_restarts: int = 8,
                 n_threads: int | None = 1):
        self.config = config if config is not None else LIESConfig()
        self.max_restarts = int(max_restarts)
        self.n_threads = n_threads

    def propose(self, X: np.ndarray, y: np.ndarray, *, n: int = 32, time_budget: float = 10.0,
                seed: int = 0, operators: Sequence[str] | None = None,
                variable_names: Sequence[str] | None = None) -> list[Expression]:
        """Train LIES networks and return up to ``n`` formulas, best first.

        See :meth:`symreg.neural.proposer.Proposer.propose`. Never raises on
        numerical trouble: a restart that fails contributes nothing.
        """
        start = time.monotonic()
        deadline = start + max(0.0, float(time_budget))
        self.reductions_ = []
        old_threads = torch.get_num_threads()
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        try:
            out = self._propose(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                int(n), deadline, int(seed), operators)
        finally:
            if self.n_threads is not None:
                torch.set_num_threads(old_threads)
        if variable_names is not None:
            out = [e.with_names(variable_names) for e in out]
        return out

    # -- the work ------------------------------------------------------------------
    def _propose(self, X, y, n, deadline, seed, operators) -> list[Expression]:
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        keep = np.isfinite(y) & np.isfinite(X).all(axis=1)
        X, y = X[keep], y[keep]
        if len(y) < 3 or n < 1:
            return []
        allowed = None if operators is None else frozenset(operators)
        mean_y = float(np.mean(y))
        std_y = _scale(y - mean_y)
        if std_y == 1.0 and np.all(y == mean_y):   # a constant target
            return [Expression(["C"], [mean_y])]
        kinds = [k for k in self.config.units
                 if UNITS.get(k, "?") is None or allowed is None or UNITS[k] in allowed]
        kinds = [k for k in kinds for _ in range(self.config.width)]   # grouped by kind
        rng = np.random.default_rng(seed)
        rows = (np.sort(rng.choice(len(y), self.config.max_rows, replace=False))
                if len(y) > self.config.max_rows else np.arange(len(y)))
        Xt, yt = X[rows], y[rows]
        positive = bool(np.all(y > 0)) or bool(np.all(y < 0))
        # log|x| inputs are read back as powers (or logs): they need one of these
        log_inputs = allowed is None or bool(allowed & {"log", "pow", "mul", "div"})
        with_log = _features(Xt, log_inputs)
        plain = _features(Xt, False)
        # (target, inputs) of the restarts, in turn: log space first when it applies
        # (a product of powers is linear there), then the plain target with and
        # without the log|x| inputs (which make products easy but sums harder to
        # read: the network likes to approximate x by a mixture of log x terms)
        modes = ([("log", with_log), ("raw", with_log), ("raw", plain)] if positive
                 else [("raw", with_log), ("raw", plain)])
        with np.errstate(over="ignore"):
            var_y = float(np.var(y))
        var_y = var_y if 0 < var_y < math.inf else 1.0
        pool: dict[tuple, tuple[Expression, float]] = {}
        groups: list[np.ndarray] = []   # exponent vectors the networks learned
        budget_total = max(deadline - time.monotonic(), 0.0)
        # time kept for reading off, fitting and snapping the last network
        reserve = min(1.5, 0.15 * budget_total)
        last = 0.0
        for r in range(self.max_restarts):
            t0 = time.monotonic()
            # a restart cut short by the clock trains badly: start one only when
            # about half the previous one's time is left
            if deadline - reserve - t0 < max(0.05 * budget_total, 0.5 * last):
                break
            mode, feats = modes[r % len(modes)]
            try:
                trees, learned = self._restart(mode, Xt, yt, feats, kinds, seed + r,
                                               deadline - reserve)
                groups += learned
                new = self._finish(trees, X, y, allowed, seed + r, deadline)
            except Exception:  # noqa: BLE001, S112 - numerical trouble: this restart adds nothing
                continue
            finally:
                last = time.monotonic() - t0
            for e, loss in new:
                k = (e.tokens, np.round(e.constants, 8).tobytes())
                if k not in pool or loss < pool[k][1]:
                    pool[k] = (e, loss)
            if any(loss <= 1e-14 * var_y for _, loss in new):
                break        # a formula fits to round-off: nothing more to find here
        # the groups the networks learned, kept where the data bear them out
        self.reductions_ = find_reductions(X, y, groups)
        ranked = sorted(pool.values(),
                        key=lambda el: (math.log10(max(el[1] / var_y, 1e-14))
                                        + 0.04 * el[0].complexity, el[0].complexity))
        return [e for e, _ in ranked[:n]]

    def _restart(self, mode: str, X, y, feats: _Features, kinds, seed: int,
                 deadline: float) -> tuple[list, list[np.ndarray]]:
        """Train, prune and read off one network; returns its trees (one per
        sparsity level) and its units' exponent vectors (:func:`group_weights`)."""
        cfg = self.config
        F = torch.tensor(feats.F, dtype=torch.float64)
        if mode == "log":
            ly = np.log(np.abs(y))
            shift, scale = float(np.mean(ly)), _scale(ly - np.mean(ly))
            t = torch.tensor((ly - shift) / scale, dtype=torch.float64)
            sign = 1.0 if y[0] > 0 else -1.0
        else:
            shift = float(np.mean(y))
            scale = _scale(y - shift)
            t = torch.tensor((y - shift) / scale, dtype=torch.float64)
            sign = 0.0
        gen = torch.Generator().manual_seed(int(seed))
        net = LIESNet(F.shape[1], kinds, cfg.n_layers, cfg, gen)
        # a shuffled row order, so that the importance subset is a random one
        perm = torch.randperm(F.shape[0], generator=gen)
        Fp, tp = F[perm], t[perm]
        train(net, Fp, tp, cfg.steps, l1=cfg.l1, warmup=int(cfg.warmup * cfg.steps),
              deadline=deadline)
        snaps = prune(net, Fp, tp, deadline=deadline)
        trees, groups = [], []
        for _, state in snaps:
            net.load(state)
            groups += group_weights(net, feats, X.shape[1])
            trees.append(read_off(net, feats, Fp, out_scale=scale, out_shift=shift,
                                  log_target=sign))
        return trees, groups

    def _finish(self, trees: list, X, y, allowed, seed: int, deadline: float
                ) -> list[tuple[Expression, float]]:
        """Trees -> folded, fitted, snapped expressions with their losses."""
        from ..simplify import fold_constants, snap_constants
        from ..tree import tree_to_expression

        exprs: dict[tuple, Expression] = {}
        for tree in trees:
            try:
                e = _tidy(fold_constants(tree_to_expression(tree, check=True)))
            except Exception:  # noqa: BLE001, S112 - an odd tree is skipped
                continue
            if len(e) > 80:
                continue
            exprs.setdefault(e.tokens, e)
        cands = list(exprs.values())
        if not cands:
            return []
        fitted, losses = fit_constants(cands, X, y, n_restarts=1, max_iter=60, seed=seed)
        # the read-off constants themselves can be better than a failed refit
        raw = np.array(evaluate_batch(cands, X, y, dtype=torch.float64, device="cpu"))
        out = []
        order = np.argsort(np.minimum(losses, raw), kind="stable")
        for rank, i in enumerate(order.tolist()):
            e, loss = (fitted[i], float(losses[i])) if losses[i] <= raw[i] else (cands[i], float(raw[i]))
            if not math.isfinite(loss):
                continue
            e = fold_constants(e)
            if rank < 6 and time.monotonic() < deadline:
                # the most accurate few: round exponents, then snap the other constants
                e, loss = snap_exponents(e, X, y, loss, seed=seed)
                if e.n_constants:
                    e, loss = snap_constants(e, X, y, loss, device="cpu")
                    e = _tidy(fold_constants(e))
            e = _allowed_ok(e, allowed)
            if e is None:
                continue
            out.append((e, loss))
        return out

