"""``TransformerProposer``: the shipped pretrained model as a :class:`Proposer`.

It reads up to a few hundred points, runs beam search, and returns skeletons with
their constants set to one (the regressor fits every proposal's constants in one
batch). It also gives the tree search its priors: :meth:`structure_prior` weights
candidate subtrees by how much of the beams' probability contains them, and
:meth:`next_token_logprobs` answers token-level questions, cached per prefix.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..expression import Expression, is_variable, variable_index
from ..operators import renumber_variables
from .proposer import Proposer
from .transformer import SetTransformerSR, encode_points
from .vocab import Hypothesis, contains_subtree, skeleton_key
from .weights_io import load_weights

__all__ = ["DEFAULT_WEIGHTS", "BeamPrior", "TransformerProposer", "load_model", "select_variables"]

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "transformer.pt"


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> tuple[SetTransformerSR, dict]:
    saved = load_weights(path)   # tensors and plain data only: a weights file runs no code
    return SetTransformerSR.from_saved(saved), saved.get("card", {})


def load_model(weights: str | Path | None = None) -> tuple[SetTransformerSR, dict]:
    """The model and its card from a weights file (default: the shipped one).

    Loaded once per process and file version.
    """
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.exists():
        raise FileNotFoundError(f"transformer weights not found: {path}")
    return _load(str(path), path.stat().st_mtime)


def select_variables(X: np.ndarray, y: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """The ``k`` columns most related to ``y``, in their original order.

    Mutual information catches non-monotone relations (``sin``, ``x²``) that a
    correlation would miss.
    """
    if X.shape[1] <= k:
        return list(range(X.shape[1]))
    from sklearn.feature_selection import mutual_info_regression

    mi = mutual_info_regression(X, y, random_state=seed, n_neighbors=5)
    return sorted(int(i) for i in np.argsort(-mi, kind="stable")[:k])


@dataclass(frozen=True)
class BeamPrior:
    """Weights for MCTS slot candidates from the transformer's beams.

    A candidate subtree weighs 1 plus 4 × the probability mass (normalised over
    the beams) of the beams that contain its skeleton as a subtree. ``chosen``
    (the slots already filled) is not used: every beam is a whole formula, so
    its mass already reflects what goes with what.
    """

    beams: tuple[tuple[tuple[str, ...], float], ...]

    def __call__(self, chosen: Sequence[Expression], candidates: Sequence[Expression]
                 ) -> np.ndarray:
        out = np.ones(len(candidates))
        if not self.beams:
            return out
        logp = np.array([lp for _, lp in self.beams])
        mass = np.exp(logp - logp.max())
        mass /= mass.sum()
        for i, cand in enumerate(candidates):
            out[i] += 4.0 * sum(m for m, (s, _) in zip(mass, self.beams)
                                if contains_subtree(s, cand.tokens))
        return out


class TransformerProposer(Proposer):
    """Candidate skeletons from the pretrained set transformer.

    Parameters
    ----------
    weights : path, optional
        A weights file written by :func:`symreg.neural.train.export_weights`;
        default the one shipped in the package.
    beam_width : int, default=32
        Beams searched (the most candidates returned).
    hypothesis : dict or Hypothesis, optional
        ``{"include": [...], "exclude": [...], "subtrees": [...], "complexity": k}``;
        conditions the model, and excluded operators never appear.
    n_points : int, optional
        Rows the model reads at a time; default the number it was trained on
        (64 for the shipped weights), with which it is most accurate.
    n_subsets : int, default=3
        With more rows than ``n_points``, the model reads this many random
        subsets (disjoint while rows last) and their beams are pooled: a
        skeleton's score is the log of its summed probability over the subsets.
    device : str, default="cpu"
    """

    name = "transformer"
    #: fast enough to run before the search and seed it (see SymbolicRegressor)
    quick = True

    def __init__(self, weights: str | Path | None = None, beam_width: int = 32,
                 hypothesis: dict | Hypothesis | None = None, n_points: int | None = None,
                 n_subsets: int = 3, device: str = "cpu"):
        self.weights = weights
        self.beam_width = beam_width
        self.hypothesis = hypothesis
        self.n_points = n_points
        self.n_subsets = n_subsets
        self.device = device
        self.beams_: list[tuple[list[str], float]] = []
        self._memory: torch.Tensor | None = None
        self._prefix_ids: list[int] = []
        self._allowed: torch.Tensor | None = None
        self._cache: dict[tuple[str, ...], dict[str, float]] = {}
        self._columns: list[int] = []

    @property
    def model(self) -> SetTransformerSR:
        return load_model(self.weights)[0].to(self.device)

    def propose(self, X: np.ndarray, y: np.ndarray, *, n: int = 32, time_budget: float = 10.0,
                seed: int = 0, operators: Sequence[str] | None = None,
                variable_names: Sequence[str] | None = None) -> list[Expression]:
        t0 = time.perf_counter()
        model, card = load_model(self.weights)
        model = model.to(self.device)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rng = np.random.default_rng(seed)
        size = self.n_points or int(card.get("generator", {}).get("n_points", 64))
        order = rng.permutation(X.shape[0])
        if X.shape[0] > size:
            # disjoint subsets while the rows last, then overlapping ones
            subsets = [np.sort(np.resize(order, (k + 1) * size)[k * size:(k + 1) * size])
                       for k in range(max(1, int(self.n_subsets)))]
        else:
            subsets = [np.arange(X.shape[0])]
        # columns are chosen on many rows (mutual information is noisy on few)
        pick = np.sort(order[:1000]) if X.shape[0] > 1000 else slice(None)
        columns = select_variables(X[pick], y[pick], model.config.max_vars, seed)
        hyp = Hypothesis.from_dict(self.hypothesis, variable_names)
        # the hypothesis speaks of the data's columns; the model of its own x0..x{k-1}
        back = {c: i for i, c in enumerate(columns)}
        if any(is_variable(t) and variable_index(t) not in back for s in hyp.subtrees for t in s):
            hyp = Hypothesis(hyp.include, hyp.exclude, (), hyp.complexity)
        else:
            hyp = Hypothesis(hyp.include, hyp.exclude,
                             tuple(tuple(f"x{back[variable_index(t)]}" if is_variable(t) else t
                                         for t in s) for s in hyp.subtrees), hyp.complexity)
        pooled: dict[str, tuple[list[str], float]] = {}
        with torch.inference_mode():
            for k, rows in enumerate(subsets):
                points = encode_points(X[rows][:, columns], y[rows],
                                       model.config.max_vars).to(self.device)
                if k == 0:
                    self._memory = model.encode(points)
                found = model.beam_search(points, len(columns), beam_width=max(n, self.beam_width),
                                          hypothesis=hyp, operators=operators)
                for tokens, lp in found:
                    key = skeleton_key(tokens)
                    old = pooled.get(key)
                    pooled[key] = (tokens, lp if old is None else float(np.logaddexp(old[1], lp)))
            self._prefix_ids = model.vocab.hypothesis_ids(hyp) + [model.vocab.bos_id]
            self._allowed = model._allowed(len(columns), hyp, operators)
            self._cache = {}
        beams = sorted(pooled.values(), key=lambda t: -t[1])[:max(n, self.beam_width)]
        self._columns = columns
        self.beams_ = [(renumber_variables(t, columns), lp) for t, lp in beams]
        # the beams are distinct skeletons already (up to the order of sums and products)
        out = [Expression(tokens, variable_names=variable_names) for tokens, _ in self.beams_]
        self.propose_time_ = time.perf_counter() - t0
        return out[:n]

    # -- priors for the search -----------------------------------------------------
    def structure_prior(self) -> BeamPrior:
        """The MCTS prior from the last :meth:`propose` (picklable, for worker processes)."""
        return BeamPrior(tuple((tuple(t), lp) for t, lp in self.beams_))

    def next_token_logprobs(self, prefix: Sequence[str]) -> dict[str, float]:
        """Log-probabilities of the next skeleton token after ``prefix`` (tokens over
        the data's columns), for the data and hypothesis of the last :meth:`propose`.

        Only tokens a beam could emit there are returned (variables the model saw,
        operators not excluded, ``<eos>``), renormalised over them. Answers are
        cached per prefix until the next :meth:`propose`.
        """
        if self._memory is None:
            raise RuntimeError("call propose(X, y) first")
        key = tuple(prefix)
        if key not in self._cache:
            back = {c: i for i, c in enumerate(self._columns)}
            model = self.model
            v = model.vocab
            unseen = [t for t in key if is_variable(t) and variable_index(t) not in back]
            if unseen:
                raise ValueError(f"{unseen[0]} was not among the columns shown to the model "
                                 f"({', '.join(f'x{c}' for c in self._columns)})")
            ids = self._prefix_ids + [v.id(f"x{back[variable_index(t)]}" if is_variable(t) else t)
                                      for t in key]
            lp = model.next_token_logprobs(self._memory, ids)
            mask = self._allowed.clone()
            mask[v.eos_id] = True
            lp = torch.log_softmax(lp.masked_fill(~mask, float("-inf")), dim=-1)
            self._cache[key] = {
                ("<eos>" if i == v.eos_id else
                 f"x{self._columns[variable_index(t)]}" if is_variable(t) else t): float(lp[i])
                for t, i in v.index.items() if bool(mask[i])}
        return dict(self._cache[key])
