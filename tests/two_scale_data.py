"""Training data of the shared two-fidelity model (fidelity last, ``-y``) for the model and
selection tests."""

from __future__ import annotations

import torch


def forrester(x: torch.Tensor) -> torch.Tensor:
    return (6 * x - 2) ** 2 * torch.sin(12 * x - 4)


def forrester_data() -> tuple[torch.Tensor, torch.Tensor]:
    """20 random small-scale points of the shifted Forrester function, 5 large ones."""
    torch.manual_seed(0)
    xs = torch.rand(20, 1, dtype=torch.float64)
    xl = torch.linspace(0.05, 0.95, 5, dtype=torch.float64).unsqueeze(-1)
    ys = 0.5 * forrester(xs) + 10 * (xs - 0.5) - 5
    yl = forrester(xl)
    X = torch.cat(
        [torch.cat([xs, torch.full_like(xs, 0.5)], -1), torch.cat([xl, torch.ones_like(xl)], -1)]
    )
    return X, -torch.cat([ys, yl])


def scaled_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Large = 3 x small + 2: many small points, three large ones."""
    xs = torch.linspace(0, 1, 15, dtype=torch.float64).unsqueeze(-1)
    xl = torch.tensor([[0.2], [0.5], [0.8]], dtype=torch.float64)
    X = torch.cat(
        [torch.cat([xs, torch.full_like(xs, 0.5)], -1), torch.cat([xl, torch.ones_like(xl)], -1)]
    )
    return X, torch.cat([torch.sin(6 * xs), 3 * torch.sin(6 * xl) + 2])
