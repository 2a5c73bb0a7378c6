"""The transformer's token vocabulary and its hypotheses.

The decoder reads and writes the same prefix tokens as :class:`~symreg.Expression`
(operator names, ``x0 … x{k-1}`` and the constant placeholder ``C``), plus a few
special tokens. A decoder input looks like::

    <hyp> +op:sin -op:exp <sub> mul x0 x1 </sub> cx:7 <bos> mul C sin mul x0 x1 <eos>

Everything before ``<bos>`` is the hypothesis (controllable neural SR, Bendinelli et
al. 2023): operators that must or must not appear, subtrees that must appear, and a
target length. The model is trained with hypotheses switched on at random, so an
empty hypothesis (``<hyp> <bos> …``) is also a normal input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import operators as ops
from ..expression import CONST, Expression, _check_prefix, is_variable, variable_index

__all__ = ["BOS", "EOS", "HYP", "PAD", "SUB_CLOSE", "SUB_OPEN", "Hypothesis", "Vocabulary",
           "contains_subtree", "skeleton_key"]

PAD, BOS, EOS, HYP = "<pad>", "<bos>", "<eos>", "<hyp>"
SUB_OPEN, SUB_CLOSE = "<sub>", "</sub>"

#: Operators the shipped model knows: the default search vocabulary.
TRANSFORMER_OPERATORS: tuple[str, ...] = ops.DEFAULT_OPERATORS


@dataclass(frozen=True)
class Hypothesis:
    """What the user already believes about the formula.

    Parameters
    ----------
    include : operator names that must appear (``"sin"``, ``"+"`` …)
    exclude : operator names that must not appear; beams never contain them
    subtrees : expressions that must appear as subtrees, e.g. ``"x0*x1"``
        (constants are skeletonised to ``C``)
    complexity : target length of the skeleton in tokens
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    subtrees: tuple[tuple[str, ...], ...] = ()
    complexity: int | None = None

    @classmethod
    def make(cls, include: Iterable[str] = (), exclude: Iterable[str] = (),
             subtrees: Iterable[str | Expression | Sequence[str]] = (),
             complexity: int | None = None,
             variable_names: Sequence[str] | None = None) -> Hypothesis:
        """A hypothesis from user-friendly pieces; ValueError names what is wrong."""
        inc = tuple(ops.get(o).name for o in include)
        exc = tuple(ops.get(o).name for o in exclude)
        clash = set(inc) & set(exc)
        if clash:
            raise ValueError(f"hypothesis both includes and excludes {sorted(clash)}")
        subs = []
        for s in subtrees:
            if isinstance(s, Expression):
                toks = s.tokens
            elif isinstance(s, str):
                toks = Expression.parse(s, variable_names).tokens
            else:
                toks = tuple(s)
                _check_prefix(toks)
            subs.append(tuple(CONST if t == CONST else t for t in toks))
        for sub in subs:
            banned = sorted(set(sub) & set(exc))
            if banned:
                raise ValueError(f"hypothesis subtree {' '.join(sub)!r} uses excluded "
                                 f"operator(s) {banned}")
        if complexity is not None and (not isinstance(complexity, int) or complexity < 1):
            raise ValueError(f"hypothesis complexity must be a positive integer, got {complexity!r}")
        return cls(inc, exc, tuple(subs), complexity)

    @classmethod
    def from_dict(cls, data: dict | Hypothesis | None,
                  variable_names: Sequence[str] | None = None) -> Hypothesis:
        """Accepts ``{"include": [...], "exclude": [...], "subtrees": [...], "complexity": k}``."""
        if data is None:
            return cls()
        if isinstance(data, Hypothesis):
            return data
        if not isinstance(data, dict):
            raise TypeError(f"hypotheses must be a dict or Hypothesis, got {type(data).__name__}")
        unknown = set(data) - {"include", "exclude", "subtrees", "complexity"}
        if unknown:
            raise ValueError(f"unknown hypothesis keys {sorted(unknown)}; "
                             "allowed: include, exclude, subtrees, complexity")
        as_list = lambda v: [v] if isinstance(v, str) else list(v or ())
        return cls.make(as_list(data.get("include")), as_list(data.get("exclude")),
                        as_list(data.get("subtrees")), data.get("complexity"), variable_names)

    @property
    def empty(self) -> bool:
        return not (self.include or self.exclude or self.subtrees or self.complexity)

    def satisfied_by(self, tokens: Sequence[str]) -> bool:
        """Whether a skeleton obeys every part of the hypothesis but the length."""
        present = set(tokens)
        if any(o not in present for o in self.include) or any(o in present for o in self.exclude):
            return False
        return all(contains_subtree(tokens, s) for s in self.subtrees)


def skeleton_key(tokens: Sequence[str]) -> str:
    """A key equal for skeletons that differ only by the order and grouping of sums
    and products: ``x0*(x1*x2)``, ``(x2*x0)*x1`` and ``C*x0*x1`` vs ``x0*(C*x1)``.

    Chains of ``add`` (and of ``mul``) are flattened and their terms sorted, since
    with constants as placeholders the grouping says nothing. :meth:`Expression.key`
    sorts the two arguments of each node but keeps the grouping.
    """
    stack: list[tuple[str, tuple]] = []  # (key, terms of an add/mul chain or ())
    for tok in reversed(tokens):
        op = ops.OPERATORS.get(tok)
        if op is None:
            stack.append((tok, ()))
            continue
        args = [stack.pop() for _ in range(op.arity)]
        if tok in ("add", "mul"):
            terms = []
            for key, sub in args:
                terms.extend(sub if key.startswith(tok + "[") else (key,))
            terms.sort()
            stack.append((f"{tok}[{','.join(terms)}]", tuple(terms)))
        else:
            stack.append((f"{tok}({','.join(k for k, _ in args)})", ()))
    return stack[0][0]


def contains_subtree(tokens: Sequence[str], sub: Sequence[str]) -> bool:
    """Whether the prefix sequence ``sub`` is a whole subtree of ``tokens``.

    In prefix order a subtree is a contiguous run that starts at a node and ends
    where that node's subtree ends, so a run match that is a complete expression
    is a subtree (a complete prefix expression cannot end early inside ``tokens``).
    """
    n, m = len(tokens), len(sub)
    sub = tuple(sub)
    return any(tuple(tokens[i:i + m]) == sub for i in range(n - m + 1))


@dataclass
class Vocabulary:
    """Token ↔ id mapping for a given operator set and variable count.

    Saved with the weights (``to_dict``), so a checkpoint is self-describing.
    """

    operators: tuple[str, ...] = TRANSFORMER_OPERATORS
    max_vars: int = 10
    max_complexity: int = 40
    tokens: list[str] = field(init=False)
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.operators = tuple(ops.get(o).name for o in self.operators)
        skeleton = [*self.operators, CONST, *(f"x{i}" for i in range(self.max_vars))]
        hyp = ([f"+op:{o}" for o in self.operators] + [f"-op:{o}" for o in self.operators]
               + [f"cx:{k}" for k in range(1, self.max_complexity + 1)])
        self.tokens = [PAD, BOS, EOS, HYP, SUB_OPEN, SUB_CLOSE, *skeleton, *hyp]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    @property
    def bos_id(self) -> int:
        return self.index[BOS]

    @property
    def eos_id(self) -> int:
        return self.index[EOS]

    def id(self, token: str) -> int:
        return self.index[token]

    def skeleton_ids(self) -> list[int]:
        """Ids the decoder may emit after ``<bos>``: skeleton tokens and ``<eos>``."""
        return [self.index[t] for t in self.tokens if self.is_skeleton(t)] + [self.eos_id]

    def is_skeleton(self, token: str) -> bool:
        return token in ops.OPERATORS or token == CONST or is_variable(token)

    def knows(self, tokens: Sequence[str]) -> bool:
        """Whether every token of a skeleton is in the vocabulary."""
        return all(t in self.index for t in tokens)

    def hypothesis_ids(self, hyp: Hypothesis) -> list[int]:
        """The hypothesis prefix, ``<hyp> … `` (without ``<bos>``).

        Parts the vocabulary cannot express (an unknown operator, a variable
        beyond ``max_vars``) are dropped: they only condition the model, and
        excluded operators are also masked during decoding.
        """
        out = [self.index[HYP]]
        out += [self.index[f"+op:{o}"] for o in hyp.include if f"+op:{o}" in self.index]
        out += [self.index[f"-op:{o}"] for o in hyp.exclude if f"-op:{o}" in self.index]
        for sub in hyp.subtrees:
            if self.knows(sub):
                out += [self.index[SUB_OPEN], *(self.index[t] for t in sub), self.index[SUB_CLOSE]]
        if hyp.complexity is not None:
            out.append(self.index[f"cx:{min(hyp.complexity, self.max_complexity)}"])
        return out

    def encode(self, skeleton: Sequence[str], hyp: Hypothesis | None = None) -> list[int]:
        """Decoder sequence: hypothesis, ``<bos>``, skeleton, ``<eos>``."""
        return [*self.hypothesis_ids(hyp or Hypothesis()), self.bos_id,
                *(self.index[t] for t in skeleton), self.eos_id]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Skeleton tokens of ids that follow ``<bos>`` (stops at ``<eos>``)."""
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict:
        return {"operators": list(self.operators), "max_vars": self.max_vars,
                "max_complexity": self.max_complexity}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(tuple(data["operators"]), int(data["max_vars"]), int(data["max_complexity"]))


def variables_of(tokens: Sequence[str]) -> set[int]:
    return {variable_index(t) for t in tokens if is_variable(t)}
