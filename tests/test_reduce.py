"""Tests of the backward elimination of terms (symreg.reduce)."""

from __future__ import annotations

import numpy as np

from symreg.expression import Expression
from symreg.reduce import drop_terms, term_deletions


def _parse(tokens: str, constants=()) -> Expression:
    return Expression(tokens.split(), list(constants))


def test_deletions_remove_one_operand_of_each_sum_or_difference():
    # C*x0 + (sin(x0) - C): top-level and nested operands, the subtrahend negated
    e = _parse("add mul C x0 sub sin x0 C", [2.0, 0.5])
    out = {str(v) for v in term_deletions(e)}
    assert out == {"2*x0", "sin(x0) - 0.5", "2*x0 + sin(x0)", "2*x0 - 0.5"}
    # inside a function's argument too: sin(C*x0 + x1)
    e = _parse("sin add mul C x0 x1", [3.0])
    assert {str(v) for v in term_deletions(e)} == {"sin(3*x0)", "sin(x1)"}


def test_deletions_of_a_formula_without_sums_are_none():
    assert term_deletions(_parse("mul C sin x0", [2.0])) == []


def test_cancelling_terms_go_and_the_law_is_refitted_exactly():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(20, 2))
    y = 2 * np.sin(X[:, 0]) * np.cos(X[:, 1])
    # the law with slightly wrong constants beside two terms that nearly cancel on
    # [0, 1]: neither term is small, so no size tolerance would remove them
    e = _parse("add add mul C x0 mul C sin mul C x0 mul C mul sin x0 cos x1",
               [-0.0366, 0.1176, -0.34, -1.997])
    with np.errstate(all="ignore"):
        loss = float(np.mean((e.evaluate(X) - y) ** 2))
    [(reduced, new_loss)] = drop_terms([e], [loss], X, y)
    assert reduced.tokens == ("mul", "C", "mul", "sin", "x0", "cos", "x1")
    assert abs(reduced.constants[0] - 2.0) < 1e-9
    assert new_loss < 1e-20


def test_a_term_the_law_needs_stays_and_the_formula_is_returned_unchanged():
    X = np.linspace(0.1, 3, 50).reshape(-1, 1)
    y = X[:, 0] ** 2 + np.sin(X[:, 0])
    e = _parse("add square x0 sin x0")
    [(same, loss)] = drop_terms([e], [0.0], X, y)
    assert same is e and loss == 0.0


def test_a_spurious_offset_goes_on_noisy_data_within_the_bic_allowance():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 2, size=(400, 2))
    y = X[:, 0] * X[:, 1] / (2 * np.pi)
    y = y + rng.normal(0, 0.01 * np.std(y), size=y.shape)
    # c1*x0*x1 + c2: the fitted offset lowers the loss a little, as noise does
    e = _parse("add mul C mul x0 x1 C", [0.159, 0.0009])
    from symreg.constants import fit_constants

    [e], [loss] = fit_constants([e], X, y)
    [(reduced, new_loss)] = drop_terms([e], [loss], X, y)
    assert reduced.tokens == ("mul", "C", "mul", "x0", "x1")
    assert loss <= new_loss <= loss * np.exp(np.log(400) / 400)


def test_non_finite_losses_and_past_deadlines_change_nothing():
    X = np.linspace(0, 1, 10).reshape(-1, 1)
    y = X[:, 0]
    e = _parse("add x0 mul C sin x0", [1e-3])
    assert drop_terms([e], [np.inf], X, y) == [(e, np.inf)]
    assert drop_terms([e], [1e-6], X, y, deadline=0.0) == [(e, 1e-6)]
