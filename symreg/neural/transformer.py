"""The pretrained transformer: a set encoder over (x, y) points and a decoder over skeletons.

One readable file for the model, in the spirit of nanoGPT. The data side is in
:mod:`symreg.neural.generator`, training in :mod:`symreg.neural.train`, and the
proposer that loads the shipped weights in :mod:`symreg.neural.transformer_proposer`.

* **Point encoding** (:func:`encode_points`): every value becomes
  ``(sign, log10|v| / 4, z / 2, present)``, where ``z`` is the value standardised
  within its column. The log term carries scale across any magnitude and the
  standardised term carries shape, so neither huge nor tiny data saturates it.
  Columns beyond the dataset's variables are zero with ``present = 0``.
* **Encoder**: a per-point MLP, then induced set-attention blocks (Set
  Transformer, Lee et al. 2019) and attention pooling onto a few learned latent
  vectors. It is order-invariant and linear in the number of points.
* **Decoder**: a causal transformer over ``<hyp> … <bos> skeleton <eos>``
  (:mod:`symreg.neural.vocab`) with cross-attention to the latents.
* **Beam search** (:meth:`SetTransformerSR.beam_search`) keeps only complete-able
  prefix trees, never emits excluded operators or absent variables, and returns
  skeletons with their log-probabilities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import operators as ops
from .vocab import Hypothesis, Vocabulary, contains_subtree, skeleton_key

__all__ = ["ModelConfig", "SetTransformerSR", "encode_points"]

N_VALUE_FEATURES = 4


@dataclass
class ModelConfig:
    """Sizes of the model; saved with the weights."""

    max_vars: int = 5
    d_model: int = 128
    n_heads: int = 4
    enc_layers: int = 2
    n_inducing: int = 32
    n_latents: int = 16
    #: memory tokens made from summary statistics of the points (0: none)
    n_summary: int = 4
    dec_layers: int = 4
    max_seq_len: int = 64
    dropout: float = 0.0
    vocab: dict = field(default_factory=lambda: Vocabulary(max_vars=5).to_dict())

    def to_dict(self) -> dict:
        return asdict(self)


def encode_points(X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                  max_vars: int) -> torch.Tensor:
    """Features of a batch of point sets.

    Parameters
    ----------
    X : [B, N, k] or [N, k] with k ≤ max_vars
    y : [B, N] or [N]

    Returns
    -------
    torch.Tensor of shape [B, N, (max_vars + 1) * 4], float32
    """
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if X.dim() == 2:
        X, y = X.unsqueeze(0), y.unsqueeze(0)
    B, N, k = X.shape
    if k > max_vars:
        raise ValueError(f"the model takes at most {max_vars} variables, got {k}")
    cols = torch.zeros(B, N, max_vars + 1, dtype=torch.float64)
    cols[..., :k] = X
    cols[..., max_vars] = y  # y always in the last column, so its position is fixed
    present = torch.zeros(max_vars + 1, dtype=torch.float64)
    present[:k] = 1.0
    present[max_vars] = 1.0
    mean = cols.mean(dim=1, keepdim=True)
    std = cols.std(dim=1, keepdim=True).clamp_min(1e-12)
    z = ((cols - mean) / std).clamp(-6.0, 6.0)
    logabs = torch.log10(cols.abs().clamp_min(1e-8)).clamp(-8.0, 8.0)
    feats = torch.stack([torch.sign(cols), logabs / 4.0, z / 2.0,
                         present.expand_as(cols)], dim=-1) * present[:, None]
    return feats.reshape(B, N, -1).float()


def _standardise(v: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over the points (dim 1); constant columns give 0."""
    v = v - v.mean(dim=1, keepdim=True)
    return v / v.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-6)


def summary_statistics(points: torch.Tensor, max_vars: int) -> torch.Tensor:
    """Order-invariant statistics of a batch of point sets, [B, S].

    Computed from the features of :func:`encode_points`: for each variable the
    correlations of y with x, x² and |x| and of log|y| with log|x|; for each pair
    the correlation of y with their product; the coefficients and R² of a
    least-squares fit of y on the x's and of log|y| on the log|x|'s (a monomial
    gives exponents and R² = 1); the share of positive y and its skew and
    kurtosis. The set encoder could learn these, but at small training budgets
    it learns the skeleton prior first and the data late; these give the
    decoder the data's main shape from the start.
    """
    B, N, _ = points.shape
    f = points.float().reshape(B, N, max_vars + 1, N_VALUE_FEATURES)
    present = f[:, 0, :, 3] > 0                                   # [B, V+1]
    sign, logabs, z = f[..., 0], f[..., 1] * 4.0, f[..., 2] * 2.0
    zx, zy = z[..., :max_vars], _standardise(z[..., max_vars:])     # [B,N,V], [B,N,1]
    lx, ly = _standardise(logabs[..., :max_vars]), _standardise(logabs[..., max_vars:])
    px = present[:, :max_vars].float()

    def corr(a, b):  # a [B,N,V] standardised, b [B,N,1]
        return (a * b).mean(dim=1) * px

    feats = [corr(_standardise(zx), zy), corr(_standardise(zx ** 2), zy),
             corr(_standardise(zx.abs()), zy), corr(lx, ly)]
    iu = torch.triu_indices(max_vars, max_vars, offset=1)
    pair = _standardise(zx[..., iu[0]] * zx[..., iu[1]])
    feats.append((pair * zy).mean(dim=1) * px[:, iu[0]] * px[:, iu[1]])
    # centred but not scaled logs, so the fitted coefficients are the exponents
    lxc = logabs[..., :max_vars] - logabs[..., :max_vars].mean(dim=1, keepdim=True)
    lyc = logabs[..., max_vars:] - logabs[..., max_vars:].mean(dim=1, keepdim=True)
    for design, target in ((zx, zy), (lxc, lyc)):
        A = torch.cat([design * px[:, None], torch.ones(B, N, 1, device=points.device)], dim=2)
        reg = 1e-3 * torch.eye(max_vars + 1, device=points.device)
        coef = torch.linalg.solve(A.transpose(1, 2) @ A / N + reg, A.transpose(1, 2) @ target / N)
        resid = target - A @ coef
        r2 = 1.0 - resid.pow(2).mean(dim=1) / target.pow(2).mean(dim=1).clamp_min(1e-6)
        feats += [coef[:, :max_vars, 0].clamp(-5, 5) * px, r2.clamp(-1, 1)]
    y = z[..., max_vars]
    feats += [(sign[..., max_vars] > 0).float().mean(dim=1, keepdim=True),
              zy.pow(3).mean(dim=1).clamp(-10, 10) / 5, zy.pow(4).mean(dim=1).clamp(0, 30) / 10,
              y.abs().mean(dim=1, keepdim=True)]
    return torch.cat(feats, dim=1)


def n_summary_statistics(max_vars: int) -> int:
    return 4 * max_vars + max_vars * (max_vars - 1) // 2 + 2 * (max_vars + 1) + 4


class Attention(nn.Module):
    """Multi-head attention of queries ``q`` over keys/values ``kv``."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)
        self.dropout = dropout

    def forward(self, q: torch.Tensor, kv: torch.Tensor, causal: bool = False,
                key_padding: torch.Tensor | None = None) -> torch.Tensor:
        B, Lq, d = q.shape
        h = self.n_heads
        Q = self.q(q).view(B, Lq, h, d // h).transpose(1, 2)
        K, V = self.kv(kv).view(B, kv.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None
        if key_padding is not None:  # True where a key is padding
            mask = ~key_padding[:, None, None, :]
            if causal:
                mask = mask & torch.ones(Lq, kv.shape[1], dtype=torch.bool,
                                         device=q.device).tril()[None, None]
            causal = False
        y = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, Lq, d))


class MLP(nn.Module):
    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AttentionBlock(nn.Module):
    """Pre-norm ``x + attn(x, memory)`` then ``x + mlp(x)`` (the Set Transformer's MAB)."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.ln_q, self.ln_kv, self.ln_mlp = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, n_heads, dropout)
        self.mlp = MLP(d, dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_q(x), self.ln_kv(memory))
        return x + self.mlp(self.ln_mlp(x))


class InducedSetBlock(nn.Module):
    """ISAB: inducing points summarise the set, then the points read the summary.
    Cost is linear in the number of points."""

    def __init__(self, d: int, n_heads: int, n_inducing: int, dropout: float):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(1, n_inducing, d) * 0.02)
        self.summarise = AttentionBlock(d, n_heads, dropout)
        self.broadcast = AttentionBlock(d, n_heads, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.summarise(self.inducing.expand(x.shape[0], -1, -1), x)
        return self.broadcast(x, h)


class DecoderBlock(nn.Module):
    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.ln_self, self.ln_cross, self.ln_mem, self.ln_mlp = (nn.LayerNorm(d) for _ in range(4))
        self.self_attn = Attention(d, n_heads, dropout)
        self.cross_attn = Attention(d, n_heads, dropout)
        self.mlp = MLP(d, dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor,
                padding: torch.Tensor | None) -> torch.Tensor:
        h = self.ln_self(x)
        x = x + self.self_attn(h, h, causal=True, key_padding=padding)
        x = x + self.cross_attn(self.ln_cross(x), self.ln_mem(memory))
        return x + self.mlp(self.ln_mlp(x))


class SetTransformerSR(nn.Module):
    """Point set → skeleton tokens, conditioned on a hypothesis prefix."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.vocab = Vocabulary.from_dict(config.vocab)
        if self.vocab.max_vars != config.max_vars:
            raise ValueError("ModelConfig.max_vars and the vocabulary's max_vars differ")
        d, c = config.d_model, config
        in_dim = (c.max_vars + 1) * N_VALUE_FEATURES
        self.embed_points = nn.Sequential(nn.Linear(in_dim, d), nn.GELU(), nn.Linear(d, d))
        self.encoder = nn.ModuleList(InducedSetBlock(d, c.n_heads, c.n_inducing, c.dropout)
                                     for _ in range(c.enc_layers))
        self.latents = nn.Parameter(torch.randn(1, c.n_latents, d) * 0.02)
        self.pool = AttentionBlock(d, c.n_heads, c.dropout)
        if c.n_summary:
            self.summary = nn.Sequential(
                nn.Linear(n_summary_statistics(c.max_vars), 2 * d), nn.GELU(),
                nn.Linear(2 * d, c.n_summary * d))
        self.tok_emb = nn.Embedding(len(self.vocab), d)
        self.pos_emb = nn.Embedding(c.max_seq_len, d)
        self.decoder = nn.ModuleList(DecoderBlock(d, c.n_heads, c.dropout)
                                     for _ in range(c.dec_layers))
        self.ln_out = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(self.vocab), bias=False)
        self.head.weight = self.tok_emb.weight  # tied, as in GPT-2
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- forward -------------------------------------------------------------------
    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """[B, N, F] point features → [B, n_latents + n_summary, d] memory."""
        x = self.embed_points(points)
        for block in self.encoder:
            x = block(x)
        memory = self.pool(self.latents.expand(x.shape[0], -1, -1), x)
        if self.config.n_summary:
            stats = summary_statistics(points, self.config.max_vars)
            extra = self.summary(stats).view(x.shape[0], self.config.n_summary, -1)
            memory = torch.cat([memory, extra], dim=1)
        return memory

    def decode(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """[B, L] token ids → [B, L, vocab] next-token logits."""
        L = ids.shape[1]
        pos = torch.arange(L, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos)[None]
        padding = ids == self.vocab.pad_id
        padding = padding if bool(padding.any()) else None
        for block in self.decoder:
            x = block(x, memory, padding)
        return self.head(self.ln_out(x))

    def forward(self, points: torch.Tensor, ids: torch.Tensor,
                loss_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for ``ids[:, :-1]``; with ``loss_mask`` ([B, L-1], true on skeleton
        targets) also the mean cross-entropy of predicting ``ids[:, 1:]``."""
        logits = self.decode(self.encode(points), ids[:, :-1])
        if loss_mask is None:
            return logits, None
        target = ids[:, 1:].masked_fill(~loss_mask, -100)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                               ignore_index=-100)
        return logits, loss

    # -- decoding ------------------------------------------------------------------
    def _allowed(self, n_vars: int, hyp: Hypothesis, operators) -> torch.Tensor:
        """Bool mask over the vocabulary of skeleton tokens a beam may emit."""
        v = self.vocab
        allowed = torch.zeros(len(v), dtype=torch.bool)
        keep_ops = None if operators is None else {ops.get(o).name for o in operators}
        for tok, i in v.index.items():
            if tok in ops.OPERATORS:
                ok = tok not in hyp.exclude and (keep_ops is None or tok in keep_ops)
            elif v.is_skeleton(tok):
                ok = tok == "C" or int(tok[1:]) < n_vars
            else:
                ok = False
            allowed[i] = ok
        return allowed

    @torch.no_grad()
    def beam_search(self, points: torch.Tensor, n_vars: int, *, beam_width: int = 32,
                    hypothesis: Hypothesis | None = None, operators=None,
                    max_len: int | None = None) -> list[tuple[list[str], float]]:
        """Most likely complete skeletons for one dataset.

        Parameters
        ----------
        points : [1, N, F] features from :func:`encode_points`
        n_vars : number of variables in the data; larger ``x{i}`` are never emitted
        hypothesis : conditions the model; its excluded operators are masked, and
            its required subtrees are enforced: each is one extra action that
            writes the whole subtree into a free slot, and a beam may only close
            its tree once it has written every one of them
        operators : operator names allowed (others are masked); None: all known

        Returns
        -------
        list of (skeleton tokens, log-probability), best first, at most
        ``beam_width``, no two the same up to the order and grouping of sums and
        products (the search runs ``2 * beam_width`` open beams to fill the list)
        """
        hyp = hypothesis or Hypothesis()
        v = self.vocab
        device = points.device
        # twice as many open beams as results: finished beams that are the same
        # skeleton up to the order of sums and products count once
        width = 2 * beam_width
        prefix = v.hypothesis_ids(hyp) + [v.bos_id]
        P = len(prefix)
        max_len = min(max_len or v.max_complexity, self.config.max_seq_len - P - 1)
        memory = self.encode(points)
        allowed = self._allowed(n_vars, hyp, operators).to(device)
        arity = torch.zeros(len(v), dtype=torch.long, device=device)
        for tok, i in v.index.items():
            arity[i] = ops.OPERATORS[tok].arity if tok in ops.OPERATORS else 0
        is_op = torch.tensor([t in ops.OPERATORS for t in v.tokens], device=device)
        # required subtrees the beams can write (known tokens, present variables)
        macros = [[v.index[t] for t in sub] for sub in hyp.subtrees
                  if v.knows(sub) and all(bool(allowed[v.index[t]]) for t in sub)]
        macros = [m for m in macros if len(m) <= max_len]
        R = len(macros)
        macro_extra = torch.tensor([len(m) - 1 for m in macros], device=device)
        eos, pad = v.eos_id, v.pad_id

        seqs = torch.tensor([prefix], device=device)  # right-padded with <pad>
        length = torch.full((1,), P, dtype=torch.long, device=device)
        scores = torch.zeros(1, device=device)
        need = torch.ones(1, dtype=torch.long, device=device)  # open slots per beam
        used = torch.zeros(1, R, dtype=torch.bool, device=device)
        done: list[tuple[list[int], float]] = []
        while seqs.shape[0]:
            B = seqs.shape[0]
            logits = self.decode(memory.expand(B, -1, -1), seqs)
            logp = torch.log_softmax(logits[torch.arange(B), length - 1].float(), dim=-1)
            raw = logp
            # tokens left after this one, less what the unwritten subtrees will take
            remaining = max_len - (length - P) - 1 - (macro_extra * ~used).sum(1)
            new_need = need[:, None] + arity[None] - 1
            mask = allowed[None] & ~(is_op[None] & (new_need > remaining[:, None]))
            if R:  # no closing the tree before every required subtree is in
                mask &= ~((new_need == 0) & ~used.all(1, keepdim=True))
            logp = logp.masked_fill(~mask, float("-inf"))
            cand = (scores[:, None] + logp).reshape(-1)
            if R:
                # a subtree fills one slot; its score counts its first token only
                # for now (all beams are rescored exactly at the end)
                first = torch.tensor([m[0] for m in macros], device=device)
                ok = ~used & (remaining[:, None] >= need[:, None] - 1 + macro_extra[None])
                ok &= ~((need[:, None] == 1) & (used.sum(1, keepdim=True) < R - 1))
                msc = torch.where(ok, scores[:, None] + raw[:, first], float("-inf"))
                cand = torch.cat([cand, msc.reshape(-1)])
            k = min(width, int(torch.isfinite(cand).sum()))
            if k == 0:
                break
            top, idx = cand.topk(k)
            V = logp.shape[1]
            rows, new = [], []
            for j, i in enumerate(idx.tolist()):
                if i < B * V:
                    b, tok = divmod(i, V)
                    rows.append(b)
                    new.append([tok])
                else:
                    b, r = divmod(i - B * V, R)
                    rows.append(b)
                    new.append(macros[r])
            beam = torch.tensor(rows, device=device)
            seq_len = int(max(length[beam] + torch.tensor([len(t) for t in new], device=device)))
            nxt = torch.full((k, seq_len), pad, dtype=torch.long, device=device)
            new_length = length[beam].clone()
            new_need = need[beam].clone()
            new_used = used[beam].clone()
            for j, (b, toks) in enumerate(zip(rows, new)):
                n0 = int(length[b])
                nxt[j, :n0] = seqs[b, :n0]
                nxt[j, n0:n0 + len(toks)] = torch.tensor(toks, device=device)
                new_length[j] = n0 + len(toks)
                if len(toks) == 1 and (not R or idx[j] < B * V):
                    new_need[j] += int(arity[toks[0]]) - 1
                else:
                    new_need[j] -= 1
                    new_used[j, macros.index(toks)] = True
                # a required subtree written token by token counts as written too
            seqs, length, need, used, scores = nxt, new_length, new_need, new_used, top
            if R:
                for j in range(k):
                    if not bool(used[j].all()):
                        body = seqs[j, P:int(length[j])].tolist()
                        for r, m in enumerate(macros):
                            if not used[j, r] and contains_subtree(body, m):
                                used[j, r] = True
            finished = need == 0
            if finished.any():
                fin = finished.nonzero().flatten().tolist()
                if R:
                    for j in fin:
                        done.append((seqs[j, P:int(length[j])].tolist(), 0.0))
                else:
                    # a finished tree also pays for <eos>, so its score is comparable
                    end = self.decode(memory.expand(len(fin), -1, -1), seqs[fin])
                    end_lp = torch.log_softmax(end[torch.arange(len(fin)), length[fin] - 1].float(),
                                               dim=-1)[:, eos]
                    for j, e in zip(fin, end_lp.tolist()):
                        done.append((seqs[j, P:int(length[j])].tolist(), float(scores[j]) + e))
                keep = ~finished
                seqs, length, need, used, scores = (seqs[keep], length[keep], need[keep],
                                                    used[keep], scores[keep])
            if not R and len(done) >= beam_width and seqs.shape[0]:
                # stop once no open beam can beat the worst of a full list of
                # distinct finished skeletons
                best = self._distinct(done, beam_width)
                if len(best) == beam_width and float(scores.max()) < best[-1][1]:
                    break
            if R and len(done) >= 2 * width:
                break
        if R and done:
            done = self._rescore(memory, prefix, [d[0] for d in done])
        return [(v.decode(ids), sc) for ids, sc in self._distinct(done, beam_width)]

    def _distinct(self, done: list[tuple[list[int], float]], n: int
                  ) -> list[tuple[list[int], float]]:
        """The ``n`` best finished beams, one per skeleton up to the order and
        grouping of sums and products (:func:`~symreg.neural.vocab.skeleton_key`)."""
        out, seen = [], set()
        for ids, sc in sorted(done, key=lambda t: -t[1]):
            key = skeleton_key(self.vocab.decode(ids))
            if key not in seen:
                seen.add(key)
                out.append((ids, sc))
                if len(out) == n:
                    break
        return out

    def _rescore(self, memory: torch.Tensor, prefix: list[int], bodies: list[list[int]]
                 ) -> list[tuple[list[int], float]]:
        """Exact log-probability of each skeleton body plus ``<eos>`` (teacher forced)."""
        v = self.vocab
        L = len(prefix) + max(len(b) for b in bodies) + 1
        ids = torch.full((len(bodies), L), v.pad_id, dtype=torch.long, device=memory.device)
        for j, b in enumerate(bodies):
            seq = prefix + b + [v.eos_id]
            ids[j, :len(seq)] = torch.tensor(seq, device=memory.device)
        logp = torch.log_softmax(self.decode(memory.expand(len(bodies), -1, -1),
                                             ids[:, :-1]).float(), dim=-1)
        target = ids[:, 1:]
        tok_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        body_mask = torch.zeros_like(tok_lp, dtype=torch.bool)
        for j, b in enumerate(bodies):
            body_mask[j, len(prefix) - 1:len(prefix) + len(b)] = True
        total = (tok_lp * body_mask).sum(1)
        return [(b, float(t)) for b, t in zip(bodies, total)]

    @torch.no_grad()
    def next_token_logprobs(self, memory: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """Log-probabilities of the token after ``ids`` (one sequence), [vocab]."""
        seq = torch.tensor([ids], device=memory.device)
        return torch.log_softmax(self.decode(memory[:1], seq)[0, -1].float(), dim=-1)

    # -- persistence -----------------------------------------------------------------
    def state_for_saving(self, half: bool = True) -> dict:
        state = {k: (t.half() if half and t.is_floating_point() else t).cpu()
                 for k, t in self.state_dict().items() if k != "head.weight"}
        return {"config": self.config.to_dict(), "state": state}

    @classmethod
    def from_saved(cls, saved: dict, device: str | torch.device = "cpu", *,
                   config: ModelConfig | None = None, strict: bool = True) -> SetTransformerSR:
        """A model from :meth:`state_for_saving`'s dict; with ``strict=False`` (and
        another ``config``) parts the saved model lacks keep their initial values."""
        model = cls(config or ModelConfig(**saved["config"]))
        state = {k: t.float() if t.is_floating_point() else t for k, t in saved["state"].items()}
        state["head.weight"] = state["tok_emb.weight"]
        model.load_state_dict(state, strict=strict)
        return model.to(device).eval()

