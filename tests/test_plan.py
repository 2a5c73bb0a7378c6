"""The fit's schedule (symreg.plan): shares of the budget, phase order, no shared state."""

from __future__ import annotations

import numpy as np
import pytest

import symreg.plan as plan_module
from symreg.expression import Expression
from symreg.neural.proposer import Proposer
from symreg.plan import FitPlan
from symreg.search.engine import SearchConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Fixed(Proposer):
    name = "fixed"

    def __init__(self, formulas, quick=False, prior=None):
        self.formulas = formulas
        self.quick = quick
        self.prior = prior
        self.calls = 0

    def propose(self, X, y, *, n=32, time_budget=10.0, seed=0, operators=None,
                variable_names=None):
        self.calls += 1
        return [Expression.parse(f) for f in self.formulas]

    def structure_prior(self):
        return self.prior


def _config(**kw):
    return SearchConfig(operators=("add", "sub", "mul", "div", "sin"), time_budget=100.0,
                        seed=0, **kw)


def test_shares_of_the_budget():
    plan = FitPlan(_config(max_evals=1001), proposer_fraction=0.3)
    first = plan.first_half(plan.config)
    assert first.time_budget == pytest.approx(35.0) and first.max_evals == 500
    rest = plan.rest(plan.config, after_first=True, elapsed=80.0)
    assert rest.time_budget == pytest.approx(35.0) and rest.max_evals == 501
    # without a first search, or by the clock: what is left, at least a tenth
    assert plan.rest(plan.config, after_first=False, elapsed=20.0).time_budget == 80.0
    clock = FitPlan(_config(), proposer_fraction=0.3)
    assert clock.rest(clock.config, after_first=True, elapsed=95.0).time_budget == 10.0
    assert clock.slow_budget(elapsed=5.0) == pytest.approx(30.0)
    alone = FitPlan(_config(), search=False)
    assert alone.slow_budget(elapsed=5.0) == pytest.approx(93.0)  # less a 2 s reserve
    assert plan.config.time_budget == 100.0 and plan.config.max_evals == 1001  # unchanged


def test_quick_proposers_run_first_and_the_config_is_not_changed(monkeypatch):
    X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(100, 2))
    y = np.sin(X[:, 0]) * X[:, 1] + 0.3 * X[:, 0] ** 3
    configs, seeds = [], []
    real = plan_module.run_search

    def spy(X, y, config, **kw):
        configs.append(config)
        seeds.append(list(kw.get("seeds", [])))
        return real(X, y, config, **kw)

    monkeypatch.setattr(plan_module, "run_search", spy)
    prior = object()
    quick = _Fixed(["sin(x0)*x1"], quick=True, prior=prior)
    slow = _Fixed(["x0*x0*x0"])
    config = _config(max_evals=1000)
    result = FitPlan(config, (slow, quick)).run(X, y)
    assert quick.calls == 1
    assert config.structure_prior is None and config.time_budget == 100.0  # a copy was changed
    assert configs and all(c.structure_prior is prior for c in configs)
    assert str(seeds[0][0]) == "sin(x0)*x1"  # the quick proposal seeds the first search
    # the first half is not exact (x0**3 is not a candidate of its cheap phases under this
    # evaluation bound): the slow proposer runs, then the rest of the search
    assert slow.calls == 1 and result.n_proposals == 2
    assert [c.max_evals for c in configs] == [500, 500]
    assert set(result.proposer_times) == {"fixed"}
    assert result.n_evals > 0 and len(result.hall_of_fame) > 0


def test_proposers_alone_fill_the_hall_of_fame():
    X = np.random.default_rng(1).uniform(1.0, 3.0, size=(60, 2))
    y = 2.0 * X[:, 0] / X[:, 1]
    result = FitPlan(_config(), (_Fixed(["x0/x1"]),), search=False).run(
        X, y, seeds=[Expression.parse("x0")])
    assert result.n_evals == 4 and result.n_proposals == 1 and not result.interrupted
    assert min(c.loss for c in result.hall_of_fame.candidates()) < 1e-20
