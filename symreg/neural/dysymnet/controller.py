"""The controller RNN that samples architectures, and its risk-seeking policy gradient."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["Controller", "risk_seeking_loss"]


class Controller(nn.Module):
    """An LSTM cell that samples architectures, one decision per step.

    Decision 0 is the depth (1..max_layers); then, for each layer and each unit
    type, the number of units (0..max_units). The input of each step is a learned
    embedding of the decision's position plus one of the previous choice. The
    decisions about layers beyond the sampled depth are drawn (the batch stays
    rectangular) but count neither in the log-probability nor in the entropy.
    """

    def __init__(self, max_layers: int, n_units: int, max_units: int, hidden: int = 32,
                 p_units: Sequence[float] = (0.55, 0.35, 0.1)):
        super().__init__()
        self.L, self.T, self.m = max_layers, n_units, max_units
        self.n_decisions = 1 + max_layers * n_units
        self.pos = nn.Embedding(self.n_decisions, hidden)
        self.prev = nn.Embedding(max(max_layers, max_units + 1) + 1, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.depth_head = nn.Linear(hidden, max_layers)
        self.count_head = nn.Linear(hidden, max_units + 1)
        p = np.array(list(p_units)[: max_units + 1] + [0.05] * (max_units + 1 - len(p_units)))
        with torch.no_grad():
            # the prior favours small layers: a wide net is harder to prune clean
            self.count_head.bias.copy_(torch.as_tensor(np.log(p / p.sum()), dtype=torch.float32))
            self.count_head.weight.mul_(0.1)
            self.depth_head.weight.mul_(0.1)
            self.depth_head.bias.zero_()

    def sample(self, K: int, generator: torch.Generator | None = None):
        """Sample ``K`` architectures.

        Returns
        -------
        counts : ndarray of int, shape (K, max_layers, n_units)
            Units per layer and type (0 beyond the depth).
        depth : ndarray of int, shape (K,)
        log_prob, entropy : tensor of shape (K,)
        """
        hidden = self.cell.hidden_size
        h = torch.zeros(K, hidden)
        c = torch.zeros(K, hidden)
        prev = torch.full((K,), self.prev.num_embeddings - 1, dtype=torch.long)  # start token
        logp = torch.zeros(K)
        ent = torch.zeros(K)
        depth = None
        counts = torch.zeros(K, self.L, self.T, dtype=torch.long)
        for step in range(self.n_decisions):
            inp = self.pos.weight[step].unsqueeze(0) + self.prev(prev)
            h, c = self.cell(inp, (h, c))
            logits = self.depth_head(h) if step == 0 else self.count_head(h)
            log_probs = torch.log_softmax(logits, dim=-1)
            choice = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
            lp = log_probs.gather(1, choice.unsqueeze(1)).squeeze(1)
            e = -(log_probs.exp() * log_probs).sum(dim=1)
            if step == 0:
                depth = choice + 1
                live = torch.ones(K, dtype=torch.bool)
            else:
                layer, t = divmod(step - 1, self.T)
                live = layer < depth
                counts[:, layer, t] = torch.where(live, choice, torch.zeros_like(choice))
            logp = logp + torch.where(live, lp, torch.zeros_like(lp))
            ent = ent + torch.where(live, e, torch.zeros_like(e))
            prev = choice
        return counts.numpy(), depth.numpy(), logp, ent


def risk_seeking_loss(rewards: np.ndarray, log_prob: torch.Tensor, entropy: torch.Tensor,
                      epsilon: float, entropy_weight: float) -> torch.Tensor:
    """The risk-seeking policy-gradient loss (Petersen et al. 2021).

    Only samples whose reward reaches the ``1 - epsilon`` quantile of the batch
    count, each weighted by how far it is above that quantile: the controller is
    trained to produce its best samples, not a good average.
    """
    r = torch.as_tensor(rewards, dtype=torch.float32)
    q = float(np.quantile(rewards, 1.0 - epsilon))
    top = r >= q
    adv = (r - q)[top]
    pg = -(adv * log_prob[top]).mean() if bool(top.any()) else torch.zeros(())
    return pg - entropy_weight * entropy.mean()
