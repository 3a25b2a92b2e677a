"""Classification metrics on predicted log-probabilities: accuracy, NLL, expected calibration error."""

from __future__ import annotations

import torch


def accuracy(log_probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of samples whose most likely class is the label."""
    return (log_probs.argmax(dim=1) == labels).float().mean().item()


def nll(log_probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean negative log-likelihood of the labels, in nats."""
    return torch.nn.functional.nll_loss(log_probs, labels).item()


def ece(log_probs: torch.Tensor, labels: torch.Tensor, *, bins: int = 15) -> float:
    """Expected calibration error with ``bins`` equal-width confidence bins (Guo et al., 2017).

    Sum over bins of (bin size / n) * |accuracy in bin - mean confidence in bin|; a confidence
    equal to a bin's upper edge belongs to that bin, so confidence 1.0 falls in the last one.
    """
    confidence, predicted = log_probs.exp().max(dim=1)
    correct = (predicted == labels).float()
    # ceil(c * bins) - 1 maps (k/bins, (k+1)/bins] to bin k.
    which = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)
    total = torch.zeros(())
    for b in range(bins):
        members = which == b
        if members.any():
            gap = (correct[members].mean() - confidence[members].mean()).abs()
            total += members.float().mean() * gap
    return total.item()
