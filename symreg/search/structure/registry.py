"""The structure tests behind one interface, and the registry the search iterates.

A structure test turns the data into candidate formulas in milliseconds (a power
law, sparse polynomials, sparse models of a transformed target, ratios, sums with
sines). Each is a class registered with :func:`register`; the search
(:mod:`symreg.search.seeding`) runs the registered tests stage by stage:

* **stage 0** (``screen = False``): the candidates of all its tests, de-duplicated,
  have their constants fitted at once (``n_restarts`` restarts);
* **later stages** (``screen = True``), in increasing order: the candidates of the
  stage's tests together are scored as they are (their constants come from the
  linearised fits, so that is a fair screen) and only the ``keep`` best are
  refitted.

Tests in one stage run in the order of their ``order``. A search can switch tests off by
name (``SearchConfig.structure_tests``); :func:`list_structure_tests` lists them.

Adding a test is a class in a module of this package, imported by its
``__init__``; the engine needs no change::

    @register
    class Fourier(BaseTest):
        name = "fourier"
        stage = 3           # screened after the factored test, with trig
        order = 1           # after trig within the stage
        needs = ("sin", "cos", "mul", "add")

        def candidates(self, X, y, operators, seed):
            return fourier_candidates(X, y, operators, seed=seed)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from ...expression import Expression
from ...tree import TreeBuilder

__all__ = ["BaseTest", "StructureTest", "get_structure_tests", "list_structure_tests", "register",
           "stages"]


@runtime_checkable
class StructureTest(Protocol):
    """What the search needs of a cheap structure test.

    Attributes
    ----------
    name : str
        Unique name, used to switch the test off.
    stage : int
        Tests run stage by stage, in increasing order; stage 0 is fitted whole,
        the later ones screened.
    order : int
        The position within the stage (its candidates come in this order).
    screen : bool
        Score the candidates as they are and refit only the ``keep`` best
        (True), or fit all of them (False). The same for all tests of a stage.
    keep : int
        How many screened candidates of the stage are refitted.
    n_restarts, max_iter : int
        The constant fit of the stage's candidates.
    needs : tuple of str
        Operators without which the test never yields a candidate.
    """

    name: ClassVar[str]
    stage: ClassVar[int]
    order: ClassVar[int]
    screen: ClassVar[bool]
    keep: ClassVar[int]
    n_restarts: ClassVar[int]
    max_iter: ClassVar[int]
    needs: ClassVar[tuple[str, ...]]

    def applies(self, X: np.ndarray, y: np.ndarray, operators: Sequence[str] | None) -> bool:
        """Whether the test can yield a candidate at all (a cheap check)."""
        ...

    def candidates(self, X: np.ndarray, y: np.ndarray, operators: Sequence[str] | None,
                   seed: int) -> list[Expression]:
        """The test's candidate formulas, in the variables ``x0, x1, ...``."""
        ...


class BaseTest:
    """Defaults for a :class:`StructureTest`: a screened stage-1 test whose 8 best
    candidates get one restart of 60 iterations."""

    name: ClassVar[str] = ""
    stage: ClassVar[int] = 1
    order: ClassVar[int] = 0
    screen: ClassVar[bool] = True
    keep: ClassVar[int] = 8
    n_restarts: ClassVar[int] = 1
    max_iter: ClassVar[int] = 60
    needs: ClassVar[tuple[str, ...]] = ()

    def applies(self, X: np.ndarray, y: np.ndarray, operators: Sequence[str] | None) -> bool:
        return TreeBuilder(operators).ok(*self.needs)

    def candidates(self, X: np.ndarray, y: np.ndarray, operators: Sequence[str] | None,
                   seed: int) -> list[Expression]:
        raise NotImplementedError


_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: add a structure test to the registry (names are unique)."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"structure test name {cls.name!r} is empty or taken")
    _REGISTRY[cls.name] = cls
    return cls


def list_structure_tests() -> list[str]:
    """The names of the registered structure tests in the order the search runs them."""
    return sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].stage, _REGISTRY[n].order, n))


def get_structure_tests(names: Sequence[str] | None = None) -> list[StructureTest]:
    """Instances of the named tests (all when ``None``) in run order.

    Raises
    ------
    ValueError
        For a name that is not registered; the message lists the known ones.
    """
    known = list_structure_tests()
    if names is None:
        chosen = known
    else:
        unknown = [n for n in names if n not in _REGISTRY]
        if unknown:
            raise ValueError(f"unknown structure test(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(known)}")
        chosen = [n for n in known if n in set(names)]
    return [_REGISTRY[n]() for n in chosen]


def stages(tests: Sequence[StructureTest]) -> list[list[StructureTest]]:
    """``tests`` (in run order) grouped into their stages."""
    out: list[list[StructureTest]] = []
    for t in tests:
        if out and out[-1][0].stage == t.stage:
            out[-1].append(t)
        else:
            out.append([t])
    return out
