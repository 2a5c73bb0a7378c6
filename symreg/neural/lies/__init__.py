"""LIES: a fixed network of log, identity, exp and sin units, trained sparse and read off.

After Montazerin, Al Aawar, Ortega & Srivastava (2025), *Sparse interpretable deep
learning with LIES networks for symbolic regression*; this is our own implementation
of the idea, one job per module (:mod:`.config`, :mod:`.model` with the input
features, :mod:`.training` with the pruning, :mod:`.readoff`, :mod:`.polish`,
:mod:`.proposer`):

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

from .config import UNITS, LIESConfig
from .model import LIESNet, _features  # noqa: F401 - the tests build inputs with it
from .polish import snap_exponents
from .proposer import LIESProposer
from .readoff import group_weights, read_off
from .training import prune, train

__all__ = ["UNITS", "LIESConfig", "LIESNet", "LIESProposer", "group_weights", "prune",
           "read_off", "snap_exponents", "train"]
