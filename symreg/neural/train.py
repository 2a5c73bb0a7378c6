"""Training of the transformer (:mod:`symreg.neural.transformer`) on generated equations.

``symreg train`` and :func:`train` share this loop. Equations are generated on the
fly (:mod:`symreg.neural.generator`) in worker processes, so the model never sees
the same batch twice. A run is resumable: it writes ``ckpt.pt`` (atomically) every
``ckpt_every`` seconds and when it stops, and a new call with the same ``out_dir``
continues from there. That is how a long training runs as a series of short jobs
(``time_limit`` seconds each) on a machine lent for minutes at a time.

Files in ``out_dir``: ``ckpt.pt`` (model, optimiser, step, configs), ``log.jsonl``
(one JSON line per log and per validation) and, after :func:`export_weights`, the
half-precision weights that ship in the package.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from .generator import EquationGenerator, GeneratorConfig, Sample, random_hypothesis, unique_samples
from .transformer import ModelConfig, SetTransformerSR, encode_points
from .vocab import Hypothesis, Vocabulary, skeleton_key
from .weights_io import load_weights, plain

__all__ = ["TrainConfig", "evaluate_model", "export_weights", "make_batch", "train"]


@dataclass
class TrainConfig:
    """Settings of one training run (saved in the checkpoint).

    ``steps`` is the total to reach across resumed calls; ``time_limit`` bounds
    one call. Validation problems come from ``val_seed``, training data from
    ``seed``; the validation skeletons are excluded from nothing (the space is
    large), but they are unique among themselves.
    """

    out_dir: str = "runs/transformer"
    steps: int = 200_000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 500
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    time_limit: float | None = None
    ckpt_every: float = 120.0
    log_every: int = 50
    eval_every: int = 1000
    n_val: int = 256
    seed: int = 0
    val_seed: int = 987_654_321
    num_workers: int = 1
    threads: int | None = None
    device: str = "auto"
    #: exported weights to start a new run from (e.g. the shipped ones, to train on)
    init_from: str | None = None
    #: store the optimiser's moments in bf16 (a smaller checkpoint)
    compact_ckpt: bool = False
    model: ModelConfig = field(default_factory=ModelConfig)
    generator: GeneratorConfig = field(default_factory=lambda: GeneratorConfig(
        max_vars=5, n_points=64, var_weights=(3.0, 3.0, 3.0, 1.0, 1.0)))

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        data = dict(data)
        model = ModelConfig(**data.pop("model"))
        gen = GeneratorConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in data.pop("generator").items()})
        known = {f.name for f in fields(cls)}
        return cls(model=model, generator=gen, **{k: v for k, v in data.items() if k in known})


def make_batch(samples: list[Sample], hyps: list[Hypothesis], vocab: Vocabulary,
               max_vars: int) -> dict[str, torch.Tensor]:
    """Tensors of one batch: point features, decoder ids and the loss mask.

    All samples must have the same number of points (the generator's
    ``n_points``); the loss covers the skeleton tokens and ``<eos>``, not the
    hypothesis prefix.
    """
    B, N = len(samples), samples[0].X.shape[0]
    X = np.zeros((B, N, max_vars))
    Y = np.zeros((B, N))
    present = np.zeros((B, max_vars), dtype=bool)
    for b, s in enumerate(samples):
        k = s.X.shape[1]
        X[b, :, :k] = s.X
        Y[b] = s.y
        present[b, :k] = True
    # each sample with its own variable count, so its missing columns are marked absent
    feats = torch.cat([encode_points(X[b:b + 1, :, :int(present[b].sum())], Y[b:b + 1], max_vars)
                       for b in range(B)])
    seqs = [vocab.encode(s.skeleton, h) for s, h in zip(samples, hyps)]
    L = max(len(q) for q in seqs)
    ids = torch.full((B, L), vocab.pad_id, dtype=torch.long)
    mask = torch.zeros(B, L - 1, dtype=torch.bool)
    for b, q in enumerate(seqs):
        ids[b, :len(q)] = torch.tensor(q)
        start = q.index(vocab.bos_id)  # predictions from <bos> onward are skeleton targets
        mask[b, start:len(q) - 1] = True
    return {"points": feats, "ids": ids, "mask": mask}


class _Stream(torch.utils.data.IterableDataset):
    """Endless batches from the generator; each worker has its own seed."""

    def __init__(self, config: TrainConfig, start_step: int):
        self.config = config
        self.start_step = start_step

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        if info is not None:  # a generator process: leave the cores to training
            torch.set_num_threads(1)
        c = self.config
        rng = np.random.default_rng([c.seed, self.start_step, worker])
        gen = EquationGenerator(c.generator)
        vocab = Vocabulary.from_dict(c.model.vocab)
        max_len = c.model.max_seq_len
        while True:
            samples, hyps = [], []
            while len(samples) < c.batch_size:
                s = gen.sample(rng)
                h = random_hypothesis(rng, s.skeleton, vocab.operators, vocab.max_complexity)
                if len(vocab.encode(s.skeleton, h)) > max_len or not vocab.knows(s.skeleton):
                    continue
                samples.append(s)
                hyps.append(h)
            yield make_batch(samples, hyps, vocab, c.model.max_vars)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _lr(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr`` at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    t = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * t))


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a broken checkpoint


def _log(out: Path, record: dict, quiet: bool) -> None:
    with open(out / "log.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    if not quiet:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in record.items()), flush=True)


def validation_set(config: TrainConfig) -> list[tuple[Sample, Hypothesis]]:
    samples = unique_samples(config.n_val, config.val_seed, config.generator)
    return [(s, Hypothesis()) for s in samples]


@torch.no_grad()
def evaluate_model(model: SetTransformerSR, problems: list[tuple[Sample, Hypothesis]],
                   beam_width: int = 1, batch_size: int = 64) -> dict[str, float]:
    """Teacher-forced loss and the share of problems whose skeleton is among the beams
    (compared by :func:`~symreg.neural.vocab.skeleton_key`, so ``x0+x1`` matches
    ``x1+x0`` and ``x0*(x1*x2)`` matches ``(x0*x1)*x2``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    vocab, max_vars = model.vocab, model.config.max_vars
    losses, hits = [], 0
    for i in range(0, len(problems), batch_size):
        chunk = problems[i:i + batch_size]
        batch = make_batch([s for s, _ in chunk], [h for _, h in chunk], vocab, max_vars)
        _, loss = model(batch["points"].to(device), batch["ids"].to(device),
                        batch["mask"].to(device))
        losses.append(float(loss) * len(chunk))
    for s, h in problems:
        want = skeleton_key(s.skeleton)
        pts = encode_points(s.X, s.y, max_vars).to(device)
        beams = model.beam_search(pts, s.X.shape[1], beam_width=beam_width, hypothesis=h)
        hits += any(skeleton_key(t) == want for t, _ in beams)
    model.train(was_training)
    return {"val_loss": sum(losses) / len(problems), f"val_top{beam_width}": hits / len(problems)}


def train(config: TrainConfig, *, resume: bool = True, quiet: bool = False) -> Path:
    """Train (or continue training) and return the checkpoint path.

    Stops at ``config.steps`` or after ``config.time_limit`` seconds, whichever
    comes first, always leaving a checkpoint; Ctrl-C also checkpoints first.
    """
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "ckpt.pt"
    device = _device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    step, elapsed_before, seen = 0, 0.0, 0
    state = None
    if resume and ckpt_path.exists():
        state = load_weights(ckpt_path)
        saved = TrainConfig.from_dict(state["train_config"])
        # the model and data are the checkpoint's; only how long to run may change
        config.model, config.generator = saved.model, saved.generator
        step, elapsed_before, seen = state["step"], state["elapsed"], state["seen"]
    init = None
    if state is None and config.init_from:
        # a new run from exported weights: their architecture, fresh optimiser
        init = load_weights(config.init_from)
        # the saved sizes, and this version's defaults for anything they predate
        config.model = ModelConfig(**{**asdict(ModelConfig()), **init["config"]})
    torch.manual_seed(config.seed + step)
    model = SetTransformerSR(config.model).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr,
                            betas=(0.9, 0.98))
    if init is not None:
        # parts the saved model lacks (a newer module) keep their fresh initial values
        model.load_state_dict(SetTransformerSR.from_saved(init, config=config.model,
                                                          strict=False).state_dict())
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    amp = device.type == "cuda"
    loader = torch.utils.data.DataLoader(
        _Stream(config, step), batch_size=None, num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0, prefetch_factor=4 if config.num_workers else None)
    val = validation_set(config)
    meta = {"torch": str(torch.__version__), "device": str(device), "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}
    if not quiet:
        print(f"model {model.n_parameters():,} parameters on {device}; step {step}", flush=True)

    def checkpoint() -> None:
        optim = opt.state_dict()
        if config.compact_ckpt:
            # Adam's moments in bf16 (load_state_dict casts them back to fp32): the
            # checkpoint shrinks by a third, small enough to carry between GPU jobs
            optim["state"] = {i: {k: v.bfloat16() if k.startswith("exp_avg") else v
                                  for k, v in st.items()} for i, st in optim["state"].items()}
        _save(ckpt_path, {"model": model.state_dict(), "optimizer": optim,
                          "step": step, "seen": seen,
                          "elapsed": elapsed_before + time.monotonic() - t_start,
                          "train_config": plain(asdict(config)), "meta": meta})

    t_start = last_ckpt = time.monotonic()
    run_loss, run_n = 0.0, 0
    model.train()
    # SIGTERM (a batch scheduler, `kill`) stops like Ctrl-C: checkpoint first
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for batch in loader:
            if step >= config.steps or (config.time_limit is not None
                                        and time.monotonic() - t_start >= config.time_limit):
                break
            for g in opt.param_groups:
                g["lr"] = _lr(config, step)
            points, ids, mask = (batch[k].to(device, non_blocking=True)
                                 for k in ("points", "ids", "mask"))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                _, loss = model(points, ids, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            step += 1
            seen += ids.shape[0]
            run_loss, run_n = run_loss + float(loss.detach()), run_n + 1
            if step % config.log_every == 0:
                _log(out, {"step": step, "loss": run_loss / run_n, "lr": _lr(config, step),
                           "seen": seen,
                           "elapsed": round(elapsed_before + time.monotonic() - t_start, 1)}, quiet)
                run_loss, run_n = 0.0, 0
            if step % config.eval_every == 0:
                _log(out, {"step": step, **evaluate_model(model, val)}, quiet)
            if time.monotonic() - last_ckpt >= config.ckpt_every:
                checkpoint()
                last_ckpt = time.monotonic()
    finally:  # Ctrl-C, SIGTERM or a time limit: never lose the steps already taken
        checkpoint()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return ckpt_path


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def export_weights(ckpt_path: str | Path, dest: str | Path, *, command: str = "",
                   metrics: dict | None = None) -> Path:
    """Half-precision weights plus the facts of their training, for shipping.

    ``dest`` is the file to write (``symreg/neural/weights/transformer.pt``).
    """
    state = load_weights(ckpt_path)
    config = TrainConfig.from_dict(state["train_config"])
    model = SetTransformerSR(config.model)
    model.load_state_dict(state["model"])
    payload = model.state_for_saving(half=True)
    if metrics is None:  # the last validation in the run's log
        log = Path(ckpt_path).parent / "log.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        metrics = next((r for r in reversed(records) if "val_loss" in r), None)
    payload["card"] = {
        "command": command, "steps": state["step"], "samples_seen": state["seen"],
        "train_seconds": round(state["elapsed"], 1), "data_seed": config.seed,
        "val_seed": config.val_seed, "parameters": model.n_parameters(),
        "generator": asdict(config.generator), "hardware": state.get("meta", {}),
        "metrics": metrics or {}, "date": time.strftime("%Y-%m-%d"),
    }
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _save(dest, plain(payload))
    dest.with_name("MODEL_CARD.md").write_text(model_card(payload["card"], dest.name,
                                                          dest.stat().st_size))
    return dest


def model_card(card: dict, filename: str, size: int) -> str:
    """The facts of a weights file as Markdown (written beside it by :func:`export_weights`)."""
    hw = card.get("hardware", {})
    g = card.get("generator", {})
    metrics = card.get("metrics") or {}
    lines = [
        f"# Model card: `{filename}`",
        "",
        ("A set-transformer encoder over (x, y) points and a transformer decoder over skeleton "
        "tokens, conditioned on optional hypotheses (symreg/neural/transformer.py). Trained by "
        "symreg's own pipeline on equations generated on the fly (symreg/neural/generator.py); "
        "no external data."),
        "",
        "| fact | value |",
        "|---|---|",
        f"| file | {filename}, {size / 2**20:.1f} MiB, half precision |",
        f"| parameters | {card.get('parameters', 0):,} |",
        f"| command | `{card.get('command') or 'symreg.neural.train.train(...)'}` |",
        f"| optimiser steps | {card.get('steps', 0):,} |",
        f"| equations seen | {card.get('samples_seen', 0):,} (generated on the fly in this run) |",
        f"| training data seed | {card.get('data_seed')} |",
        f"| validation seed | {card.get('val_seed')} |",
        f"| training time | {card.get('train_seconds', 0) / 3600:.2f} h |",
        (f"| hardware | {hw.get('gpu') or hw.get('cpu') or '?'} ({hw.get('device', '?')}), "
        f"torch {hw.get('torch', '?')} |"),
        f"| date | {card.get('date', '?')} |",
        f"| variables | {g.get('min_vars')}–{g.get('max_vars')} (weights {g.get('var_weights')}) |",
        f"| operators per equation | {g.get('min_ops')}–{g.get('max_ops')} before constants |",
        f"| points per equation | {g.get('n_points')} |",
        "",
        ("Validation at the last logged step (problems from the validation seed; teacher-forced "
        "loss per token, greedy top-1 skeleton match by canonical key):"),
        "",
        "```",
        json.dumps(metrics),
        "```",
        "",
        ("Benchmark figures (1,000 fresh problems, beams, hypotheses, timing) are in "
        "BENCHMARKS.md, measured with benchmarks/bench_transformer.py."),
        "",
    ]
    return "\n".join(lines)
