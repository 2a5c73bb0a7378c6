"""Batched constant fitting.

All expressions of a batch are fitted at once: one compiled program carries
every expression (and every restart of it), forward-mode derivatives give the
Jacobian with respect to each expression's own constants, and each
Levenberg–Marquardt iteration solves all the small normal equations in one
batched ``torch.linalg.solve``.

* With ``linear_scaling=True`` every expression ``f`` becomes ``a·f + b``;
  ``a`` and ``b`` start at their closed-form least-squares values, so an
  expression without constants of its own is fitted in closed form.
* Constants that enter linearly (see :func:`nonlinear_constant_mask`) need no
  restarts. Expressions with other constants get ``n_restarts`` extra
  starting points (:func:`starting_points`), run only when the fit from the
  given constants is not exact; the given constants win ties, so a refit
  never jumps between equivalent optima (``cos(C·x)``: ±C).
* The starts run as a stream (:func:`_fit_starts`): rows that converge leave
  the compiled program and queued ones take their place, one stream per
  number of constants so that the Jacobians are no wider than needed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

import numpy as np
import torch

from .evaluate import compile_batch, resolve_device
from .expression import CONST, Expression, arity
from .pareto import ROUNDOFF_RTOL
from .tree import subtree_ends

__all__ = ["fit_constants", "linear_scaled", "nonlinear_constant_mask", "starting_points"]


def linear_scaled(expr: Expression, scale: float = 1.0, offset: float = 0.0) -> Expression:
    """``scale * expr + offset`` as a new expression with two more constants."""
    tokens = ("add", "mul", CONST) + expr.tokens + (CONST,)
    consts = np.concatenate([[scale], expr.constants, [offset]])
    return Expression(tokens, consts, expr.variable_names, check=False)


def nonlinear_constant_mask(expr: Expression) -> np.ndarray:
    """True for each constant that does not enter the expression linearly.

    The constants marked False enter jointly linearly: with the others held
    fixed, the prediction is an affine function of them, so a least-squares
    fit finds them from any start. A constant is linear when every node on
    the path from the root to it is ``+``, ``-``, negation, a ``×`` whose
    other factor holds no constant, or the numerator of a ``/`` whose
    denominator holds no constant. (``C0*(C1 + x)`` is bilinear: both
    constants are non-linear, since from ``C0 = C1 = 1`` the fit cannot
    reach a negative ``C0`` without passing ``C0 = 0``, where ``C1`` has no
    effect.)
    """
    tokens = expr.tokens
    mask: list[bool] = []
    # iterative walk over (position, linear) with explicit subtree ends
    ends = subtree_ends(tokens)
    has_const = _subtree_has_const(tokens, ends)
    stack: list[tuple[int, bool]] = [(0, True)]
    while stack:
        pos, linear = stack.pop()
        tok = tokens[pos]
        if tok == CONST:
            mask.append(not linear)
            continue
        n = arity(tok)
        if n == 0:
            continue
        if n == 1:
            stack.append((pos + 1, linear and tok == "neg"))
            continue
        a, b = pos + 1, ends[pos + 1]
        if tok in ("add", "sub"):
            la = lb = linear
        elif tok == "mul":
            la, lb = linear and not has_const[b], linear and not has_const[a]
        elif tok == "div":
            la, lb = linear and not has_const[b], False
        else:
            la = lb = False
        stack.append((b, lb))
        stack.append((a, la))            # first argument first: constants in token order
    return np.array(mask, dtype=bool)


def _subtree_has_const(tokens: Sequence[str], ends: list[int]) -> list[bool]:
    prefix = np.concatenate([[0], np.cumsum([t == CONST for t in tokens])])
    return [bool(prefix[ends[i]] - prefix[i]) for i in range(len(tokens))]


def fit_constants(
    exprs: Sequence[Expression],
    X,
    y,
    sample_weight=None,
    *,
    linear_scaling: bool = False,
    n_restarts: int = 4,
    max_iter: int = 60,
    max_points: int | None = 1000,
    device: str | torch.device | None = "cpu",
    seed: int = 0,
    max_elements: int = 2**23,
    deadline: float | None = None,
) -> tuple[list[Expression], np.ndarray]:
    """Fit the constants of many expressions at once.

    Parameters
    ----------
    exprs : sequence of Expression
        Current constant values are the first starting point.
    X, y : array-like
        Data, [n_samples, n_features] and [n_samples]. ``y`` may also be
        [n_exprs, n_samples]: one target row per expression (same X), e.g. to
        fit many skeletons to many datasets sampled at the same points.
    sample_weight : array-like, optional
        [n_samples], shared by all expressions.
    linear_scaling : bool
        Fit ``a·f + b`` instead of ``f`` (the returned expressions carry the
        wrapper).
    n_restarts : int
        Extra starting points for expressions whose constants enter
        non-linearly (see :func:`starting_points`), run only for expressions
        whose fit from the given constants is not exact (MSE above 1e-20 ×
        mean(y²)). A restart replaces the first fit only when clearly better.
    max_iter : int
        Levenberg–Marquardt iterations per start, at most. A start also stops
        when an accepted step gains less than 1e-6 relatively, when the loss
        reaches round-off, or when it has not halved in 15 iterations.
    max_points : int or None
        Fit on at most this many points (a fixed random subset); the returned
        losses are on all points.
    max_elements : int
        Bound on rows × tokens × constants × points of one compiled program
        (the size of its tangent buffer).
    device : str or torch.device
        Where to run. Fitting is in float64.
    seed : int
        Seed of the restarts and the subset.
    deadline : float, optional
        A ``time.perf_counter()`` value. Past it, running fits stop where they
        are, no restart starts, and expressions not yet started keep their
        given constants, so a search's time budget holds however many
        expressions it hands over.

    Returns
    -------
    fitted : list of Expression
    losses : numpy.ndarray
        Weighted MSE of each fitted expression on all points (+inf where the
        prediction is not finite).
    """
    dev = resolve_device(device)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64)
    per_expr_y = y.ndim == 2
    if per_expr_y:
        if y.shape != (len(exprs), X.shape[0]):
            raise ValueError(f"2-D y must be [n_exprs, n_samples] = [{len(exprs)}, {X.shape[0]}], "
                             f"got {list(y.shape)}")
    else:
        y = y.reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} values but X has {X.shape[0]} rows")
    w = (np.ones(X.shape[0]) if sample_weight is None
         else np.asarray(sample_weight, dtype=np.float64).reshape(-1))
    rng = np.random.default_rng(seed)
    exprs = list(exprs)
    if not exprs:
        return [], np.zeros(0)

    if max_points is not None and X.shape[0] > max_points:
        idx = np.sort(rng.choice(X.shape[0], max_points, replace=False))
        Xf, yf, wf = X[idx], y[..., idx], w[idx]
    else:
        Xf, yf, wf = X, y, w

    starts, owner = starting_points(exprs, n_restarts, rng)
    if linear_scaling:
        # restarts redraw the inner constants; a and b start in closed form
        exprs = [linear_scaled(e) for e in exprs]
        starts = [linear_scaled(e) for e in starts]

    Xt = torch.tensor(Xf, dtype=torch.float64, device=dev)   # a copy: X may be read-only
    # targets as rows: one shared row, or one per expression (indexed by owner)
    yt = torch.tensor(yf.reshape(-1 if per_expr_y else 1, Xf.shape[0]), dtype=torch.float64, device=dev)
    wt = torch.as_tensor(wf / wf.sum(), dtype=torch.float64, device=dev)
    # a loss at or below this (per expression) is an exact fit, to round-off: the
    # level of pareto.exact_floor(y, w, rtol=ROUNDOFF_RTOL, centred=False), per
    # target row and with the normalised weights the loss uses
    wn = wf / wf.sum()
    yy = (np.square(yf) * wn).sum(-1) if per_expr_y else np.full(len(exprs), float((np.square(yf) * wn).sum()))
    exact = ROUNDOFF_RTOL * yy

    # one stream per number of constants: the Jacobian of a program is as
    # wide as its widest expression, so mixing 1- and 4-constant expressions
    # would quadruple the work of the narrow ones
    fitted_consts: list[np.ndarray] = [np.zeros(0)] * len(starts)
    fitted_loss = np.full(len(starts), np.inf)
    n_const = np.array([e.n_constants for e in starts])
    for k in np.unique(n_const):
        sel = np.nonzero(n_const == k)[0]
        consts, losses = _fit_starts(
            [starts[j] for j in sel], [owner[j] for j in sel], Xt, yt, per_expr_y, wt, yy, exact,
            max_iter, linear_scaling, max_elements, deadline)
        for j, c, l in zip(sel.tolist(), consts, losses.tolist()):
            fitted_consts[j] = c
            fitted_loss[j] = l

    # the first start (the given constants) wins ties: a restart must do
    # clearly better, and nothing beats an exact fit
    best: dict[int, int] = {}
    for j, i in enumerate(owner):
        if i not in best or _better(fitted_loss[j], fitted_loss[best[i]], exact[i]):
            best[i] = j
    out = [exprs[i].with_constants(fitted_consts[best[i]]) for i in range(len(exprs))]

    # final losses on all points
    from .evaluate import evaluate_batch
    if not per_expr_y:
        losses = evaluate_batch(out, X, y, sample_weight=w, device=dev, dtype=torch.float64)
        return out, losses
    pred = evaluate_batch(out, X, device=dev, dtype=torch.float64)
    with np.errstate(all="ignore"):
        losses = (np.square(pred - y) * w).sum(1) / w.sum()
    losses[~(np.isfinite(pred).all(1) & np.isfinite(losses))] = np.inf
    return out, losses


def starting_points(exprs: Sequence[Expression], n_restarts: int, rng: np.random.Generator
                    ) -> tuple[list[Expression], list[int]]:
    """The starting points :func:`fit_constants` runs from.

    Each expression as given, then, for expressions with constants that enter
    non-linearly, ``n_restarts`` others in which only the non-linear
    constants are redrawn. Signs are spread systematically rather than drawn
    at random: the first restart flips every non-linear sign, and the next
    ones go through the other sign patterns (all of them when there are few
    constants), because a fit rarely moves a constant through zero (``x/C``
    from ``C = 1`` never reaches ``C < 0``). Magnitudes alternate between the
    current ones times ``exp(N(0, 1))`` and scale-free ``|N(0, 2)|`` draws.
    Returns the starts and, for each, its expression's index.
    """
    starts: list[Expression] = []
    owner: list[int] = []
    for i, e in enumerate(exprs):
        starts.append(e)
        owner.append(i)
        if e.n_constants == 0 or n_restarts <= 0:
            continue
        nonlinear = nonlinear_constant_mask(e)
        if not nonlinear.any():
            continue
        k = int(nonlinear.sum())
        cur = e.constants[nonlinear]
        sign = np.where(cur < 0, -1.0, 1.0)
        mag = np.where(np.isfinite(cur) & (cur != 0), np.abs(cur), 1.0)
        patterns = _sign_patterns(k, n_restarts, rng)
        for r in range(n_restarts):
            if r % 2 == 0:
                m = mag * np.exp(rng.normal(0.0, 1.0, size=k))
            else:
                m = np.abs(rng.normal(0.0, 2.0, size=k))
            c = e.constants.copy()
            c[nonlinear] = sign * patterns[r] * m
            starts.append(e.with_constants(c))
            owner.append(i)
    return starts, owner


def _sign_patterns(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sign patterns (relative to the current signs) for ``k``
    constants: all flipped first, then the other patterns in random order,
    the unflipped one last, cycling; random patterns when ``2**k`` is large."""
    if k > 6:
        out = rng.choice([-1.0, 1.0], size=(n, k))
        out[0] = -1.0
        return out
    allp = np.array(np.meshgrid(*[[1.0, -1.0]] * k, indexing="ij")).reshape(k, -1).T
    middle = allp[1:-1][rng.permutation(len(allp) - 2)]
    order = np.concatenate([allp[-1:], middle, allp[:1]])    # all flipped, others, none
    return order[np.arange(n) % len(order)]




def _better(a: float, b: float, tol: float = 0.0) -> bool:
    """Whether loss ``a`` clearly beats loss ``b``: by more than ``tol`` and
    by more than round-off (a relative 1e-10)."""
    if not np.isfinite(a):
        return False
    if not np.isfinite(b):
        return True
    return a < b - max(tol, 1e-10 * b) if tol else a < b


# settings of the Levenberg–Marquardt loop
_LAM0 = 1e-3          # initial damping, relative to diag(JᵀJ)
_FTOL = 1e-6          # converged: an accepted step gains less than this, relatively
_STALL_WINDOW = 15    # given up: the loss fell by less than _STALL_FACTOR ...
_STALL_FACTOR = 0.5   # ... over the last _STALL_WINDOW iterations
_ROUNDOFF = 1e-28     # converged: loss / mean(y²) at round-off


def _fit_starts(starts: list[Expression], owner: list[int], X, Y, per_expr_y: bool, w,
                yy: np.ndarray, exact: np.ndarray, max_iter: int, linear_scaling: bool,
                max_elements: int, deadline: float | None = None
                ) -> tuple[list[np.ndarray], np.ndarray]:
    """Levenberg–Marquardt from every start that is needed, as one stream.

    The given start of each expression runs first; its restarts join when it
    finishes without an exact fit. Rows that finish leave the compiled
    program and queued rows take their place, so the batch stays full and
    there is one tail of slow rows instead of one per chunk. Each row's
    iterates do not depend on which other rows share the program.

    Returns the constants and the loss reached from each start (+inf for
    starts that never ran).
    """
    dev = X.device
    n = X.shape[0]
    S = len(starts)
    counts = np.array([e.n_constants for e in starts], dtype=np.int64)
    ntok = np.array([len(e.tokens) for e in starts], dtype=np.int64)
    K = max(int(counts.max(initial=0)), 1)
    out_params = np.zeros((S, K))
    for j, e in enumerate(starts):
        out_params[j, :counts[j]] = e.constants
    out_loss = np.full(S, np.inf)
    sqrt_w = torch.sqrt(w)
    owner_np = np.asarray(owner, dtype=np.int64)
    yy_t = torch.as_tensor(yy, dtype=torch.float64, device=dev)
    arK = torch.arange(K, device=dev)

    # which starts are the given ones, and the restarts of each expression
    is_first = np.zeros(S, dtype=bool)
    restarts: dict[int, list[int]] = {}
    seen: set[int] = set()
    for j, i in enumerate(owner):
        if i in seen:
            restarts.setdefault(i, []).append(j)
        else:
            seen.add(i)
            is_first[j] = True
    queue: deque[int] = deque(sorted(np.nonzero(is_first)[0].tolist(), key=lambda j: counts[j]))

    def targets(rows_np):
        return Y[torch.as_tensor(owner_np[rows_np], device=dev)] if per_expr_y else Y

    def compile_rows(rows_np):
        prog = compile_batch([starts[j] for j in rows_np], X.shape[1], dev, share_subtrees=True)
        ce = torch.as_tensor(prog.const_expr, device=dev)
        cs = torch.as_tensor(prog.const_slot, device=dev)
        return prog, ce, cs

    def values_and_jacobian(prog, ce, cs, p):
        pred, J = prog.values_and_tangents(X, p[ce, cs])
        if J.shape[1] < K:   # a program may hold fewer constants per row than K
            J = torch.nn.functional.pad(J, (0, 0, 0, K - J.shape[1]))
        return pred, J

    def loss_of(pred, yr):
        r = (pred - yr) * sqrt_w
        loss = (r * r).sum(1)
        return torch.where(torch.isfinite(loss), loss, torch.full_like(loss, float("inf")))

    def finish(rows_np, params, loss):
        """Record finished rows; queue the restarts of given starts that did not fit exactly."""
        if not len(rows_np):
            return
        out_params[rows_np] = params.cpu().numpy()
        out_loss[rows_np] = loss.cpu().numpy()
        for j, l in zip(rows_np.tolist(), out_loss[rows_np].tolist()):
            if is_first[j] and not l <= exact[owner[j]] and not late:
                queue.extend(restarts.get(owner[j], ()))

    def start_rows(rows_np):
        """Initial state of new rows: constants (closed-form a, b under linear
        scaling), predictions, Jacobian, loss."""
        prog, ce, cs = compile_rows(rows_np)
        params = torch.as_tensor(out_params[rows_np], dtype=torch.float64, device=dev)
        yr = targets(rows_np)
        pred, J = values_and_jacobian(prog, ce, cs, params)
        if linear_scaling:
            # a and b are the first and last constant: closed form given the rest
            m = len(rows_np)
            ar = torch.arange(m, device=dev)
            last = torch.as_tensor(counts[rows_np] - 1, device=dev)
            f = J[ar, 0]                                  # d pred / d a = inner value
            # centred sums (all points are here, so two passes are cheap): the
            # one-pass E[f²] - E[f]² cancels when f has a large mean
            mf = (w * f).sum(1)
            my = (w * yr).sum(1)
            fc = f - mf.unsqueeze(1)
            var = (w * fc * fc).sum(1)
            cov = (w * fc * (yr - my.unsqueeze(1))).sum(1)
            ok = torch.isfinite(var) & torch.isfinite(cov) & (var > 1e-300)
            a = torch.where(ok, cov / torch.where(ok, var, torch.ones_like(var)), torch.ones_like(var))
            b = my - a * mf
            params[ar, 0] = a
            params[ar, last] = torch.where(torch.isfinite(b), b, torch.zeros_like(b))
            pred, J = values_and_jacobian(prog, ce, cs, params)
        return params, pred, J, loss_of(pred, yr)

    # state of the rows in the current program
    rows = np.zeros(0, dtype=np.int64)
    prog = ce = cs = None
    params = torch.zeros(0, K, dtype=torch.float64, device=dev)
    pred = torch.zeros(0, n, dtype=torch.float64, device=dev)
    J = torch.zeros(0, K, n, dtype=torch.float64, device=dev)
    loss = lam = nu = torch.zeros(0, dtype=torch.float64, device=dev)
    age = torch.zeros(0, dtype=torch.long, device=dev)
    hist = torch.zeros(0, _STALL_WINDOW, dtype=torch.float64, device=dev)
    active = torch.zeros(0, dtype=torch.bool, device=dev)
    yr = Y[:0]
    fl = torch.zeros(0, dtype=torch.float64, device=dev)

    late = False
    while True:
        if deadline is not None and not late and time.perf_counter() > deadline:
            # out of time: keep what the running rows reached, start no
            # restart, and only evaluate the given constants of queued rows
            late = True
            queue = deque(j for j in queue if is_first[j])
            if bool(active.any()):
                idx = torch.nonzero(active).squeeze(1)
                finish(rows[idx.cpu().numpy()], params[idx], loss[idx])
                active = torch.zeros_like(active)
        n_act = int(active.sum())
        if n_act == 0 and not queue:
            break
        act_np = active.cpu().numpy()
        keep_np = np.nonzero(act_np)[0]
        kept = rows[keep_np]
        tokens = int(ntok[kept].sum())
        k_cur = int(counts[kept].max(initial=1))
        room = bool(queue) and (len(kept) < 16 or (tokens + ntok[queue[0]]) * max(k_cur, counts[queue[0]]) * n
                                <= max_elements)
        refill = room and (n_act == 0 or len(queue) >= max(1, n_act // 2))
        compact = n_act <= len(rows) // 2 and len(rows) > 16
        if refill or compact:
            new: list[int] = []
            while queue:
                j = queue[0]
                k2 = max(k_cur, int(counts[j]))
                if len(kept) + len(new) >= 16 and (tokens + ntok[j]) * k2 * n > max_elements:
                    break
                queue.popleft()
                new.append(j)
                tokens += int(ntok[j])
                k_cur = k2
            new_np = np.asarray(new, dtype=np.int64)
            keep = torch.as_tensor(keep_np, device=dev)
            params, pred, J, loss = params[keep], pred[keep], J[keep], loss[keep]
            lam, nu, age, hist = lam[keep], nu[keep], age[keep], hist[keep]
            if len(new_np):
                p2, pr2, J2, l2 = start_rows(new_np)
                ok2 = torch.isfinite(l2) & (torch.as_tensor(counts[new_np], device=dev) > 0)
                if max_iter <= 0 or late:
                    ok2 = torch.zeros_like(ok2)
                # starts that cannot move (not finite, no constants) are done at once
                done_np = (~ok2).cpu().numpy()
                finish(new_np[done_np], p2[~ok2], l2[~ok2])
                go = torch.nonzero(ok2).squeeze(1)
                new_np = new_np[~done_np]
                m2 = len(new_np)
                params = torch.cat([params, p2[go]])
                pred = torch.cat([pred, pr2[go]])
                J = torch.cat([J, J2[go]])
                loss = torch.cat([loss, l2[go]])
                lam = torch.cat([lam, torch.full((m2,), _LAM0, dtype=torch.float64, device=dev)])
                nu = torch.cat([nu, torch.full((m2,), 2.0, dtype=torch.float64, device=dev)])
                age = torch.cat([age, torch.zeros(m2, dtype=torch.long, device=dev)])
                hist = torch.cat([hist, l2[go].unsqueeze(1).expand(m2, _STALL_WINDOW)])
            rows = np.concatenate([kept, new_np])
            active = torch.ones(len(rows), dtype=torch.bool, device=dev)
            if not len(rows):
                continue
            prog, ce, cs = compile_rows(rows)
            yr = targets(rows)
            fl = _ROUNDOFF * yy_t[torch.as_tensor(owner_np[rows], device=dev)]
            continue   # re-check: every new row may have finished at once

        # one Levenberg–Marquardt step for every row of the program
        m = len(rows)
        valid = arK[None, :] < torch.as_tensor(counts[rows], device=dev)[:, None]
        r = (pred - yr) * sqrt_w                                 # [m, n]
        good = torch.isfinite(r).all(dim=1)
        # a derivative that is not finite where the prediction is (a saturated
        # exp, sqrt at 0) carries no usable direction: count it as 0
        Jw = J * sqrt_w                                          # [m, K, n]
        Jw = torch.where(torch.isfinite(Jw) & good[:, None, None], Jw, torch.zeros_like(Jw))
        r = torch.where(good[:, None], r, torch.zeros_like(r))
        JtJ = Jw @ Jw.transpose(1, 2)
        g = (Jw @ r.unsqueeze(2)).squeeze(2)
        diag = torch.diagonal(JtJ, dim1=1, dim2=2)
        damp = lam[:, None] * (diag + 1e-12 * diag.amax(1, keepdim=True) + 1e-30)
        A = JtJ + torch.diag_embed(damp)
        eye = torch.eye(K, dtype=torch.float64, device=dev).expand(m, K, K)
        A = torch.where(valid[:, :, None] & valid[:, None, :], A, eye)
        g = torch.where(valid, g, torch.zeros_like(g))
        step = torch.linalg.solve(A, -g.unsqueeze(2)).squeeze(2)
        step = torch.where(torch.isfinite(step), step, torch.zeros_like(step))
        moving = active & good
        trial = params + torch.where(moving[:, None], step, torch.zeros_like(step))
        new_pred, new_J = values_and_jacobian(prog, ce, cs, trial)
        new_loss = loss_of(new_pred, yr)
        accept = moving & (new_loss < loss)
        gain = loss - new_loss
        params = torch.where(accept[:, None], trial, params)
        pred = torch.where(accept[:, None], new_pred, pred)
        J = torch.where(accept[:, None, None], new_J, J)
        # Nielsen's damping update from the gain ratio (actual / predicted gain)
        predicted = -(2.0 * (g * step).sum(1) + (step.unsqueeze(1) @ JtJ @ step.unsqueeze(2)).reshape(-1))
        rho = gain / torch.clamp(predicted, min=1e-300)
        shrink = torch.clamp(1.0 - (2.0 * rho - 1.0) ** 3, min=1.0 / 3.0)
        lam = torch.where(accept, lam * shrink, lam * nu).clamp(1e-15, 1e15)
        nu = torch.where(accept, torch.full_like(nu, 2.0), nu * 2.0)
        rel = gain / torch.clamp(loss, min=1e-300)
        # converged: a small relative gain, or the loss at round-off
        done = accept & ((rel < _FTOL) | (new_loss < fl))
        loss = torch.where(accept, new_loss, loss)
        slot = age % _STALL_WINDOW
        stalled = (age >= _STALL_WINDOW) & (loss > _STALL_FACTOR * hist.gather(1, slot[:, None]).squeeze(1))
        hist = hist.scatter(1, slot[:, None], loss[:, None])
        age = age + 1
        still = active & ~done & ~stalled & (lam < 1e15) & torch.isfinite(loss) & (age < max_iter)
        ended = active & ~still
        if bool(ended.any()):
            idx = torch.nonzero(ended).squeeze(1)
            finish(rows[idx.cpu().numpy()], params[idx], loss[idx])
        active = still

    return [out_params[j, :counts[j]].copy() for j in range(S)], out_loss
