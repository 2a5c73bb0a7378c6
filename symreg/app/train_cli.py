"""``symreg train``: train the transformer proposer, resumably, and export its weights."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from .errors import EXIT_INTERRUPTED, fail


def train(
    out: str = typer.Option("runs/transformer", "--out", "-o",
                            help="Run folder: ckpt.pt and log.jsonl (resumed when present)."),
    steps: int = typer.Option(200_000, "--steps", min=1,
                              help="Total optimiser steps to reach (across resumed calls)."),
    time_limit: float | None = typer.Option(
        None, "--time", min=1.0,
        help="Seconds this call may train; it then checkpoints and stops (resume later)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr", min=0.0),
    points: int = typer.Option(64, "--points", min=8, help="Points per generated dataset."),
    seed: int = typer.Option(0, "--seed", help="Training data seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    workers: int = typer.Option(1, "--workers", min=0, help="Data generator processes."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    size: str = typer.Option(
        "small", "--size",
        help="Model size for a new run: tiny (0.3 M parameters), small (2.1 M), medium (4.7 M) or "
             "base (12 M); ignored on resume."),
    compact: bool = typer.Option(
        False, "--compact", help="Keep the optimiser's moments in bf16: a checkpoint a third "
                                 "smaller (to carry between short GPU jobs)."),
    max_vars: int = typer.Option(5, "--max-vars", min=1, max=10,
                                 help="Variables the model takes (new runs only)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start over even if a checkpoint exists."),
    init: str | None = typer.Option(
        None, "--init",
        help="Start a new run from exported weights (e.g. symreg/neural/weights/transformer.pt)."),
    export: str | None = typer.Option(
        None, "--export", help="After training, write shippable half-precision weights here."),
) -> None:
    """Train the transformer on generated equations; run again to resume.

    Each call trains until --steps is reached or --time runs out, checkpointing
    every two minutes and on exit (Ctrl-C included), so long trainings run as a
    series of short jobs. Uses a CUDA GPU (bf16 mixed precision) when present.
    """
    from symreg.neural.generator import GeneratorConfig
    from symreg.neural.train import TrainConfig, export_weights
    from symreg.neural.train import train as run_training
    from symreg.neural.transformer import ModelConfig
    from symreg.neural.vocab import Vocabulary

    sizes = {"tiny": {"d_model": 64, "n_heads": 4, "enc_layers": 1, "dec_layers": 2,
                      "n_inducing": 16, "n_latents": 8},
             "small": {"d_model": 128, "n_heads": 4, "enc_layers": 2, "dec_layers": 4},
             "medium": {"d_model": 192, "n_heads": 6, "enc_layers": 2, "dec_layers": 4},
             "base": {"d_model": 256, "n_heads": 8, "enc_layers": 3, "dec_layers": 6}}
    if size not in sizes:
        fail(f"--size must be one of {', '.join(sizes)}, got {size!r}")
    if Path(out).exists() and not Path(out).is_dir():
        fail(f"--out {out} exists and is not a folder")
    if init is not None and not Path(init).is_file():
        fail(f"--init {init}: no such weights file")
    if fresh:
        for name in ("ckpt.pt", "log.jsonl"):
            (Path(out) / name).unlink(missing_ok=True)
    # most weight on 1-3 variables, where most laws live, but every count up to max_vars
    var_weights = tuple(3.0 if k <= 3 else 1.0 for k in range(1, max_vars + 1))
    model = ModelConfig(max_vars=max_vars, vocab=Vocabulary(max_vars=max_vars).to_dict(),
                        **sizes[size])
    config = TrainConfig(out_dir=out, steps=steps, time_limit=time_limit, batch_size=batch_size,
                         lr=lr, seed=seed, device=device, num_workers=workers, threads=threads,
                         min_lr=lr / 10, model=model, init_from=init, compact_ckpt=compact,
                         generator=GeneratorConfig(max_vars=max_vars, max_ops=max(6, max_vars - 1),
                                                   n_points=points, var_weights=var_weights))
    try:
        ckpt = run_training(config)
    except KeyboardInterrupt:
        typer.echo(f"interrupted; checkpoint kept in {out}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (ValueError, RuntimeError, OSError) as exc:
        fail(exc)
    if export:
        command = " ".join(["symreg", *sys.argv[1:]])
        dest = export_weights(ckpt, export, command=command)
        typer.echo(json.dumps({"weights": str(dest), "bytes": dest.stat().st_size}))
