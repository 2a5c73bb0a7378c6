"""Read-off: a trained LIES network as a nested-tuple tree of symreg operators.

Input scalings fold into the weights; ``exp`` of a sum that holds logarithms
becomes a product of powers (``exp(a·log u + b·log v + c) = e^c·u^a·v^b``).
:func:`group_weights` reads each unit's weights on the ``log|x_j|`` features as
the exponents of a candidate dimensionless group.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...tree import TreeBuilder
from .model import LIESNet, _Features

__all__ = ["group_weights", "read_off"]

# writes ``pow(base, e)`` for a float exponent (every operator allowed)
_WRITE = TreeBuilder(None)


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
    """``base ** e`` for a float exponent; an even integer power drops abs/neg.

    The read-off keeps the learned exponent as a constant (``pow(base, e)``, which
    :meth:`~symreg.tree.TreeBuilder.power` writes for a float); rounding it to a
    structural power is :func:`~symreg.neural.lies.polish.snap_exponents`' job,
    after the refit."""
    if e == 1.0:
        return base
    if e == int(e) and int(e) % 2 == 0 and isinstance(base, tuple) and base[0] in ("abs", "neg"):
        base = base[1]
    return _WRITE.power(base, float(e))


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
