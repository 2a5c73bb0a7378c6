"""Tests of the hall of fame, the Pareto front and model selection (symreg.pareto)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from symreg.expression import Expression
from symreg.pareto import (
    EXACT_NMSE,
    MODEL_SELECTIONS,
    ROUNDOFF_RTOL,
    HallOfFame,
    exact_floor,
    front_scores,
    select_model,
)


def E(text: str) -> Expression:
    return Expression.parse(text)


# complexities with the default operators: every node counts 1
X0 = E("x0")                       # 1
SIN = E("sin(x0)")                 # 2
AX = E("2.0*x0")                   # 3
AX_B = E("2.0*x0 + 1.0")           # 5
AX_B2 = E("3.0*x0 - 1.0")          # 5
BIG = E("2.0*x0 + 1.0*sin(x1)")    # 8


def test_complexities_used_here():
    assert [e.complexity for e in (X0, SIN, AX, AX_B, AX_B2, BIG)] == [1, 2, 3, 5, 5, 8]


# ----------------------------------------------------------------------------
# hall of fame
# ----------------------------------------------------------------------------

def test_keeps_the_best_per_complexity():
    hof = HallOfFame(maxsize=20)
    assert hof.update([AX_B], [2.0]) == 1
    assert hof.update([AX_B2], [1.0]) == 1           # same complexity, better: replaces
    assert hof.update([AX_B], [3.0]) == 0            # worse: ignored
    assert hof.update([AX_B], [1.0]) == 0            # a tie does not replace
    (cand,) = hof.candidates()
    assert cand.expr is AX_B2 and cand.loss == 1.0 and cand.complexity == 5
    assert hof.update([X0, SIN, AX], [5.0, 4.0, 3.0]) == 3
    assert len(hof) == 4
    assert [c.complexity for c in hof.candidates()] == [1, 2, 3, 5]
    assert hof.best_loss() == 1.0


def test_ignores_non_finite_losses_and_too_complex_expressions():
    hof = HallOfFame(maxsize=6)
    assert hof.update([X0, SIN, AX], [np.nan, np.inf, -np.inf]) == 0
    assert hof.update([BIG], [0.1]) == 0              # complexity 8 > maxsize 6
    assert len(hof) == 0
    assert hof.best_loss() == np.inf
    assert hof.front() == []
    assert hof.update([AX_B], [0.5]) == 1             # complexity 5 <= 6
    assert len(hof) == 1


def test_front_is_strictly_decreasing_in_loss():
    hof = HallOfFame(maxsize=20)
    hof.update([X0, SIN, AX, AX_B, BIG], [1.0, 2.0, 0.5, 0.5, 0.1])
    front = hof.front()
    # sin(x0) (worse than x0) and 2x+1 (no better than 2x) are dominated
    assert [c.expr for c in front] == [X0, AX, BIG]
    losses = [c.loss for c in front]
    complexities = [c.complexity for c in front]
    assert all(b < a for a, b in itertools.pairwise(losses))
    assert all(b > a for a, b in itertools.pairwise(complexities))


def test_loss_floor_lets_an_exact_simple_formula_win():
    """Round-off must not make a larger formula look better than an exact one."""
    exprs, losses = [AX, AX_B], [1e-31, 1e-33]      # both exact, the larger by round-off luck
    plain = HallOfFame(maxsize=20)
    plain.update(exprs, losses)
    assert [c.expr for c in plain.front()] == [AX, AX_B]
    floored = HallOfFame(maxsize=20, loss_floor=1e-20)
    floored.update(exprs, losses)
    assert [c.expr for c in floored.front()] == [AX]
    assert floored.effective(1e-33) == 1e-20 and floored.effective(0.3) == 0.3
    # nothing below the floor enters after an exact formula ...
    floored.update([BIG], [1e-40])
    assert [c.expr for c in floored.front()] == [AX]
    # ... while a real improvement to an exact fit does
    hof = HallOfFame(maxsize=20, loss_floor=1e-20)
    hof.update([AX, AX_B], [1e-3, 1e-25])
    assert [c.expr for c in hof.front()] == [AX, AX_B]


# ----------------------------------------------------------------------------
# scores and model selection
# ----------------------------------------------------------------------------

def test_front_scores_by_hand():
    scores = front_scores([1.0, 0.1, 0.01], [1, 3, 4])
    np.testing.assert_allclose(scores, [0.0, math.log(10) / 2, math.log(10) / 1])
    # equal complexities divide by 1, not 0
    np.testing.assert_allclose(front_scores([1.0, 0.5], [3, 3]), [0.0, math.log(2)])
    # the floor caps the gain from a loss below it
    np.testing.assert_allclose(front_scores([1e-2, 1e-30], [1, 2], loss_floor=1e-10),
                               [0.0, math.log(1e-2 / 1e-10)])
    # a zero loss does not give an infinite score
    assert np.isfinite(front_scores([1.0, 0.0], [1, 2])).all()
    assert front_scores([0.3], [5]).tolist() == [0.0]


# losses and complexities of a hand-made front, and its scores:
#   [0, ln(10)/2 = 1.151, ln(2)/2 = 0.347, ln(0.5/0.45)/4 = 0.026]
FRONT_LOSSES = [10.0, 1.0, 0.5, 0.45]
FRONT_COMPLEXITIES = [1, 3, 5, 9]


def test_select_model_accuracy_score_best():
    assert select_model(FRONT_LOSSES, FRONT_COMPLEXITIES, "accuracy") == 3
    assert select_model(FRONT_LOSSES, FRONT_COMPLEXITIES, "score") == 1
    # best: highest score among losses <= 1.5 * 0.45 = 0.675, i.e. members 2 and 3
    assert select_model(FRONT_LOSSES, FRONT_COMPLEXITIES, "best") == 2
    assert select_model(FRONT_LOSSES, FRONT_COMPLEXITIES) == 2          # "best" is the default


def test_select_model_best_falls_back_to_the_most_accurate():
    # only the last member is within 1.5x of the lowest loss
    assert select_model([10.0, 1.0, 0.1], [1, 2, 30], "best") == 2
    assert select_model([10.0, 1.0, 0.1], [1, 2, 30], "score") == 1
    assert select_model([0.7], [4], "best") == 0


def test_select_model_with_a_loss_floor():
    # both below the floor: equal effective losses, and the simpler is as accurate
    assert select_model([1e-30, 1e-33], [3, 5], "accuracy", loss_floor=1e-20) == 0
    assert select_model([1e-30, 1e-33], [3, 5], "accuracy") == 1


def test_select_model_rejects_bad_input():
    with pytest.raises(ValueError, match="model_selection"):
        select_model(FRONT_LOSSES, FRONT_COMPLEXITIES, "fastest")
    with pytest.raises(ValueError):
        select_model([], [], "best")
    assert set(MODEL_SELECTIONS) == {"best", "accuracy", "score", "bic"}
    with pytest.raises(ValueError, match="number of samples"):
        select_model([1.0, 0.5], [1, 3], "bic")


def test_select_model_bic_by_hand():
    # the Kepler front: the 3-node law against a 20-node formula that fits the noise
    losses, comp, n = [0.0018, 0.0015, 0.000516], [3, 7, 20], 19
    bic = [n * math.log(v) + c * math.log(n) for v, c in zip(losses, comp)]
    assert select_model(losses, comp, "bic", n_samples=n) == int(np.argmin(bic)) == 0
    assert select_model(losses, comp, "best", n_samples=n) == 2
    # with many points a real improvement pays for its nodes
    assert select_model(losses, comp, "bic", n_samples=100_000) == 2


def test_replace_puts_a_slightly_worse_formula_at_its_complexity():
    hof = HallOfFame(maxsize=20)
    hof.update([E("0.1591*x0")], [1.0e-4])
    hof.replace(E("0.15915*x0"), 1.01e-4)
    [cand] = hof.candidates()
    assert cand.expr.constants[0] == 0.15915 and cand.loss == 1.01e-4
    hof.replace(E("2.0*x0"), float("nan"))   # non-finite: ignored
    assert hof.candidates()[0].expr.constants[0] == 0.15915


def test_exact_floor_by_hand():
    y = np.array([1.0, 2.0, 3.0, 6.0])
    assert exact_floor(y) == EXACT_NMSE * np.var(y)             # var 3.5
    assert exact_floor(y, centred=False) == EXACT_NMSE * np.mean(y * y)
    assert exact_floor(y, rtol=ROUNDOFF_RTOL, centred=False) == ROUNDOFF_RTOL * 12.5
    # weights: the weighted variance (the last row counts three times)
    w = np.array([1.0, 1.0, 1.0, 3.0])
    yw = np.array([1.0, 2.0, 3.0, 6.0, 6.0, 6.0])
    assert exact_floor(y, w) == pytest.approx(EXACT_NMSE * np.var(yw), rel=1e-14)
    # a constant target counts as variance 1 (an absolute floor), not 0
    assert exact_floor(np.full(5, 2.0)) == EXACT_NMSE
