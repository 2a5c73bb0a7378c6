"""The search's fixed thresholds, named and grouped by phase.

These are the numbers of :mod:`symreg.search.engine` and its phases that are not
user settings (those are :class:`~symreg.search.engine.SearchConfig`): they were
tuned on the benchmark suites and changing one changes what a search finds. The
cheap structure tests keep their own policy (stage, restarts, how many screened
candidates are refitted) on their classes (:mod:`symreg.search.structure`).
"""

from __future__ import annotations

# -- constant fits -----------------------------------------------------------------
#: restarts and iterations of a plain fit into the hall of fame
FIT_RESTARTS = 2
FIT_MAX_ITER = 40
#: the polish phase's reserve: min(POLISH_RESERVE_SECONDS, POLISH_RESERVE_SHARE × budget)
POLISH_RESERVE_SECONDS = 3.0
POLISH_RESERVE_SHARE = 0.1

# -- seeds and cheap structure -----------------------------------------------------
#: the fit of handed-in seeds (a proposer's many-constant candidates)
SEED_RESTARTS = 4
SEED_MAX_ITER = 60
#: the seeds' fit ends after 1/SEED_BUDGET_PARTS of the time budget
SEED_BUDGET_PARTS = 3
#: screening a stage: losses are compared in tenths of a decade, and all below
#: SCREEN_FLOOR count as one level (round-off)
SCREEN_FLOOR = 1e-13
SCREEN_DECIMALS = 1

# -- exhaustive enumeration --------------------------------------------------------
#: raw candidates a second on one CPU core, which sizes the enumeration from its
#: share of the configured budget; at least ENUMERATION_MIN_CANDIDATES
ENUMERATION_RATE = 600_000
ENUMERATION_MIN_CANDIDATES = 20_000
#: under max_evals, at most max_evals // ENUMERATION_EVALS_PARTS candidates (at
#: least ENUMERATION_MIN_UNDER_EVALS)
ENUMERATION_EVALS_PARTS = 4
ENUMERATION_MIN_UNDER_EVALS = 1000
#: the largest enumerated expression and the probe points of its equivalence test
ENUMERATION_MAX_SIZE = 12
ENUMERATION_PROBES = 32
#: the best ENUMERATION_FITS_FACTOR × max_fits_per_generation are fitted
ENUMERATION_FITS_FACTOR = 4

# -- evolution -----------------------------------------------------------------------
#: the most tokens of a random expression (initial population, fresh blood)
RANDOM_MAX_TOKENS = 15
#: a breeding draw r < CROSSOVER_BELOW crosses two parents, r < RANDOM_BELOW adds
#: a random expression, anything else mutates
CROSSOVER_BELOW = 0.2
RANDOM_BELOW = 0.23
#: breeding gives up after BREED_ATTEMPTS × n tries
BREED_ATTEMPTS = 4
#: every ELITE_EVERY generations the hall of fame rejoins the population
ELITE_EVERY = 10
#: losses below this are equal in the fitness (log10 of the loss + parsimony)
FITNESS_FLOOR = 1e-18
#: constants are compared to this many digits when de-duplicating
KEY_DIGITS = 6
#: offspring below this quantile of the generation's losses get their constants tuned
TUNE_QUANTILE = 0.25
#: rows of the tuning subsample, and iterations of the tuning fit
TUNE_ROWS = 128
TUNE_MAX_ITER = 8
#: an offspring is fitted when its loss beats the hall of fame's best at its size
#: plus OFFER_SCALING_TOKENS (the scale and offset a fit adds) by the factor
#: OFFER_GAIN, or (holding a constant) lies within OFFER_CONSTANT_SLACK times it
OFFER_SCALING_TOKENS = 4
OFFER_GAIN = 0.999
OFFER_CONSTANT_SLACK = 2
#: the fit of offered offspring
OFFER_RESTARTS = 1
OFFER_MAX_ITER = 30
#: a formula from another worker is taken up to EXCHANGE_LENGTH_FACTOR × maxsize tokens
EXCHANGE_LENGTH_FACTOR = 4

# -- tree search (MCTS + layered passes) ------------------------------------------
#: (nodes a stored layer may keep, bytes of one chunk) on a GPU and on the CPU:
#: a depth-3 pass costs about 4·max_stored² candidates
LAYERED_LIMITS_CUDA = (20_000, 2 << 30)
LAYERED_LIMITS_CPU = (600, 48 << 20)
#: each pass keeps its LAYERED_TOP_K best; the TREE_FITS best of those are fitted
LAYERED_TOP_K = 16
TREE_FITS = 3
TREE_RESTARTS = 1
TREE_MAX_ITER = 30
#: subtrees mined for the pool have at most max(TREE_MIN_SUBTREE, maxsize //
#: TREE_SUBTREE_PARTS) tokens
TREE_MIN_SUBTREE = 3
TREE_SUBTREE_PARTS = 3

# -- polish ----------------------------------------------------------------------------
#: stop a polish step this many seconds before the budget's end
POLISH_MARGIN = 0.05
#: sympy gets what is left, at most SIMPLIFY_SHARE of the budget (at least
#: SIMPLIFY_MIN_SECONDS), at most SIMPLIFY_TIMEOUT a formula, for formulas longer
#: than SIMPLIFY_MIN_LENGTH tokens
SIMPLIFY_SHARE = 0.1
SIMPLIFY_MIN_SECONDS = 0.3
SIMPLIFY_TIMEOUT = 1.0
SIMPLIFY_MIN_LENGTH = 3
#: term dropping tries the DROP_CANDIDATES simplest formulas within DROP_WITHIN ×
#: the best loss, DROP_ROUNDS rounds, within DROP_RESERVE_SHARE of the reserve
DROP_WITHIN = 1.5
DROP_CANDIDATES = 4
DROP_ROUNDS = 3
DROP_RESERVE_SHARE = 0.5
