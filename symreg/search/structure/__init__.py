"""Cheap structure tests: candidate formulas from the data in milliseconds.

Each test is a class behind one interface (:class:`StructureTest`: a name, the
stage it runs in, whether its candidates are screened, when it applies, and
``candidates(X, y, operators, seed)``) registered in the order the search runs
them; :func:`list_structure_tests` lists them and
``SearchConfig.structure_tests`` switches them off by name. All share one
toolkit, :mod:`~symreg.search.structure.library` (term libraries, sparse
selection, refits, writing trees).

========================  =====  ===================================================
test                      stage  finds
========================  =====  ===================================================
``power_law``             0      ``c·∏ x_i^a_i`` (:mod:`.power`)
``sparse_polynomial``     0      sparse sums of monomials (:mod:`.polynomial`)
``variables``             0      the variables alone
``transformed``           1      sparse models of 1/y, y², 1/y², log|y|, … (:mod:`.transforms`)
``rational``              1      ratios of sparse sums P/Q (:mod:`.rational`)
``factored``              2      a power law times either of the above (:mod:`.factored`)
``trig``                  3      sums of monomials times sines and cosines (:mod:`.trig`)
========================  =====  ===================================================
"""

from .factored import Factored, factored_candidates
from .polynomial import SparsePolynomial, Variables, sparse_polynomial, structure_candidates
from .power import PowerLaw, power_law, power_law_factor
from .rational import Rational, rational_candidates
from .registry import (
    BaseTest,
    StructureTest,
    get_structure_tests,
    list_structure_tests,
    register,
    stages,
)
from .transforms import Transformed, transformed_candidates
from .trig import Trig, trig_candidates

__all__ = [
    "BaseTest", "Factored", "PowerLaw", "Rational", "SparsePolynomial", "StructureTest",
    "Transformed", "Trig", "Variables", "factored_candidates", "get_structure_tests",
    "list_structure_tests", "power_law", "power_law_factor", "rational_candidates", "register",
    "sparse_polynomial", "stages", "structure_candidates", "transformed_candidates",
    "trig_candidates",
]
