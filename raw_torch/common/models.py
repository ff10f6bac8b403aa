"""The shared models: one `nn.Module` per workload, used unchanged by both sides."""

from __future__ import annotations

import torch
from torch import nn


class LinearRegression(nn.Module):
    """The note's minimal model: fit y = 3x + 4 with inputs [x, 0] (the second weight never gets a gradient)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class AutoEncoder(nn.Module):
    """Lightning's front-page autoencoder: 784 -> hidden -> 3 -> hidden -> 784.

    `forward` returns the embedding (encoder only), as in Lightning's example; the reconstruction loss
    needs both halves, so the training code calls `decoder(encoder(x))`.
    """

    def __init__(self, hidden: int = 64, latent: int = 3, image_size: int = 28 * 28) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(image_size, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, image_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


def shared_model(workload: str, hidden: int = 64) -> nn.Module:
    """The workload's model, freshly initialised from the global RNG (what each side's run builds)."""
    return LinearRegression() if workload == "minimal" else AutoEncoder(hidden=hidden)


def lstsq_fit_(linear: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> None:
    """Set `linear`'s weight and bias to the least-squares solution on (x, y), in place, no gradient.

    Solved in float64 on the CPU: CUDA's lstsq only has the 'gels' driver, which needs a full-rank
    matrix, and here the second input column is all zeros. The CPU default 'gelsy' returns the
    minimum-norm solution, so that weight becomes 0. The intercept is a column of ones.
    """
    a = torch.cat([x.double().cpu(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(a, y.double().cpu()).solution  # (features + 1, outputs)
    with torch.no_grad():
        linear.weight.copy_(solution[:-1].T)
        linear.bias.copy_(solution[-1])
