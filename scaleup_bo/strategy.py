"""The strategy: every expert setting of a run, in one frozen, serializable object.

The optimizers' constructors take the everyday arguments (the objective, the search
space, ``n_steps``, ``acq_func``, ``random_state``, ``journal``, ...); how the model is
built, chosen and exploited is the :class:`Strategy`'s. A journal records
``strategy.to_dict()`` in its header, so a run is resumed under the strategy it was
started with.

Three settings depend on the optimizer's role; left at ``None`` they take the role's
value (:meth:`Strategy.resolved`): the cost-aware :class:`~scaleup_bo.ScaleUpOptimizer`
also uses its guard to decide whether small runs are still worth paying for, so it turns
``transfer_guard`` on, keeps the ``"shared"`` model that its cost-aware acquisition values
runs with, and exploits the large runs' own GP when only it interpolates them.

Example:
    >>> strategy = Strategy(large_model="shared", winsorize=True)
    >>> strategy.resolved("large").transfer_guard
    False
    >>> Strategy.from_dict(strategy.to_dict()) == strategy
    True
"""

from __future__ import annotations

import dataclasses
import importlib
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scaleup_bo._validate import check_bool, check_count
from scaleup_bo.acquisition import AcquisitionBuilder, acquisition_name, resolve_acquisition
from scaleup_bo.cost import InformationPerCost, ScaleChooser
from scaleup_bo.exceptions import AcquisitionError, DataError
from scaleup_bo.history import as_stored
from scaleup_bo.model import (
    DEFAULT_SMALL_FIDELITY,
    EXPLOIT_NOISE_FLOOR,
    KERNELS,
    LARGE_FIDELITY,
    LARGE_MODELS,
    Kernel,
    LargeModel,
    SurrogateFactory,
    check_noise_floor,
)

__all__ = ["ROLE_DEFAULTS", "Strategy"]

Role = Literal["large", "scale_up"]

#: The settings whose default depends on the optimizer's role: ``"large"`` for
#: ``Engine``, ``SmallScaleOptimizer`` and ``LargeScaleOptimizer``, ``"scale_up"`` for
#: ``ScaleUpOptimizer`` (docs/reference.md, "Strategy").
ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "large": {"large_model": "auto", "transfer_guard": False, "exploit_large_alone": False},
    "scale_up": {"large_model": "shared", "transfer_guard": True, "exploit_large_alone": True},
}


@dataclass(frozen=True)
class Strategy:
    """How the model is built, chosen and exploited (the same in every optimizer).

    Attributes:
        small_fidelity: Fidelity value of the small scale, in ``[0, 1)`` (the large scale
            is ``1.0``). At 0.5 the default kernel learns the small/large correlation; at
            0.0 it is fixed near 0.71.
        kernel: Fidelity kernel of the shared model: ``"linear_truncated"`` (BoTorch's
            default; the downsampling kernel lost on Forrester and Branin).
        large_model: The model behind large-scale proposals and recommendations:
            ``"shared"`` (the two-fidelity GP), ``"multitask"`` (a ``MultiTaskGP`` that
            learns a scale factor between the scales, from the third large run on) or
            ``"auto"`` (the ``MultiTaskGP`` when the evidence says the scales differ by a
            scale factor, a GP of the large runs alone when that predicts them better,
            else the shared model; 30-70x lower regret on the shifted problems).
            ``None``: the role's (``"auto"``; ``"shared"`` for ``ScaleUpOptimizer``).
        surrogate: A factory ``(train_X, train_Y) -> fitted BoTorch Model`` that replaces
            the library's models (``train_X``: ``n x (d + 1)``, unit cube, fidelity last;
            ``train_Y``: ``n x 1``, ``-y``). ``large_model``, the guard and the exploit
            refits apply to the library's own GPs and are skipped with it.
        warm_fits: Start each fit from the hyperparameters its model reached for the last
            proposal, for at most 50 L-BFGS iterations: a step fits in 0.8 s instead of 4-7 s
            on a 4-D mixed space, at the same regret.
        impute_failures: Show the model each failed run at the worst value of its scale,
            so a region where runs fail is learned and left (1-2 of 8 proposals failed
            instead of 6-7 on an objective failing beyond x = 0.6).
        winsorize: Fit on the observed values with their bad tail clipped at
            ``Q3 + 1.5 IQR`` (per scale and overall), for objectives with diverging runs.
            Off: it helped digits and Rosenbrock and lost on Forrester and ``unrelated``.
        transfer_points: The first large-scale asks run this many of the best small-scale
            configurations from distinct basins. 1: the small winner (3 lost on Currin,
            the mixed toy and ``unrelated``); 0: the model from the first ask.
        transfer_guard: Once 4 large runs exist, propose from a GP of the large runs alone
            when it predicts them better (leave-one-out) than the shared model, and then
            buy no small run. ``None``: the role's (off: with 4-10 large runs its choice was
            too noisy and hurt ``unrelated``; on for ``ScaleUpOptimizer``, where it cut
            ``unrelated``'s regret from 1.55 to 0.40).
        final_acq_func: Acquisition of the last proposal of a large-scale run of known
            length (``LargeScaleOptimizer``, ``Engine.run``). ``"PM"``: the posterior
            mean's maximizer, the model's best guess (won 72 and lost 32 of 180 seed
            pairs); ``None``: the run's acquisition.
        exploit_noise_floor: Exploiting choices (``"PM"``, :meth:`Engine.recommend`) use the
            chosen model refitted with this lower bound on its noise instead of
            BoTorch's 1e-4 (Forrester 4.7e-06 against 5.8e-05, 19/0/1 seeds); ``None``: the
            exploring model.
        exploit_interpolate: Pin that refit's noise at 1e-9 when its data show no noise
            (by an information criterion), so it interpolates the runs.
        exploit_large_alone: Exploit with the large runs' own GP when it interpolates them
            and the refit that uses the small scale cannot. ``None``: the role's (on for
            ``ScaleUpOptimizer``: Forrester 2.2e-05 to 9.4e-10, 11/9/0 seeds).
        scale_chooser: How ``ScaleUpOptimizer`` chooses the scale of each run: a callable
            ``(context) -> scale or (params, scale) or None`` (a
            :class:`~scaleup_bo.cost.ScaleChoiceContext`: the affordable ``costs``, the
            ``history``, the step's ``model()``; ``None``: the cheapest), or ``None`` for
            :class:`~scaleup_bo.cost.InformationPerCost` (information about the large
            optimum per unit of cost).
        num_restarts: Gradient restarts of the acquisition optimizer (BoTorch's usual 10;
            halved with ``raw_samples``, proposals were 2-15% faster and two of nine
            benchmark problems lost on most seeds).
        raw_samples: Random points that choose those restarts (512).
    """

    small_fidelity: float = DEFAULT_SMALL_FIDELITY
    kernel: Kernel = "linear_truncated"
    large_model: LargeModel | None = None
    surrogate: SurrogateFactory | None = None
    warm_fits: bool = True
    impute_failures: bool = True
    winsorize: bool = False
    transfer_points: int = 1
    transfer_guard: bool | None = None
    final_acq_func: str | AcquisitionBuilder | None = "PM"
    exploit_noise_floor: float | None = EXPLOIT_NOISE_FLOOR
    exploit_interpolate: bool = True
    exploit_large_alone: bool | None = None
    scale_chooser: ScaleChooser | None = None
    num_restarts: int = 10
    raw_samples: int = 512

    def __post_init__(self) -> None:
        fid = self.small_fidelity
        if isinstance(fid, bool) or not isinstance(fid, numbers.Real):
            raise DataError(f"small_fidelity must be a number in [0, 1), got {fid!r}.")
        if not 0.0 <= float(fid) < LARGE_FIDELITY:
            raise DataError(f"small_fidelity must lie in [0, 1), got {fid!r}.")
        object.__setattr__(self, "small_fidelity", float(fid))
        if self.kernel not in KERNELS:
            raise DataError(f"kernel must be one of {KERNELS}, got {self.kernel!r}.")
        if self.large_model is not None and self.large_model not in LARGE_MODELS:
            raise DataError(f"large_model must be one of {LARGE_MODELS}, got {self.large_model!r}.")
        for name in ("warm_fits", "impute_failures", "winsorize", "exploit_interpolate"):
            check_bool(name, getattr(self, name))
        for name in ("transfer_guard", "exploit_large_alone"):
            if getattr(self, name) is not None:
                check_bool(name, getattr(self, name))
        check_count("transfer_points", self.transfer_points)
        check_count("num_restarts", self.num_restarts, minimum=1)
        check_count("raw_samples", self.raw_samples, minimum=1)
        if self.final_acq_func is not None:
            try:
                resolve_acquisition(self.final_acq_func)
            except AcquisitionError as exc:
                raise AcquisitionError(f"final_acq_func: {exc}") from None
        object.__setattr__(
            self,
            "exploit_noise_floor",
            check_noise_floor(self.exploit_noise_floor, "exploit_noise_floor"),
        )
        for name in ("surrogate", "scale_chooser"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise DataError(f"{name} must be callable or None, got {value!r}.")

    def replace(self, **changes: Any) -> Strategy:
        """A copy with ``changes`` (validated as a new strategy)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise DataError(f"Strategy has no setting {unknown[0]!r}.")
        return dataclasses.replace(self, **changes)

    def resolved(self, role: Role) -> Strategy:
        """This strategy with the role-dependent settings left at ``None`` filled in
        (``role``: ``"large"`` or ``"scale_up"``; see :data:`ROLE_DEFAULTS`)."""
        fill = {k: v for k, v in ROLE_DEFAULTS[role].items() if getattr(self, k) is None}
        return dataclasses.replace(self, **fill) if fill else self

    def to_dict(self) -> dict[str, Any]:
        """Every setting as JSON-friendly values (a callable by ``module.qualname``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, InformationPerCost):
                value = value.to_dict()
            elif callable(value):
                value = acquisition_name(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Strategy:
        """The strategy :meth:`to_dict` wrote (callables imported by their name)."""
        kwargs = dict(values)
        chooser = kwargs.get("scale_chooser")
        if isinstance(chooser, Mapping):
            kwargs["scale_chooser"] = InformationPerCost.from_dict(chooser)
        for name in ("surrogate", "scale_chooser", "final_acq_func"):
            value = kwargs.get(name)
            if isinstance(value, str) and "." in value and not _registered(value):
                kwargs[name] = _import(value)
        return cls(**kwargs)

    def differences(self, recorded: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """The settings whose recorded value (as :meth:`to_dict` wrote it) differs from
        this strategy's: ``{name: (recorded, now)}``; settings not recorded are skipped."""
        now = self.to_dict()
        return {
            k: (recorded[k], v)
            for k, v in now.items()
            if k in recorded and as_stored(recorded[k]) != as_stored(v)
        }


#: Constructor keywords that became :class:`Strategy` settings (one release of grace).
MOVED = {f.name for f in dataclasses.fields(Strategy)} - {"surrogate", "scale_chooser"}
#: Constructor keywords whose mechanism is gone, with what replaced it.
REMOVED = {
    "guard_ratio": "the guard is plain leave-one-out model selection (the large-only GP "
    "replaces the shared model when it predicts the large runs better)",
}


def from_keywords(
    strategy: Strategy | None, keywords: dict[str, Any], owner: str, *, chooser: bool = False
) -> Strategy:
    """``strategy`` (default ``Strategy()``) with the deprecated constructor keywords of
    ``owner`` applied, each with a ``DeprecationWarning`` that names its new place.

    With ``chooser``, ``large_acq_func``/``small_acq_func`` (``ScaleUpOptimizer``'s) go to
    the default scale chooser, :class:`~scaleup_bo.cost.InformationPerCost`.
    """
    if strategy is not None and not isinstance(strategy, Strategy):
        raise DataError(f"strategy must be a Strategy, got {type(strategy).__name__}.")
    strategy = strategy or Strategy()
    changes: dict[str, Any] = {}
    placement: dict[str, Any] = {}
    for key, value in keywords.items():
        if key in REMOVED:
            _warn(f"{owner}({key}=...) is deprecated and ignored: {REMOVED[key]}.")
        elif chooser and key in ("large_acq_func", "small_acq_func"):
            _warn(
                f"{owner}({key}=...) is deprecated: pass "
                f"strategy=Strategy(scale_chooser=InformationPerCost({key}=...))."
            )
            placement[key] = value
        elif key in MOVED:
            _warn(f"{owner}({key}=...) is deprecated: pass strategy=Strategy({key}=...).")
            changes[key] = value
        else:
            raise TypeError(f"{owner}() got an unexpected keyword argument {key!r}")
    if placement:
        base = strategy.scale_chooser
        if base is not None and not isinstance(base, InformationPerCost):
            raise DataError("large_acq_func/small_acq_func apply to InformationPerCost only.")
        base = base or InformationPerCost()
        changes["scale_chooser"] = dataclasses.replace(base, **placement)
    return strategy.replace(**changes) if changes else strategy


def _warn(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=4)


def _registered(name: str) -> bool:
    try:
        resolve_acquisition(name)
    except AcquisitionError:
        return False
    return True


def _import(qualname: str) -> Callable[..., Any]:
    module, _, name = qualname.rpartition(".")
    try:
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise DataError(f"cannot import {qualname!r} recorded in the strategy: {exc}") from exc
    return target
