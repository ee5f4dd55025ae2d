"""History -> one step's training data, encoded once.

A step (one ``ask``) reads the history through a :class:`StepData`: every trial
encoded into the unit cube with its scale's fidelity appended, the successful ones as
training rows (``-y``: the model maximizes), failed ones imputed at the worst value of
their scale, the tried and pending points per scale. Later parts (model selection,
proposals, the scale choice) read this record and never encode the history again.

Example:
    >>> from scaleup_bo.history import History
    >>> from scaleup_bo.space import SearchSpace
    >>> history = History()
    >>> _ = history.add([0.2], 1.0, "small")
    >>> _ = history.add([0.7], None, "large", status="failed", error="diverged")
    >>> data = Encoder(SearchSpace([(0.0, 1.0)]), 0.5).step(history, [])
    >>> data.X.tolist(), data.Y.tolist(), len(data.tried["large"])
    ([[0.2, 0.5]], [[-1.0]], 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from scaleup_bo.history import SCALES, History
from scaleup_bo.model import LARGE_FIDELITY
from scaleup_bo.space import SearchSpace

__all__ = ["IMPUTE_MIN_OK", "Encoder", "StepData", "winsorize_targets"]

#: With ``impute_failures``: successful trials a scale needs before its failed ones are
#: shown to the model at its worst value (the worst of one value is the best one).
IMPUTE_MIN_OK = 3

Pending = Sequence[tuple[Sequence[Any], str]]


@dataclass(frozen=True)
class StepData:
    """What one step knows, encoded.

    Attributes:
        X: ``n x (d + 1)`` training inputs (unit cube, fidelity last), history order.
        Y: ``n x 1`` targets: ``-y`` (winsorized with ``winsorize``), imputed failures at
            the worst target of their scale.
        imputed: ``n`` booleans: which rows are imputed failures.
        tried: Per scale, ``m x d`` encodings of the points evaluated, failed or pending
            there (the history's first, then the pending ones).
        pending: ``p x (d + 1)`` pending points at their own scale's fidelity, in the
            order they were asked.
        pending_scales: The scale of each pending row.
        n_ok: Successful trials at both scales.
        fidelities: The fidelity value of each scale.
    """

    X: Tensor
    Y: Tensor
    imputed: Tensor
    tried: dict[str, Tensor]
    pending: Tensor
    pending_scales: tuple[str, ...]
    n_ok: int
    fidelities: dict[str, float]

    @property
    def large(self) -> Tensor:
        """Which training rows are at the large scale."""
        return self.X[:, -1] == LARGE_FIDELITY

    def pending_at(self, scale: str) -> Tensor | None:
        """The rows of :attr:`pending` at ``scale`` (``None`` when there are none)."""
        rows = [i for i, s in enumerate(self.pending_scales) if s == scale]
        return self.pending[rows] if rows else None

    def at_fidelity(self, U: Tensor, scale: str) -> Tensor:
        """``m x d`` encodings with ``scale``'s fidelity column appended."""
        fid = torch.full((U.shape[0], 1), self.fidelities[scale], dtype=U.dtype)
        return torch.cat([U, fid], dim=-1)


class Encoder:
    """Encodes a history (append-only) into unit-cube rows, each trial once.

    Args:
        space: The search space.
        small_fidelity: Fidelity value of the small scale (the large one is 1.0).
        impute_failures: Impute failed trials (see :class:`StepData`).
        winsorize: Clip the bad tail of the targets (:func:`winsorize_targets`).
    """

    def __init__(
        self,
        space: SearchSpace,
        small_fidelity: float,
        *,
        impute_failures: bool = True,
        winsorize: bool = False,
    ) -> None:
        self.space = space
        self.fidelities = {"small": float(small_fidelity), "large": LARGE_FIDELITY}
        self.impute_failures = impute_failures
        self.winsorize = winsorize
        self._unit = torch.zeros(0, space.n_columns, dtype=torch.float64)

    def unit(self, history: History) -> Tensor:
        """``n x d`` encodings of every trial of ``history``, in order."""
        done = self._unit.shape[0]
        if len(history) > done:
            new = self.space.to_unit([t.params for t in history.trials[done:]])
            self._unit = torch.cat([self._unit, new])
        return self._unit[: len(history)]

    def step(self, history: History, pending: Pending) -> StepData:
        """The :class:`StepData` of ``history`` with ``pending`` points in flight."""
        U = self.unit(history)
        trials = history.trials
        fid = torch.tensor(
            [[self.fidelities[t.scale]] for t in trials], dtype=torch.float64
        ).reshape(-1, 1)
        X_all = torch.cat([U, fid], dim=-1)
        ok = [i for i, t in enumerate(trials) if t.ok]
        X_ok = X_all[ok]
        Y_ok = -torch.tensor([[trials[i].value] for i in ok], dtype=torch.float64).reshape(-1, 1)
        if self.winsorize:
            Y_ok = winsorize_targets(X_ok, Y_ok)
        X, Y, imputed = self._impute(trials, X_all, ok, X_ok, Y_ok)
        U_pending = self.space.to_unit([p for p, _ in pending])
        scales = tuple(s for _, s in pending)
        tried = {}
        for scale in SCALES:
            rows = [i for i, t in enumerate(trials) if t.scale == scale]
            extra = [i for i, s in enumerate(scales) if s == scale]
            tried[scale] = torch.cat([U[rows], U_pending[extra]])
        pending_fid = torch.tensor(
            [[self.fidelities[s]] for s in scales], dtype=torch.float64
        ).reshape(-1, 1)
        return StepData(
            X=X,
            Y=Y,
            imputed=imputed,
            tried=tried,
            pending=torch.cat([U_pending, pending_fid], dim=-1),
            pending_scales=scales,
            n_ok=len(ok),
            fidelities=dict(self.fidelities),
        )

    def _impute(
        self, trials: Sequence[Any], X_all: Tensor, ok: list[int], X_ok: Tensor, Y_ok: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The training rows with each failed trial at the worst target of its scale, once
        that scale has ``IMPUTE_MIN_OK`` successful trials (history order kept)."""
        worst: dict[str, float] = {}  # lowest -y per scale, among enough successes
        for scale in SCALES:
            ys = [float(Y_ok[k, 0]) for k, i in enumerate(ok) if trials[i].scale == scale]
            if self.impute_failures and len(ys) >= IMPUTE_MIN_OK:
                worst[scale] = min(ys)
        if not any(not t.ok and t.scale in worst for t in trials):
            return X_ok, Y_ok, torch.zeros(len(ok), dtype=torch.bool)
        rows, targets, imputed = [], [], []
        k = 0
        for i, t in enumerate(trials):
            if t.ok:
                targets.append(float(Y_ok[k, 0]))
                k += 1
            elif t.scale in worst:
                targets.append(worst[t.scale])
            else:
                continue
            rows.append(i)
            imputed.append(not t.ok)
        return (
            X_all[rows],
            torch.tensor(targets, dtype=torch.float64).reshape(-1, 1),
            torch.tensor(imputed, dtype=torch.bool),
        )


def winsorize_targets(train_X: Tensor, train_Y: Tensor) -> Tensor:
    """Ax's winsorization of the bad tail: the targets the model may be fitted on instead
    of ``train_Y`` (``-y``) when some runs diverge.

    A value ``y`` is lowered to the cutoff ``Q3 + 1.5 IQR`` when it lies above it both among
    all the given values and among the values of its own fidelity (the last column of
    ``train_X``; the larger of the two cutoffs applies). So a scale whose values all sit
    above the other scale's is not flattened, each scale's best value is never touched, and
    the units stay the objective's. Values are unchanged where fewer than 4 values, or an
    interquartile range of 0, leave no tail to speak of.
    """
    y = -train_Y.reshape(-1)
    pooled = _tail_cutoff(y)
    if pooled is None:
        return train_Y
    out = y.clone()
    fidelity = train_X[:, -1]
    for f in fidelity.unique():
        rows = fidelity == f
        own = _tail_cutoff(y[rows])
        if own is not None:
            out[rows] = y[rows].clamp_max(max(pooled, own))
    return -out.reshape(-1, 1)


def _tail_cutoff(y: Tensor) -> float | None:
    """``Q3 + 1.5 IQR`` of ``y`` (linear quantiles), or ``None`` with fewer than 4 values or
    an IQR of 0."""
    if y.numel() < 4:
        return None
    q1, q3 = torch.quantile(y, torch.tensor([0.25, 0.75], dtype=y.dtype)).tolist()
    return None if q3 == q1 else q3 + 1.5 * (q3 - q1)
