"""The pretrained-transformer stack: vocabulary and hypotheses, point encoding, beam
search, resumable training and export, the proposer, its wiring into the regressor
and the ``symreg train`` / ``--hypothesis`` command line.

Everything runs on a tiny model (a few ten thousand parameters) trained for 150
steps once per module, so the file stays fast on one CPU thread.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from symreg import operators as ops
from symreg.app.cli import _parse_hypothesis, app
from symreg.expression import CONST, Expression, is_variable, variable_index
from symreg.neural import get_proposer
from symreg.neural import transformer_proposer as tp
from symreg.neural.generator import EquationGenerator, GeneratorConfig, Sample
from symreg.neural.train import (
    TrainConfig,
    evaluate_model,
    export_weights,
    make_batch,
    train,
    validation_set,
)
from symreg.neural.transformer import ModelConfig, SetTransformerSR, encode_points
from symreg.neural.transformer_proposer import (
    BeamPrior,
    TransformerProposer,
    load_model,
    select_variables,
)
from symreg.neural.vocab import (
    BOS,
    EOS,
    HYP,
    SUB_CLOSE,
    SUB_OPEN,
    Hypothesis,
    Vocabulary,
    contains_subtree,
    skeleton_key,
)
from symreg.neural.weights_io import UnsafeWeightsError, load_weights
from symreg.regressor import SymbolicRegressor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner()
KEPLER = Path(__file__).resolve().parents[1] / "examples" / "data" / "kepler.csv"
TRAIN_STEPS = 150


def _tiny_model_config() -> ModelConfig:
    return ModelConfig(max_vars=3, d_model=32, n_heads=2, enc_layers=1, dec_layers=1,
                       n_inducing=8, n_latents=4, vocab=Vocabulary(max_vars=3).to_dict())


def _train_config(out: Path, steps: int, **kw) -> TrainConfig:
    base = {"out_dir": str(out), "steps": steps, "batch_size": 16, "lr": 3e-3, "min_lr": 1e-4,
            "warmup": 10, "log_every": 10, "eval_every": 10**9, "n_val": 8, "num_workers": 0,
            "device": "cpu", "seed": 0, "model": _tiny_model_config(),
            "generator": GeneratorConfig(max_vars=3, n_points=32)}
    return TrainConfig(**{**base, **kw})


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _untrained() -> SetTransformerSR:
    torch.manual_seed(0)
    return SetTransformerSR(_tiny_model_config()).eval()


def _data(n=64, k=2, seed=0):
    X = np.random.default_rng(seed).uniform(1.0, 5.0, size=(n, k))
    return X, X[:, 0] * X[:, 1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_torch_thread):
    """A tiny model trained for TRAIN_STEPS steps: (run folder, ckpt path, weights path)."""
    out = tmp_path_factory.mktemp("tiny_run")
    ckpt = train(_train_config(out, TRAIN_STEPS), quiet=True)
    weights = export_weights(ckpt, out / "tiny.pt", command="pytest tiny")
    return out, ckpt, weights


def _skeleton_tokens(vocab: Vocabulary) -> set[str]:
    return {t for t in vocab.tokens if vocab.is_skeleton(t)}


# ---------------------------------------------------------------------------
# vocabulary and hypotheses
# ---------------------------------------------------------------------------

def test_vocabulary_encode_decode_round_trip():
    v = Vocabulary(max_vars=3)
    assert len(set(v.tokens)) == len(v.tokens)  # ids are unambiguous
    for skel in (["mul", "C", "sin", "mul", "x0", "x1"], ["x2"], ["add", "x0", "inv", "C"]):
        ids = v.encode(skel)
        assert ids[:2] == [v.id(HYP), v.bos_id] and ids[-1] == v.eos_id
        assert v.decode(ids[ids.index(v.bos_id) + 1:]) == skel
        # decoding stops at <eos>, whatever follows it
        assert v.decode(ids[2:] + [v.id("x0")]) == skel
    back = Vocabulary.from_dict(json.loads(json.dumps(v.to_dict())))
    assert back.tokens == v.tokens
    with pytest.raises(KeyError):
        v.encode(["x3"])  # beyond max_vars


def test_hypothesis_prefix_precedes_bos():
    v = Vocabulary(max_vars=3)
    hyp = Hypothesis.make(include=["sin"], exclude=["exp"], subtrees=["x0*x1"], complexity=7)
    skel = ["mul", "C", "sin", "mul", "x0", "x1"]
    ids = v.encode(skel, hyp)
    toks = [v.tokens[i] for i in ids]
    bos = toks.index(BOS)
    assert toks[:bos] == [HYP, "+op:sin", "-op:exp", SUB_OPEN, "mul", "x0", "x1", SUB_CLOSE,
                          "cx:7"]
    assert toks[bos + 1:] == [*skel, EOS]
    assert v.decode(ids[bos + 1:]) == skel
    # the length token is clipped to the vocabulary; parts it cannot say are dropped
    long = v.hypothesis_ids(Hypothesis.make(complexity=10 * v.max_complexity))
    assert v.tokens[long[-1]] == f"cx:{v.max_complexity}"
    beyond = v.hypothesis_ids(Hypothesis.make(subtrees=["x0*x5"]))
    assert v.id(SUB_OPEN) not in beyond
    assert v.hypothesis_ids(Hypothesis()) == [v.id(HYP)]


def test_hypothesis_make_validates():
    with pytest.raises(ValueError, match="nosuchop"):
        Hypothesis.make(include=["nosuchop"])
    with pytest.raises(ValueError, match="nosuchop"):
        Hypothesis.make(exclude=["nosuchop"])
    with pytest.raises(ValueError, match="both includes and excludes"):
        Hypothesis.make(include=["sin", "exp"], exclude=["exp"])
    # aliases are resolved first, so "+" and "add" clash too
    with pytest.raises(ValueError, match="add"):
        Hypothesis.make(include=["+"], exclude=["add"])
    for bad in (0, -3, "5", 2.5):
        with pytest.raises(ValueError, match="complexity"):
            Hypothesis.make(complexity=bad)
    with pytest.raises(ValueError):
        Hypothesis.make(subtrees=[("mul", "x0")])  # incomplete prefix
    hyp = Hypothesis.make(include=["+", "*"], exclude=["sin"])
    assert hyp.include == ("add", "mul") and hyp.exclude == ("sin",)


def test_hypothesis_from_dict():
    with pytest.raises(ValueError) as err:
        Hypothesis.from_dict({"exclude": ["sin"], "includes": ["cos"]})
    msg = str(err.value)
    assert "includes" in msg
    for key in ("include", "exclude", "subtrees", "complexity"):
        assert key in msg
    with pytest.raises(TypeError):
        Hypothesis.from_dict(["sin"])
    assert Hypothesis.from_dict(None) == Hypothesis() and Hypothesis().empty
    hyp = Hypothesis.make(include=["sin"])
    assert Hypothesis.from_dict(hyp) is hyp
    # a single string is one item, not a list of characters
    got = Hypothesis.from_dict({"include": "sin", "exclude": "cos", "subtrees": "m*v",
                                "complexity": 5}, variable_names=["m", "v"])
    assert got == Hypothesis(("sin",), ("cos",), (("mul", "x0", "x1"),), 5)
    assert not got.empty


def test_hypothesis_subtree_strings_are_parsed_with_names():
    hyp = Hypothesis.make(subtrees=["2*m*v", Expression.parse("sin(x1)"), ("add", "x0", "C")],
                          variable_names=["m", "v"])
    assert hyp.subtrees == (("mul", "mul", CONST, "x0", "x1"), ("sin", "x1"), ("add", "x0", "C"))
    with pytest.raises(ValueError):
        Hypothesis.make(subtrees=["m*q"], variable_names=["m", "v"])  # unknown name


def test_contains_subtree():
    tokens = ("mul", "add", "x0", "x1", "x2")  # (x0 + x1) * x2
    assert contains_subtree(tokens, ("add", "x0", "x1"))
    assert contains_subtree(tokens, tokens)
    assert contains_subtree(tokens, ("x2",))
    assert not contains_subtree(tokens, ("mul", "x0", "x1"))
    assert not contains_subtree(tokens, ("add", "x1", "x2"))
    assert not contains_subtree(tokens, ("x3",))
    assert not contains_subtree(("x0",), ("add", "x0", "x1"))  # longer than the tree
    # a matching run of a complete expression is always a whole subtree: check every run
    # of every tree against Expression.subtree_end
    for text in ("sin(x0*x1) + x0*x1", "x0*(x1 + x2*x0) - exp(x1)", "(x0 + x1)*x2"):
        e = Expression.parse(text)
        t = e.tokens
        subtrees = {t[i:e.subtree_end(i)] for i in range(len(t))}
        for i in range(len(t)):
            for j in range(i + 1, len(t) + 1):
                run = t[i:j]
                try:
                    Expression(run)
                except ValueError:
                    continue  # not a complete expression
                assert run in subtrees, (text, run)
                assert contains_subtree(t, run)


def test_hypothesis_satisfied_by():
    hyp = Hypothesis.make(include=["sin"], exclude=["exp"], subtrees=["x0*x1"])
    assert hyp.satisfied_by(Expression.parse("sin(x0*x1) + x2").tokens)
    assert not hyp.satisfied_by(Expression.parse("sin(x0) * x1").tokens)  # no x0*x1 subtree
    assert not hyp.satisfied_by(Expression.parse("exp(sin(x0*x1))").tokens)
    assert not hyp.satisfied_by(Expression.parse("x0*x1").tokens)


# ---------------------------------------------------------------------------
# point encoding
# ---------------------------------------------------------------------------

def test_encode_points_shape_and_absent_columns():
    X, y = _data(n=40, k=2)
    f = encode_points(X, y, max_vars=3)
    assert f.shape == (1, 40, 4 * 4) and f.dtype == torch.float32
    cols = f.reshape(1, 40, 4, 4)
    assert (cols[:, :, 2] == 0).all()  # x2 absent: all zero, present flag 0
    assert (cols[:, :, [0, 1, 3], 3] == 1).all()  # x0, x1, y present
    batch = encode_points(np.stack([X, X]), np.stack([y, 2 * y]), max_vars=3)
    assert batch.shape == (2, 40, 16)
    torch.testing.assert_close(batch[:1], f)
    assert not torch.equal(batch[1], batch[0])
    with pytest.raises(ValueError, match="at most 3"):
        encode_points(np.ones((10, 4)), np.ones(10), max_vars=3)


def test_encoding_and_encoder_are_order_invariant():
    X, y = _data(n=50, k=3, seed=1)
    y = np.sin(X[:, 0]) + X[:, 1] / X[:, 2]
    perm = np.random.default_rng(2).permutation(50)
    f, fp = encode_points(X, y, 3), encode_points(X[perm], y[perm], 3)
    torch.testing.assert_close(fp, f[:, perm], atol=1e-6, rtol=1e-6)
    model = _untrained()
    with torch.no_grad():
        m, mp = model.encode(f), model.encode(fp)
        assert m.shape == (1, model.config.n_latents + model.config.n_summary,
                           model.config.d_model)
        torch.testing.assert_close(mp, m, atol=1e-5, rtol=1e-5)
        # and it does depend on the data
        other = model.encode(encode_points(X, y + 5.0, 3))
        assert (other - m).abs().max() > 1e-4


@pytest.mark.parametrize("scale", [1e30, 1e-30, 0.0])
def test_encoding_is_finite_at_extreme_scales(scale):
    X, y = _data(n=32, k=2, seed=3)
    f = encode_points(X * scale, y * scale, 3)
    assert torch.isfinite(f).all()
    assert f.abs().max() <= 3.0 + 1e-6  # every feature is bounded, none saturates to inf
    with torch.no_grad():
        assert torch.isfinite(_untrained().encode(f)).all()
    # a constant column (zero variance) is fine too
    Xc = X.copy()
    Xc[:, 1] = scale
    assert torch.isfinite(encode_points(Xc, y, 3)).all()


def test_encoding_tells_scales_apart():
    X, y = _data(n=32, k=2, seed=4)
    small, big = encode_points(X, y, 3), encode_points(X, 1e6 * y, 3)
    # the shape (standardised) part is the same, the magnitude part differs
    s, b = small.reshape(1, 32, 4, 4), big.reshape(1, 32, 4, 4)
    torch.testing.assert_close(s[..., 3, 2], b[..., 3, 2], atol=1e-5, rtol=1e-5)
    assert (b[..., 3, 1] - s[..., 3, 1]).abs().min() > 1.0  # log10 shift of 6, / 4


# ---------------------------------------------------------------------------
# beam search
# ---------------------------------------------------------------------------

def _check_beams(beams, n_vars, beam_width, banned=(), allowed_ops=None):
    assert 0 < len(beams) <= beam_width
    scores = [lp for _, lp in beams]
    assert scores == sorted(scores, reverse=True)
    assert all(np.isfinite(lp) and lp <= 0 for lp in scores)
    for tokens, _ in beams:
        e = Expression(tokens)  # a complete prefix expression
        assert all(variable_index(t) < n_vars for t in tokens if is_variable(t))
        assert not set(tokens) & set(banned), tokens
        if allowed_ops is not None:
            assert {t for t in tokens if t in ops.OPERATORS} <= set(allowed_ops), tokens
        assert len(e) <= Vocabulary(max_vars=3).max_complexity


def test_beam_search_returns_complete_valid_skeletons():
    model = _untrained()
    X, y = _data(n=32, k=2)
    pts = encode_points(X, y, 3)
    plain = model.beam_search(pts, 2, beam_width=16)
    _check_beams(plain, n_vars=2, beam_width=16)
    # an untrained model spreads its mass, so sin shows up unless excluded ...
    assert any("sin" in t for t, _ in plain)
    hyp = Hypothesis.make(exclude=["sin", "cos"])
    _check_beams(model.beam_search(pts, 2, beam_width=16, hypothesis=hyp), 2, 16,
                 banned=("sin", "cos"))
    # ... and operators= masks everything else
    few = model.beam_search(pts, 2, beam_width=12, operators=["+", "*"])
    _check_beams(few, 2, 12, allowed_ops=("add", "mul"))
    assert any(set(t) & {"add", "mul"} for t, _ in few)
    # one variable: x1 and x2 never appear
    one = model.beam_search(encode_points(X[:, :1], y, 3), 1, beam_width=8)
    _check_beams(one, 1, 8)
    short = model.beam_search(pts, 2, beam_width=8, max_len=5)
    _check_beams(short, 2, 8)
    assert all(len(t) <= 5 for t, _ in short)


def test_beam_search_with_hypothesis_prefix_and_trained_model(trained):
    model, _ = load_model(trained[2])
    X, y = _data(n=64, k=3, seed=5)
    pts = encode_points(X, y, 3)
    hyp = Hypothesis.make(include=["mul"], exclude=["exp", "log"], subtrees=["x0*x1"],
                          complexity=5)
    beams = model.beam_search(pts, 3, beam_width=10, hypothesis=hyp,
                              operators=ops.DEFAULT_OPERATORS)
    _check_beams(beams, 3, 10, banned=("exp", "log"))
    assert len({tuple(t) for t, _ in beams}) == len(beams)  # no duplicates
    # the scores are the model's own: the teacher-forced log-prob of the best beam
    best, lp = beams[0]
    v = model.vocab
    ids = torch.tensor([v.encode(best, hyp)])
    with torch.no_grad():
        logits, _ = model(pts, ids)
    logp = torch.log_softmax(logits[0].float(), -1)
    start = ids[0].tolist().index(v.bos_id)
    targets = ids[0, start + 1:]
    teacher = float(logp[start:start + len(targets)].gather(1, targets[:, None]).sum())
    # the beam's score only adds the masked tokens' log-probs (masking does not renormalise)
    assert lp == pytest.approx(teacher, abs=1e-3)


# ---------------------------------------------------------------------------
# training, resuming, export
# ---------------------------------------------------------------------------

def test_make_batch():
    v = Vocabulary(max_vars=3)
    gen = EquationGenerator(GeneratorConfig(max_vars=3, n_points=20))
    samples = gen.samples(6, seed=1)
    hyps = [Hypothesis(), Hypothesis.make(include=["mul"], complexity=4)] * 3
    batch = make_batch(samples, hyps, v, 3)
    L = batch["ids"].shape[1]
    assert batch["points"].shape == (6, 20, 16) and batch["mask"].shape == (6, L - 1)
    for b, (s, h) in enumerate(zip(samples, hyps)):
        seq = v.encode(s.skeleton, h)
        assert batch["ids"][b, :len(seq)].tolist() == seq
        assert (batch["ids"][b, len(seq):] == v.pad_id).all()
        # the targets are the skeleton and <eos>, never the hypothesis nor padding
        m = batch["mask"][b]
        assert int(m.sum()) == len(s.skeleton) + 1
        assert batch["ids"][b, 1:][m].tolist() == seq[seq.index(v.bos_id) + 1:]
        k = s.X.shape[1]
        torch.testing.assert_close(batch["points"][b:b + 1], encode_points(s.X, s.y, 3))
        assert (batch["points"][b].reshape(20, 4, 4)[:, k:3] == 0).all()


def test_evaluate_model(trained):
    out, _, weights = trained
    model, _ = load_model(weights)
    config = _train_config(out, TRAIN_STEPS)
    val = validation_set(config)
    assert len(val) == 8 and len({s.skeleton for s, _ in val}) == 8
    model.train()
    got = evaluate_model(model, val, beam_width=1, batch_size=len(val))
    assert model.training  # the mode is restored
    batch = make_batch([s for s, _ in val], [h for _, h in val], model.vocab, 3)
    model.eval()
    with torch.no_grad():
        _, loss = model(batch["points"], batch["ids"], batch["mask"])
    assert got["val_loss"] == pytest.approx(float(loss), rel=1e-5)
    assert 0.0 <= got["val_top1"] <= 1.0
    wide = evaluate_model(model, val, beam_width=8)
    assert wide["val_top8"] >= got["val_top1"]
    # a hit is the model's own best beam, compared up to commutation; a miss is anything else
    s = val[0][0]
    best = model.beam_search(encode_points(s.X, s.y, 3), s.X.shape[1], beam_width=1)[0][0]
    hit = Sample(Expression(best), tuple(best), s.X, s.y)
    assert evaluate_model(model, [(hit, Hypothesis())])["val_top1"] == 1.0
    a_end = Expression(best).subtree_end(1) if len(best) > 1 else 0
    if best[0] in ("add", "mul") and tuple(best[1:a_end]) != tuple(best[a_end:]):
        swapped = (best[0], *best[a_end:], *best[1:a_end])
        same = Sample(Expression(swapped), swapped, s.X, s.y)
        assert evaluate_model(model, [(same, Hypothesis())])["val_top1"] == 1.0
    miss_tokens = ("sin", "sin", "sin", "x0") if tuple(best) != ("sin", "sin", "sin", "x0") else ("x0",)
    miss = Sample(Expression(miss_tokens), miss_tokens, s.X, s.y)
    assert evaluate_model(model, [(miss, Hypothesis())])["val_top1"] == 0.0


def test_training_logs_validation(tmp_path):
    out = tmp_path / "run"
    train(_train_config(out, 10, eval_every=10), quiet=True)
    records = _log(out)
    val = [r for r in records if "val_loss" in r]
    assert len(val) == 1 and val[0]["step"] == 10
    assert np.isfinite(val[0]["val_loss"]) and 0.0 <= val[0]["val_top1"] <= 1.0


def test_training_loss_decreases(trained):
    out, ckpt, _ = trained
    log = [r for r in _log(out) if "loss" in r]
    assert [r["step"] for r in log] == list(range(10, TRAIN_STEPS + 1, 10))
    first, last = log[0]["loss"], log[-1]["loss"]
    # about 4.1 → 2.2 on this seed; chance level is log(len(vocab)) ≈ 4.5
    assert last < first - 0.5, (first, last)
    assert min(r["loss"] for r in log[-3:]) < 3.0
    state = load_weights(ckpt)
    assert state["step"] == TRAIN_STEPS and state["seen"] == TRAIN_STEPS * 16


def test_training_resumes_and_honours_the_time_limit(tmp_path):
    out = tmp_path / "run"
    ckpt = train(_train_config(out, 20), quiet=True)
    first = load_weights(ckpt)
    assert first["step"] == 20
    assert [r["step"] for r in _log(out)] == [10, 20]

    train(_train_config(out, 40), quiet=True)
    second = load_weights(ckpt)
    assert second["step"] == 40 and second["seen"] == 40 * 16
    assert [r["step"] for r in _log(out)] == [10, 20, 30, 40]  # went on from step 20
    assert second["elapsed"] >= first["elapsed"]
    # the model really was loaded: the weights moved on from the first checkpoint's
    w1, w2 = first["model"]["tok_emb.weight"], second["model"]["tok_emb.weight"]
    assert not torch.equal(w1, w2)

    # reaching the target again trains nothing
    train(_train_config(out, 40), quiet=True)
    assert load_weights(ckpt)["step"] == 40

    # a tiny time limit stops long before the 5000 steps and still checkpoints
    t0 = time.monotonic()
    train(_train_config(out, 5000, time_limit=0.3), quiet=True)
    took = time.monotonic() - t0
    third = load_weights(ckpt)
    assert 40 <= third["step"] < 5000
    assert took < 30, took
    assert not (out / "ckpt.tmp").exists()


def test_export_weights(trained):
    _, ckpt, weights = trained
    saved = load_weights(weights)
    assert "head.weight" not in saved["state"]  # tied to tok_emb, stored once
    assert all(t.dtype == torch.float16 for t in saved["state"].values() if t.is_floating_point())
    half = SetTransformerSR.from_saved(saved)
    assert not half.training

    state = load_weights(ckpt)
    full = SetTransformerSR(TrainConfig.from_dict(state["train_config"]).model)
    full.load_state_dict(state["model"])
    full.eval()

    card = saved["card"]
    assert card["steps"] == TRAIN_STEPS and card["samples_seen"] == TRAIN_STEPS * 16
    assert card["parameters"] == full.n_parameters() == half.n_parameters()
    assert card["command"] == "pytest tiny" and card["data_seed"] == 0
    assert card["generator"]["n_points"] == 32

    X, y = _data(n=48, k=2, seed=6)
    pts = encode_points(X, y, 3)
    v = full.vocab
    ids = torch.tensor([v.encode(["mul", "x0", "x1"]),
                        v.encode(["add", "sin", "x0", "C"], Hypothesis.make(include=["sin"]))
                        [:6]])
    with torch.no_grad():
        a, _ = full(pts.expand(2, -1, -1), ids)
        b, _ = half(pts.expand(2, -1, -1), ids)
    assert a.abs().max() > 0.5  # not a trivially small comparison
    torch.testing.assert_close(b, a, atol=1e-2, rtol=0)


# ---------------------------------------------------------------------------
# the proposer
# ---------------------------------------------------------------------------

def test_proposer_returns_distinct_valid_expressions(trained):
    X, y = _data(n=300, k=2, seed=7)  # more rows than n_points: a subset is shown
    prop = TransformerProposer(weights=trained[2])
    out = prop.propose(X, y, n=8, seed=3)
    assert 0 < len(out) <= 8
    assert all(isinstance(e, Expression) for e in out)
    assert len({e.key() for e in out}) == len(out)
    for e in out:
        assert all(variable_index(t) < 2 for t in e.tokens if is_variable(t))
        assert e.evaluate(X).shape == (300,)
    assert prop.propose_time_ > 0
    again = prop.propose(X, y, n=8, seed=3)
    assert [e.tokens for e in again] == [e.tokens for e in out]
    fresh = TransformerProposer(weights=trained[2]).propose(X, y, n=8, seed=3)
    assert [e.tokens for e in fresh] == [e.tokens for e in out]
    # variable names reach the expressions, the tokens stay x0, x1
    named = prop.propose(X, y, n=8, seed=3, variable_names=["a", "b"])
    assert [e.tokens for e in named] == [e.tokens for e in out]
    assert any("a" in str(e) or "b" in str(e) for e in named)


def test_proposer_respects_operators_and_hypothesis(trained):
    X, y = _data(n=100, k=2, seed=8)
    prop = TransformerProposer(weights=trained[2], hypothesis={"exclude": ["mul"]})
    out = prop.propose(X, y, n=16, operators=["add", "mul", "sin", "div"])
    assert out
    for e in out:
        assert {t for t in e.tokens if t in ops.OPERATORS} <= {"add", "sin", "div"}, e.tokens
    for tokens, _ in prop.beams_:
        assert "mul" not in tokens


def test_proposer_selects_columns_when_there_are_too_many(trained):
    rng = np.random.default_rng(9)
    X = rng.uniform(1.0, 5.0, size=(200, 6))
    y = X[:, 1] * X[:, 4]
    chosen = select_variables(X, y, 3, seed=0)
    assert len(chosen) == 3 and chosen == sorted(chosen)
    assert {1, 4} <= set(chosen)
    assert select_variables(X[:, :2], y, 3) == [0, 1]
    prop = TransformerProposer(weights=trained[2])
    out = prop.propose(X, y, n=8, seed=0)
    assert out
    used = {variable_index(t) for e in out for t in e.tokens if is_variable(t)}
    assert used and used <= set(chosen)
    # the beams and the token priors speak of the data's columns too
    assert {variable_index(t) for b, _ in prop.beams_ for t in b if is_variable(t)} <= set(chosen)
    nxt = prop.next_token_logprobs(["mul"])
    assert {k for k in nxt if is_variable(k)} == {f"x{c}" for c in chosen}


def test_beam_prior_by_hand():
    beams = ((("mul", "x0", "x1"), -0.1), (("add", "x0", "C"), -3.0))
    prior = BeamPrior(beams)
    cands = [Expression.parse("x0*x1"), Expression.parse("x0"), Expression.parse("sin(x0)"),
             Expression(["add", "x0", "C"], [2.0])]
    w = prior(chosen=[], candidates=cands)
    m0 = 1 / (1 + np.exp(-2.9))
    np.testing.assert_allclose(w, [1 + 4 * m0, 5.0, 1.0, 1 + 4 * (1 - m0)])
    assert BeamPrior(()).__call__([], cands).tolist() == [1.0] * 4
    import pickle

    assert pickle.loads(pickle.dumps(prior)) == prior  # goes to worker processes


def test_structure_prior_and_next_token_logprobs(trained):
    X, y = _data(n=100, k=3, seed=10)
    prop = TransformerProposer(weights=trained[2])
    with pytest.raises(RuntimeError, match="propose"):
        prop.next_token_logprobs([])
    prop.propose(X, y, n=8)
    prior = prop.structure_prior()
    assert isinstance(prior, BeamPrior) and prior.beams
    top = Expression(list(prior.beams[0][0]))
    pool = ["exp(exp(x2))", "cos(x2)*cos(x1)", "sqrt(x0 - x2)", "log(x1)/x2", "cube(x2)"]
    absent = next(Expression.parse(s) for s in pool
                  if not any(contains_subtree(b, Expression.parse(s).tokens) for b, _ in prior.beams))
    w = prior([], [top, absent])
    assert (w >= 1).all()
    assert w[0] > 1.0 and w[1] == 1.0

    vocab = load_model(trained[2])[0].vocab
    for prefix in ([], ["mul"], ["mul", "x0"], ["add", "sin", "x2"]):
        lp = prop.next_token_logprobs(prefix)
        assert "<eos>" in lp and "C" in lp and {"x0", "x1", "x2"} <= set(lp)
        assert set(lp) <= _skeleton_tokens(vocab) | {"<eos>"}
        assert all(v <= 0 for v in lp.values())
        total = float(np.exp(list(lp.values())).sum())
        # renormalised over the tokens a beam could emit there
        assert abs(total - 1.0) < 1e-5, (prefix, total)
    assert prop.next_token_logprobs(["mul"]) == prop.next_token_logprobs(["mul"])  # cached
    with pytest.raises(ValueError, match="x7 was not among the columns"):
        prop.next_token_logprobs(["mul", "x7"])


def test_missing_weights(tmp_path):
    X, y = _data()
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        TransformerProposer(weights=tmp_path / "nope.pt").propose(X, y)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.pt")


class _Payload:
    """Unpickling this calls ``os.system``: what a hostile weights file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_weights_file_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    bad = tmp_path / "evil.pt"
    torch.save({"config": {}, "state": {}, "card": _Payload(marker)}, bad)
    with pytest.raises(UnsafeWeightsError, match="refusing to load .*evil.pt"):
        load_weights(bad)
    with pytest.raises(UnsafeWeightsError, match="tensors and plain data"):
        load_model(bad)
    with pytest.raises(UnsafeWeightsError):
        TransformerProposer(weights=bad).propose(*_data())
    with pytest.raises(UnsafeWeightsError):
        train(_train_config(tmp_path / "run", 1, init_from=str(bad)), quiet=True)
    assert not marker.exists()
    # the payload is real: unpickled unguarded, it runs
    torch.load(bad, weights_only=False)
    assert marker.exists()


def test_an_older_checkpoint_with_a_torch_version_object_still_loads(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"meta": {"torch": torch.__version__}, "w": torch.ones(2)}, path)
    saved = load_weights(path)
    assert saved["meta"]["torch"] == str(torch.__version__) and torch.equal(saved["w"], torch.ones(2))


def test_the_shipped_weights_load_as_data():
    saved = load_weights(tp.DEFAULT_WEIGHTS)
    assert set(saved) >= {"config", "state", "card"}
    assert all(isinstance(t, torch.Tensor) for t in saved["state"].values())
    assert SetTransformerSR.from_saved(saved).n_parameters() == saved["card"]["parameters"]


def test_transformer_is_registered():
    p = get_proposer("transformer", beam_width=4)
    assert isinstance(p, TransformerProposer) and p.quick and p.beam_width == 4


# ---------------------------------------------------------------------------
# the regressor
# ---------------------------------------------------------------------------

def _capture_search(monkeypatch):
    import symreg.plan as reg

    configs = []
    real = reg.run_search

    def spy(X, y, config, **kw):
        configs.append(config)
        return real(X, y, config, **kw)

    monkeypatch.setattr(reg, "run_search", spy)
    return configs


def test_regressor_with_transformer_instance(trained, monkeypatch):
    configs = _capture_search(monkeypatch)
    X, y = _data(n=100, k=2, seed=11)
    model = SymbolicRegressor(proposers=[TransformerProposer(weights=trained[2])],
                              time_budget=2, random_state=0)
    model.fit(X, y)
    assert "transformer" in model.proposer_times_
    assert model.n_proposals_ > 0
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-8)
    # the quick proposer runs first and its beams become the search's prior
    assert configs and isinstance(configs[0].structure_prior, BeamPrior)
    assert configs[0].structure_prior.beams


def test_regressor_hypothesis_excludes_operators(trained, monkeypatch):
    configs = _capture_search(monkeypatch)
    X = np.random.default_rng(12).uniform(-3.0, 3.0, size=(100, 2))
    y = np.sin(X[:, 0]) + X[:, 1]  # sin is what the data want
    model = SymbolicRegressor(proposers=[TransformerProposer(weights=trained[2])],
                              hypotheses={"exclude": ["sin", "cos"]}, time_budget=2,
                              random_state=0)
    model.fit(X, y)
    assert configs and not {"sin", "cos"} & set(configs[0].operators)
    assert len(model.equations_) > 0
    for expr in model.equations_["expression"]:
        assert not {"sin", "cos"} & set(expr.tokens), expr


def test_regressor_rejects_bad_hypotheses():
    X, y = _data(n=30)
    with pytest.raises(ValueError, match="excludes every operator"):
        SymbolicRegressor(hypotheses={"exclude": list(ops.DEFAULT_OPERATORS)},
                          time_budget=1).fit(X, y)
    with pytest.raises(ValueError, match="excludes every operator"):
        SymbolicRegressor(operators=["+", "*"], hypotheses={"exclude": ["add", "*"]},
                          time_budget=1).fit(X, y)
    with pytest.raises(ValueError, match="allowed: include, exclude, subtrees, complexity"):
        SymbolicRegressor(hypotheses={"exclud": ["sin"]}, time_budget=1).fit(X, y)
    with pytest.raises(ValueError, match="nosuchop"):
        SymbolicRegressor(hypotheses={"include": ["nosuchop"]}, time_budget=1).fit(X, y)


def test_regressor_transformer_by_name(trained, monkeypatch):
    monkeypatch.setattr(tp, "DEFAULT_WEIGHTS", Path(trained[2]))
    X, y = _data(n=100, k=2, seed=13)
    X[:, 1] += 0.5
    y = X[:, 0] * X[:, 1]
    model = SymbolicRegressor(proposers=["transformer"], time_budget=2, random_state=0,
                              hypotheses={"exclude": ["sin", "cos"], "subtrees": ["a*b"],
                                          "complexity": 3})
    model.fit(X, y, variable_names=["a", "b"])
    assert "transformer" in model.proposer_times_ and model.n_proposals_ > 0
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-8)
    assert "a" in str(model.best_) and "b" in str(model.best_)
    for expr in model.equations_["expression"]:
        assert not {"sin", "cos"} & set(expr.tokens)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------

def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_cli_train_and_export(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--steps", "5", "--size", "tiny", "--points", "16",
            "--batch-size", "8", "--workers", "0", "--device", "cpu",
            "--export", str(out / "w.pt")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "ckpt.pt").exists() and (out / "w.pt").exists()
    assert load_weights(out / "ckpt.pt")["step"] == 5
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["weights"] == str(out / "w.pt") and line["bytes"] == (out / "w.pt").stat().st_size
    model, card = load_model(out / "w.pt")
    assert card["steps"] == 5 and model.config.d_model == 64 and model.config.max_vars == 5
    # run again with more steps: resumes
    args[4] = "8"
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert load_weights(out / "ckpt.pt")["step"] == 8


def test_cli_train_rejects_bad_options(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--size", "huge"])
    assert result.exit_code == 2
    assert "--size" in _one_error_line(result)
    afile = tmp_path / "file"
    afile.write_text("x")
    result = runner.invoke(app, ["train", "--out", str(afile), "--steps", "1"])
    assert result.exit_code == 2
    assert "not a folder" in _one_error_line(result)


def test_parse_hypothesis():
    assert _parse_hypothesis("exclude=sin,cos; complexity=5") == {"exclude": ["sin", "cos"],
                                                                  "complexity": 5}
    assert _parse_hypothesis(" include = sin ; subtree=m*v; subtrees=x0; exclude=exp;;") == {
        "include": ["sin"], "subtrees": ["m*v", "x0"], "exclude": ["exp"]}
    # the result is what SymbolicRegressor / Hypothesis.from_dict accept
    hyp = Hypothesis.from_dict(_parse_hypothesis("include=sin; subtree=m*v; complexity=9"),
                               variable_names=["m", "v"])
    assert hyp == Hypothesis(("sin",), (), (("mul", "x0", "x1"),), 9)
    for bad in ("foo=1", "complexity=x", "include", "complexity=0", "exclude=,"):
        with pytest.raises(typer.Exit) as err:
            _parse_hypothesis(bad)
        assert err.value.exit_code == 2


@pytest.mark.parametrize(("text", "needle"), [
    ("foo=1", "unknown key 'foo'"),
    ("complexity=x", "complexity must be a positive integer"),
    ("include", "expected key=value"),
])
def test_cli_fit_rejects_bad_hypothesis(tmp_path, text, needle):
    out = tmp_path / "never"
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--time", "1",
                                 "--hypothesis", text, "--out", str(out)])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "--hypothesis" in line and needle in line
    assert not out.exists()


def test_cli_fit_hypothesis_excluding_everything_is_one_error(tmp_path):
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--time", "1",
                                 "--operators", "+,*", "--hypothesis", "exclude=+,*",
                                 "--out", str(tmp_path / "never")])
    assert result.exit_code == 2
    assert "excludes every operator" in _one_error_line(result)


def test_hypothesis_subtree_may_not_use_an_excluded_operator():
    with pytest.raises(ValueError, match="uses excluded"):
        Hypothesis.make(exclude=["sin"], subtrees=["sin(x0)*x1"])


def test_compact_checkpoint_resumes(tmp_path, one_torch_thread):
    from dataclasses import replace

    config = _train_config(tmp_path / "run", 6, compact_ckpt=True)
    ckpt = train(config, quiet=True)
    state = load_weights(ckpt)
    moments = [v for st in state["optimizer"]["state"].values() for k, v in st.items()
               if k.startswith("exp_avg")]
    assert moments and all(v.dtype == torch.bfloat16 for v in moments)
    train(replace(config, steps=9), quiet=True)
    assert load_weights(ckpt)["step"] == 9


def test_skeleton_key_ignores_order_and_grouping_of_sums_and_products():
    from symreg.neural.vocab import skeleton_key

    def key(text):
        return skeleton_key(text.split())

    assert key("mul C mul mul x2 x1 x0") == key("mul C mul x1 mul x2 x0")
    assert key("mul x0 mul C x1") == key("mul C mul x0 x1")
    assert key("add sin x0 add x1 C") == key("add add C x1 sin x0")
    assert key("sub x0 x1") != key("sub x1 x0")
    assert key("mul add x0 x1 x2") != key("add mul x0 x1 x2")
    assert key("add x0 mul x1 x2") != key("mul x0 add x1 x2")


def test_beams_are_distinct_skeletons():
    from symreg.neural.vocab import skeleton_key

    model = _untrained()
    X, y = _data(n=50, k=3, seed=3)
    beams = model.beam_search(encode_points(X, y, 3), 3, beam_width=16)
    keys = [skeleton_key(t) for t, _ in beams]
    assert len(keys) == len(set(keys))
    assert len(beams) == 16


def test_beam_search_keeps_twice_the_width_open(monkeypatch):
    """A bug once reused the width's name for the padded sequence length, so after
    the first step only a few beams stayed open."""
    model = _untrained()
    X, y = _data(n=50, k=3, seed=3)
    sizes = []
    decode = model.decode

    def counting(memory, ids):
        sizes.append(ids.shape[0])
        return decode(memory, ids)

    monkeypatch.setattr(model, "decode", counting)
    model.beam_search(encode_points(X, y, 3), 3, beam_width=16, max_len=12)
    assert max(sizes) == 32


def test_summary_statistics_read_a_power_law():
    from symreg.neural.transformer import n_summary_statistics, summary_statistics

    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 3.0, size=(200, 2))
    y = 3.0 * X[:, 0] ** 2 / X[:, 1]
    stats = summary_statistics(encode_points(X, y, 3), 3)
    assert stats.shape == (1, n_summary_statistics(3)) and torch.isfinite(stats).all()
    # the log-log fit's coefficients are the exponents, its R² is 1
    V = 3
    start = 4 * V + V * (V - 1) // 2 + (V + 1)
    exponents, r2 = stats[0, start:start + V], stats[0, start + V]
    np.testing.assert_allclose(exponents[:2].numpy(), [2.0, -1.0], atol=0.15)
    assert float(exponents[2]) == 0.0 and float(r2) > 0.999
    # a shuffled point set gives the same statistics
    perm = rng.permutation(200)
    torch.testing.assert_close(summary_statistics(encode_points(X[perm], y[perm], 3), 3), stats,
                               atol=1e-5, rtol=1e-5)


def test_sigterm_checkpoints_and_stops(tmp_path, one_torch_thread):
    import os
    import signal
    import threading

    config = _train_config(tmp_path / "run", 10**6)
    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    with pytest.raises(KeyboardInterrupt):
        train(config, quiet=True)
    state = load_weights(tmp_path / "run" / "ckpt.pt")
    assert state["step"] > 0
    assert signal.getsignal(signal.SIGTERM) is not train.__globals__["_raise_interrupt"]


def test_proposer_pools_subsets_of_the_training_size(trained, monkeypatch):
    X, y = _data(n=300, k=2, seed=4)
    prop = TransformerProposer(weights=trained[2], beam_width=8)
    model = load_model(trained[2])[0]
    calls = []
    original = type(model).beam_search

    def counting(self, points, *args, **kwargs):
        calls.append(points.shape[1])
        return original(self, points, *args, **kwargs)

    monkeypatch.setattr(type(model), "beam_search", counting)
    out = prop.propose(X, y, n=8, seed=0)
    # the tiny model was trained on 32 points: three 32-point subsets, pooled
    assert calls == [32, 32, 32]
    assert 0 < len(out) <= 8
    keys = [skeleton_key(list(t)) for t, _ in prop.beams_]
    assert len(keys) == len(set(keys))
    scores = [lp for _, lp in prop.beams_]
    assert scores == sorted(scores, reverse=True)
    calls.clear()
    TransformerProposer(weights=trained[2], beam_width=8, n_points=500).propose(X, y, n=8)
    assert calls == [300]  # fewer rows than n_points: one pass over all of them
