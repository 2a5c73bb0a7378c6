"""DySymNet: a controller RNN that designs symbolic networks (Li et al. 2024).

A symbolic network is a small feed-forward net whose activations are formula
operators (``sin``, ``square``, ``mul``, ...): every layer maps its inputs
linearly into operator slots, applies the operators, and the output is a linear
map of everything computed. Trained with a sparsity penalty and pruned, most of
its weights are zero and what remains reads off as a short formula.

DySymNet does not fix the architecture: a controller RNN samples it (the depth
and, per layer, how many units of each operator), each sampled network is
trained and read off, and the controller learns from the fit of the read-off
formulas by risk-seeking policy gradient (only the best samples of a batch
push the policy, Petersen et al. 2021).

The parts, one module each (:mod:`.config`, :mod:`.model` with the units,
:mod:`.training`, :mod:`.controller`, :mod:`.readoff`, :mod:`.data`, :mod:`.proposer`):

* :class:`DySymNetConfig` — every setting in one dataclass.
* :data:`UNITS` — the operators a network unit can be, with the protected forms
  used in training (a read-off formula uses the plain operator).
* :class:`BatchedSymbolicNetwork` — K architectures padded into one model. All
  parameters live in one ``[K, P]`` tensor; per layer there is one batched
  matrix product and one call per operator type, whatever K is, so training K
  networks costs about as much as training one (on a CPU the small tensors are
  overhead-bound; on a GPU one launch serves all K). Masks switch off the units
  an architecture does not have and the weights pruned away.
* :func:`train_networks` — Adam on MSE + a smoothed L0.5 penalty, prune at a
  threshold, retrain the survivors. The loss is a sum over architectures and
  Adam and the gradient clipping work per architecture, so each network trains
  as it would alone (to round-off).
* :class:`Controller` — an LSTM cell that emits the depth, then per layer the
  number of units of each operator type.
* :class:`DySymNetProposer` — the loop: sample a batch, train it, read every
  network off as an :class:`~symreg.expression.Expression` in a few ways (as
  trained; at a harsher threshold; keeping only each unit's strongest inputs),
  refit all constants with batched :func:`~symreg.constants.fit_constants`,
  drop the parts the refit made negligible and refit again, reward
  1/(1 + NRMSE), update the controller, keep a hall of the best.

The refit does the precise work: the trained net only has to get the structure
(which units, which inputs dominate) right; Levenberg–Marquardt then finds
constants exact to round-off where the structure is the law's.
"""

from __future__ import annotations

from .config import DySymNetConfig
from .controller import Controller, risk_seeking_loss
from .model import DEFAULT_UNITS, UNITS, BatchedSymbolicNetwork
from .proposer import DySymNetProposer
from .readoff import _best_subsets, _repair_domains  # noqa: F401 - the tests call them
from .training import train_networks

__all__ = [
    "DEFAULT_UNITS",
    "UNITS",
    "BatchedSymbolicNetwork",
    "Controller",
    "DySymNetConfig",
    "DySymNetProposer",
    "risk_seeking_loss",
    "train_networks",
]
