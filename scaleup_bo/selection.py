"""Which model predicts the target scale, and the evidence for the choice.

Every proposal at large scale asks :class:`ModelSelector` for its model: the shared
two-fidelity GP, a ``MultiTaskGP`` of the same data (which learns a scale factor between
the scales), or a GP of the large-scale runs alone (when the small scale misleads). An
exploiting proposal (``"PM"``, :meth:`~scaleup_bo.engine.Engine.recommend`) gets the
chosen model fitted again with a lower noise floor, its noise pinned when the data show
none. The answer is a :class:`ModelChoice` that carries its evidence (likelihoods,
leave-one-out errors), which the engine exposes as ``large_model_choice``, ``transfer``
and ``interpolation``: what Ax calls model choice by cross-validation.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from botorch.models import MultiTaskGP, SingleTaskMultiFidelityGP
from gpytorch import settings
from gpytorch.constraints import GreaterThan
from torch import Tensor

from scaleup_bo.data import StepData
from scaleup_bo.history import History
from scaleup_bo.model import (
    LARGE_FIDELITY,
    MAX_CHOLESKY_SIZE,
    FitCache,
    fit_model,
    fit_name,
)
from scaleup_bo.space import SearchSpace

__all__ = [
    "AUTO_MAX_SCALE_RATIO",
    "AUTO_SCALE_RATIO",
    "GUARD_MIN_LARGE",
    "INTERPOLATION_NOISE",
    "MULTITASK_MIN_LARGE",
    "ModelChoice",
    "ModelSelector",
    "interpolating",
    "log_marginal_likelihood",
    "loo_predictions",
    "multitask_evidence",
    "n_hyperparameters",
    "task_scale_ratio",
]

logger = logging.getLogger("scaleup_bo")

#: Large-scale points needed before the negative-transfer guard compares models.
GUARD_MIN_LARGE = 4
#: With ``large_model="multitask"``: large-scale points needed before the MultiTaskGP
#: proposes (the first runs come from the shared model).
MULTITASK_MIN_LARGE = 3
#: The guard drops the small scale when the large-only GP's leave-one-out error is below
#: this fraction of the shared model's: plain model selection (a margin of 0.5 kept an
#: uninformative small scale in ``ScaleUpOptimizer``'s model: ``unrelated`` 1.55 against
#: 0.40 at 1.0).
GUARD_RATIO = 1.0


@dataclass(frozen=True)
class ModelChoice:
    """The model behind one proposal, with its training data and evidence.

    Attributes:
        model: The fitted BoTorch model.
        kind: ``"shared"``, ``"multitask"``, ``"large_only"`` or ``"custom"`` (a
            strategy's ``surrogate``).
        X, Y: The rows it was fitted on (``X``: ``n x (d + 1)``; the large rows only for
            ``"large_only"``).
        large_model: At large scale, the evidence of the large-model choice
            (``{"model": kind, ...}``); empty at small scale.
        transfer: The guard's evidence (leave-one-out errors), when it compared.
        interpolation: For an exploiting choice, the refit's evidence for pinning its
            noise (:func:`interpolating`); ``None`` for an exploring one.
    """

    model: Any
    kind: str
    X: Tensor
    Y: Tensor
    large_model: dict[str, Any] = field(default_factory=dict)
    transfer: dict[str, Any] = field(default_factory=dict)
    interpolation: dict[str, Any] | None = None


class ModelSelector:
    """Fits and chooses the models of one run (see the module's text).

    Args:
        space: The search space (its one-hot columns get their own lengthscale prior).
        strategy: The run's resolved :class:`~scaleup_bo.strategy.Strategy`.
        cache: The run's fits.
        history: The run's history (its size keys the cache; its trials hold the warm
            starts).
    """

    def __init__(self, space: SearchSpace, strategy: Any, cache: FitCache, history: History):
        self.space, self.strategy, self.cache, self.history = space, strategy, cache, history

    def shared(self, data: StepData, seed: int, noise_floor: float | None = None) -> Any:
        """The shared model of ``data`` (a custom ``surrogate`` in its place), or ``None``
        without data or when the fit failed (logged)."""
        factory = self.strategy.surrogate
        if factory is not None:
            make = (lambda: None) if data.X.shape[0] == 0 else (lambda: factory(data.X, data.Y))
            self.cache.unrecorded.add("surrogate")
            return self.cache.get("surrogate", len(self.history), make)

        def fit(warm_start: dict[str, Any] | None) -> Any:
            if data.X.shape[0] == 0:
                return None
            return fit_model(
                data.X, data.Y, kernel=self.strategy.kernel, seed=seed,
                categorical_columns=self.space.one_hot_columns, noise_floor=noise_floor,
                warm_start=warm_start,
            )  # fmt: skip

        return self.cache.fit(fit_name("shared", noise_floor), self.history, fit)

    def choose(
        self, data: StepData, scale: str, seed: int, *, exploit: bool = False
    ) -> ModelChoice | None:
        """The model that predicts ``scale`` now (``None`` when none can be fitted).

        At large scale: the shared model, or with ``large_model="multitask"`` the
        MultiTaskGP, or with ``"auto"`` the evidence's choice between them and a GP of the
        large runs alone (:meth:`_auto`); then with ``transfer_guard`` the guard's check
        (:meth:`_guard`). With ``exploit``, the chosen model refitted for exploiting
        (:meth:`_refit`), or the large runs' own refit (``exploit_large_alone``).
        """
        model = self.shared(data, seed)
        if model is None:
            return None
        large = scale == "large"
        if self.strategy.surrogate is not None:
            return ModelChoice(
                model, "custom", data.X, data.Y, {"model": "custom"} if large else {}
            )
        X, Y, imputed = data.X, data.Y, data.imputed
        kind, evidence, transfer = "shared", {}, {}
        if large and self.strategy.large_model == "multitask":
            multitask = self.multitask(X, Y, seed, imputed=imputed)
            if multitask is not None:
                model, kind = multitask, "multitask"
        elif large and self.strategy.large_model == "auto":
            (kind, model, X, Y), evidence = self._auto(model, X, Y, seed, imputed)
        if large and self.strategy.transfer_guard:
            model, X, Y, transfer = self._guard(model, X, Y, seed, imputed)
            if transfer.get("uses_small_scale") is False:
                kind = "large_only"
        if large and not evidence:
            evidence = {"model": kind}
        interpolation = None
        if exploit and self.strategy.exploit_noise_floor is not None:
            model, interpolation = self._refit(kind, model, X, Y, data, seed)
            if large and kind == "shared":
                alone = self._exploit_large_alone(X, Y, data, seed, interpolation)
                if alone is not None:
                    kind, (model, X, Y, interpolation) = "large_only", alone
        return ModelChoice(model, kind, X, Y, evidence, transfer, interpolation)

    def multitask(
        self,
        X: Tensor,
        Y: Tensor,
        seed: int,
        noise_floor: float | None = None,
        *,
        imputed: Tensor | None = None,
    ) -> Any:
        """The MultiTaskGP of ``X``, ``Y``, or ``None`` while fewer than
        ``MULTITASK_MIN_LARGE`` large-scale rows (imputed failures not counted) or no
        small-scale ones exist, or when it cannot be fitted."""
        is_large = X[:, -1] == LARGE_FIDELITY
        real = is_large if imputed is None else is_large & ~imputed
        if int(real.sum()) < MULTITASK_MIN_LARGE or bool(is_large.all()):
            return None
        return self.cache.fit(
            fit_name("multitask", noise_floor),
            self.history,
            lambda warm_start: fit_model(
                X, Y, seed=seed, multitask=True, noise_floor=noise_floor, warm_start=warm_start
            ),
        )

    def large_only(self, X: Tensor, Y: Tensor, seed: int, noise_floor: float | None = None) -> Any:
        """A GP of the large-scale rows ``X``, ``Y`` alone, or ``None`` when it cannot be
        fitted."""
        return self.cache.fit(
            fit_name("large_only", noise_floor),
            self.history,
            lambda warm_start: fit_model(
                X, Y, kernel=self.strategy.kernel, seed=seed,
                categorical_columns=self.space.one_hot_columns, noise_floor=noise_floor,
                warm_start=warm_start,
            ),
        )  # fmt: skip

    def _auto(
        self, shared: Any, X: Tensor, Y: Tensor, seed: int, imputed: Tensor
    ) -> tuple[tuple[str, Any, Tensor, Tensor], dict[str, Any]]:
        """``large_model="auto"``: ``((kind, model, X, Y), evidence)``.

        Once ``MULTITASK_MIN_LARGE`` large-scale rows exist, the MultiTaskGP is fitted
        next to the shared model and :func:`multitask_evidence` says which the data prefer
        (a likelihood margin and a scale factor in a window). A chosen MultiTaskGP gives
        way to a GP of the large rows alone when that predicts them better (leave-one-out;
        imputed failures not scored): with a handful of large runs its extra freedom can
        fit the small scale's shape to the wrong place. With ``transfer_guard`` that check
        is the guard's. A numerical failure keeps the shared model.
        """
        fallback = ("shared", shared, X, Y)
        multitask = self.multitask(X, Y, seed, imputed=imputed)
        if multitask is None:
            return fallback, {}
        try:
            evidence = multitask_evidence(shared, multitask)
        except (RuntimeError, ValueError) as exc:  # a failed Cholesky: the shared model
            logger.warning("large-scale model choice skipped, shared model kept: %s", exc)
            return fallback, {"model": "shared"}
        if evidence["model"] == "shared":
            return fallback, evidence
        chosen = ("multitask", multitask, X, Y)
        if self.strategy.transfer_guard:
            return chosen, evidence
        large = X[:, -1] == LARGE_FIDELITY
        checked = self._against_large_only(
            multitask, X, Y, large, large & ~imputed, seed, "large-only check of the MultiTaskGP"
        )
        if checked is None:  # keep the choice
            return chosen, evidence
        alone, loo_multitask, loo_alone = checked
        evidence.update(loo_multitask=loo_multitask, loo_large=loo_alone)
        logger.info("large-scale model: %s", evidence)
        if loo_alone < loo_multitask:
            evidence["model"] = "large_only"
            return ("large_only", alone, X[large], Y[large]), evidence
        return chosen, evidence

    def _against_large_only(
        self, model: Any, X: Tensor, Y: Tensor, large: Tensor, observed: Tensor, seed: int,
        what: str,
    ) -> tuple[Any, float, float] | None:  # fmt: skip
        """A GP of the ``large`` rows and the leave-one-out squared errors of ``model`` and
        of that GP on the ``observed`` large rows: ``(gp, loo_model, loo_gp)``; ``None`` when
        the GP cannot be fitted or a Cholesky fails (logged as ``what`` skipped)."""
        alone = self.large_only(X[large], Y[large], seed)
        if alone is None:
            return None
        try:
            return alone, _loo_error(model, observed), _loo_error(alone, observed[large])
        except (RuntimeError, ValueError) as exc:  # a failed Cholesky
            logger.warning("%s skipped: %s", what, exc)
            return None

    def _guard(
        self, model: Any, X: Tensor, Y: Tensor, seed: int, imputed: Tensor
    ) -> tuple[Any, Tensor, Tensor, dict[str, Any]]:
        """Negative-transfer guard: ``model`` or a GP of the large rows alone, and the
        evidence.

        Once ``GUARD_MIN_LARGE`` large rows are observed next to small ones, each model
        scores the large rows by leave-one-out squared error (in the user's units); the
        large-only GP replaces ``model`` when its error is below ``GUARD_RATIO`` times
        ``model``'s: the small scale misleads here. Imputed failures are in both models'
        data but neither counted nor scored."""
        rows = guard_rows(X, imputed)
        if rows is None:
            return model, X, Y, {}
        large, observed = rows
        checked = self._against_large_only(model, X, Y, large, observed, seed, "transfer guard")
        if checked is None:  # keep the model
            return model, X, Y, {}
        alone, loo_model, loo_alone = checked
        use_small = not loo_alone < GUARD_RATIO * loo_model
        transfer = {"uses_small_scale": use_small, "loo_shared": loo_model, "loo_large": loo_alone}
        logger.info(
            "transfer guard: LOO squared error shared %.3g, large-only %.3g -> %s",
            loo_model, loo_alone, "shared model" if use_small else "large-scale points only",
        )  # fmt: skip
        if use_small:
            return model, X, Y, transfer
        return alone, X[large], Y[large], transfer

    def _refit(
        self, kind: str, model: Any, X: Tensor, Y: Tensor, data: StepData, seed: int
    ) -> tuple[Any, dict[str, Any]]:
        """The model of ``kind`` fitted again to its rows with ``exploit_noise_floor``,
        with its noise pinned at ``INTERPOLATION_NOISE`` when its data show none
        (``exploit_interpolate``; :func:`interpolating`), and that evidence; ``model``
        itself (and ``{}``) when the refit fails."""
        floor = self.strategy.exploit_noise_floor
        # Said once per state: a failed fit is cached (as None) until the next tell.
        fresh = not self.cache.has(fit_name(kind, floor), len(self.history))
        if kind == "shared":
            refit = self.shared(data, seed, noise_floor=floor)
        elif kind == "multitask":
            refit = self.multitask(X, Y, seed, floor)
        else:
            refit = self.large_only(X, Y, seed, floor)
        if refit is None:
            if fresh and model is not None:
                logger.warning(
                    "the %s model's refit with noise floor %g failed; exploiting the model "
                    "as fitted for exploring",
                    kind, floor,
                )  # fmt: skip
            return model, {}
        if not self.strategy.exploit_interpolate:
            return refit, {}
        name = fit_name(kind, floor) + ":interpolating"
        return self.cache.get(name, len(self.history), lambda: interpolating(refit))

    def _exploit_large_alone(
        self, X: Tensor, Y: Tensor, data: StepData, seed: int, evidence: dict[str, Any]
    ) -> tuple[Any, Tensor, Tensor, dict[str, Any]] | None:
        """With ``exploit_large_alone``, after the shared model's refit: the large rows' own
        GP, refitted for exploiting, with its rows and evidence, when the shared refit's
        data showed noise (its pinned copy compared and rejected) and this one's show none
        (pinned); else ``None``. Its evidence keeps the replaced one under
        ``"instead_of"``."""
        shows_noise = (
            evidence.get("model") == "fitted"
            and "log_likelihood_pinned" in evidence
            and "error" not in evidence
        )
        if not (self.strategy.exploit_large_alone and shows_noise):
            return None
        rows = guard_rows(X, data.imputed)
        if rows is None:
            return None
        large, _ = rows
        X, Y = X[large], Y[large]
        refit, own = self._refit("large_only", None, X, Y, data, seed)
        if refit is None or own.get("model") != "pinned":
            return None
        logger.info("exploiting the large-scale runs' own GP: it interpolates them")
        return refit, X, Y, {**own, "instead_of": evidence}


def guard_rows(X: Tensor, imputed: Tensor) -> tuple[Tensor, Tensor] | None:
    """The large rows of ``X`` and those of them observed (not imputed failures), as
    masks, when at least ``GUARD_MIN_LARGE`` are observed and small rows exist too; else
    ``None``: what the guard and ``exploit_large_alone`` need before they fit a GP of the
    large rows alone."""
    large = torch.isclose(X[:, -1], torch.tensor(LARGE_FIDELITY, dtype=X.dtype))
    observed = large & ~imputed
    if int(observed.sum()) < GUARD_MIN_LARGE or bool(large.all()):
        return None
    return large, observed


def _loo_error(model: Any, rows: Tensor) -> float:
    mean, _, observed = loo_predictions(model)
    return float(((mean - observed)[rows] ** 2).mean())


#: Noise variance (of the standardized outcomes) at which the exploiting model is pinned
#: when its data show no noise (:func:`interpolating`): it then interpolates the runs,
#: which locates a noise-free objective's optimum finer than the refit's inferred noise
#: (docs/choosing_the_defaults.md, the interpolate screen).
INTERPOLATION_NOISE = 1e-9

#: With ``large_model="auto"``: the MultiTaskGP is chosen only while it says the two
#: scales' spreads differ by more than this factor (its task covariance), the thing it
#: can learn and the shared model cannot; below it the shared model has proved as good
#: (docs/choosing_the_defaults.md, the bicgs1.5 screen).
AUTO_SCALE_RATIO = 1.5
#: ... and only while the large scale's spread is below this many times the small
#: scale's: above it the small scale's whole range is a fraction of the large one's, and
#: the MultiTaskGP amplifies the small scale's shape by that factor. On the benchmark's
#: negative-transfer problem (an unrelated small scale) it fitted ratios of 3.7-47 at 99
#: of its 101 choices and its runs stalled (regret 1.55 on Branin); on the shifted
#: problem, where it helped most, all 108 stayed below 2.73 (docs/choosing_the_defaults.md).
#: Set from those benchmark problems; the held-out check is there too.
AUTO_MAX_SCALE_RATIO = 3.0


def loo_predictions(
    model: SingleTaskMultiFidelityGP | MultiTaskGP,
) -> tuple[Tensor, Tensor, Tensor]:
    """Leave-one-out predictions of every training point.

    Closed form for a fitted exact GP (hyperparameters kept, each point predicted
    from all the others, observation noise included), in the units of the outcomes
    the model was given, so two models fitted to different data can be compared on
    the same points.

    Args:
        model: A fitted model with a ``Standardize`` outcome transform.

    Returns:
        ``(mean, variance, observed)``, each of shape ``n``.
    """
    X = model.train_inputs[0]
    y = model.train_targets
    with torch.no_grad(), settings.max_cholesky_size(MAX_CHOLESKY_SIZE):
        # The prior at the training inputs plus the likelihood's noise (per task for
        # the MultiTaskGP): the same for every exact GP.
        prior = model.forward(X)
        K_noisy = model.likelihood(prior, X).covariance_matrix
        K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K_noisy))
        alpha = K_inv @ (y - prior.mean)
        d = torch.diagonal(K_inv)
        mean, var = y - alpha / d, 1.0 / d
        shift = model.outcome_transform.means.reshape(())
        scale = model.outcome_transform.stdvs.reshape(())
    return mean * scale + shift, var * scale**2, y * scale + shift


def log_marginal_likelihood(model: SingleTaskMultiFidelityGP | MultiTaskGP) -> float:
    """The fitted model's exact log marginal likelihood of its training targets (as it
    sees them: standardized), at its fitted hyperparameters. Two models fitted to the same
    targets with the same ``Standardize`` transform can be compared by it."""
    X, y = model.train_inputs[0], model.train_targets
    with torch.no_grad(), settings.max_cholesky_size(MAX_CHOLESKY_SIZE):
        return float(model.likelihood(model.forward(X), X).log_prob(y))


def interpolating(model: Any) -> tuple[Any, dict[str, Any]]:
    """The fitted ``model`` with its noise pinned at ``INTERPOLATION_NOISE`` when its data
    show no noise, else ``model`` itself; with the evidence.

    A noise-free objective is fitted with some noise all the same: the noise prior holds
    the inferred noise above what the likelihood alone would choose, and a noise of
    about 1e-6 of the outcomes' variance smooths runs placed close together around the
    optimum enough to bias where the posterior mean peaks. The pinned copy keeps every
    other hyperparameter and is preferred when its log marginal likelihood is at least
    the fitted model's minus half the log of the number of points per noise parameter it
    drops (the Bayesian information criterion's price: one parameter, or one per task of
    a ``MultiTaskGP``); data with real noise (or a rough objective) lose far more than
    that and keep the fitted model. Models of more than ``MAX_CHOLESKY_SIZE`` points, and
    likelihoods with a fixed noise, are kept as they are.

    Returns:
        ``(model, evidence)``: the model to exploit, and ``evidence`` with
        ``"model"`` (``"pinned"`` or ``"fitted"``), both log marginal likelihoods and
        the penalty. A failed Cholesky of the pinned copy keeps the fitted model
        (``"model": "fitted"``, ``"error"`` set).
    """
    noise = float(model.likelihood.noise.detach().max())
    n = model.train_inputs[0].shape[0]
    if noise <= INTERPOLATION_NOISE or n > MAX_CHOLESKY_SIZE:
        # Above the exact-solve size gpytorch's iterative solves would not converge.
        return model, {"model": "fitted", "noise": noise}
    pinned = copy.deepcopy(model)
    dropped = 0  # noise parameters pinned: one, or one per task
    for module in pinned.likelihood.modules():
        if hasattr(module, "raw_noise_constraint"):
            module.register_constraint("raw_noise", GreaterThan(0.0, transform=None))
            module.raw_noise.data.fill_(INTERPOLATION_NOISE)
            module.raw_noise.requires_grad_(False)
            dropped += module.raw_noise.numel()
    if not dropped:  # a likelihood without an inferred noise (fixed noise): nothing to pin
        return model, {"model": "fitted", "noise": noise}
    pinned.train()  # drops the copied prediction caches
    pinned.eval()
    evidence: dict[str, Any] = {"noise": noise, "penalty": 0.5 * dropped * math.log(n)}
    try:
        evidence["log_likelihood_fitted"] = log_marginal_likelihood(model)
        evidence["log_likelihood_pinned"] = log_marginal_likelihood(pinned)
    except (RuntimeError, ValueError) as exc:  # NotPSDError and NanError are RuntimeErrors
        logger.warning("the model with its noise pinned at %g failed (%s); exploiting the "
                       "model as fitted", INTERPOLATION_NOISE, exc)  # fmt: skip
        evidence.update(model="fitted", error=str(exc))
        return model, evidence
    loss = evidence["log_likelihood_fitted"] - evidence["log_likelihood_pinned"]
    evidence["model"] = "pinned" if loss <= evidence["penalty"] else "fitted"
    return (pinned if evidence["model"] == "pinned" else model), evidence


def n_hyperparameters(model: Any) -> int:
    """How many numbers the model's fit chose (its trainable parameters' entries)."""
    return sum(p.numel() for p in model.parameters())


def task_scale_ratio(model: MultiTaskGP) -> float:
    """How many times the large scale's prior standard deviation is the small scale's,
    in a fitted two-task ``MultiTaskGP`` (task 0 small, task 1 large; both tasks share
    the input kernel, so the task covariance's diagonal sets their spreads)."""
    with torch.no_grad():
        B = model.covar_module.kernels[1].covar_matrix.to_dense()
    return float((B[1, 1] / B[0, 0]).sqrt())


def multitask_evidence(shared: SingleTaskMultiFidelityGP, multitask: MultiTaskGP) -> dict[str, Any]:
    """``large_model="auto"``'s rule, on the shared model and the MultiTaskGP fitted to
    the same data: the evidence, with ``"model"`` the one it prefers.

    The MultiTaskGP is preferred when both

    - its log marginal likelihood exceeds the shared model's by more than half the
      difference in their numbers of raw hyperparameter entries times the log of the
      number of points (the Bayesian information criterion's form; the raw count
      over-states the task covariance's free numbers, so the penalty is stricter than
      the criterion's: this is the rule the benchmark screened);
    - it says the scales' spreads differ: its ratio of the large to the small scale's
      standard deviation (:func:`task_scale_ratio`) is above ``AUTO_SCALE_RATIO`` or
      below its inverse (a scale factor, which the shared model cannot represent), and
      below ``AUTO_MAX_SCALE_RATIO`` (a small scale nearly flat next to the large one is
      not amplified).

    Raises:
        RuntimeError, ValueError: a failed Cholesky (the caller keeps the shared model).
    """
    lml_shared = log_marginal_likelihood(shared)
    lml_multitask = log_marginal_likelihood(multitask)
    ratio = task_scale_ratio(multitask)
    extra = n_hyperparameters(multitask) - n_hyperparameters(shared)
    penalty = 0.5 * extra * math.log(multitask.train_inputs[0].shape[0])
    better_fit = lml_multitask - lml_shared > penalty
    spreads_differ = abs(math.log(ratio)) > math.log(AUTO_SCALE_RATIO)
    spreads_differ = spreads_differ and ratio < AUTO_MAX_SCALE_RATIO
    return {
        "model": "multitask" if better_fit and spreads_differ else "shared",
        "log_likelihood_shared": lml_shared,
        "log_likelihood_multitask": lml_multitask,
        "penalty": penalty,
        "scale_ratio": ratio,
    }
