"""Resolve `class_path` strings to classes and check parameters against their signatures.

A parameter the class does not accept is an error with a suggestion, never silently dropped.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from functools import cache
from typing import Any

from mmp.core.suggest import did_you_mean

# Packages that come with an extra: an import failure names the extra to install.
EXTRA_FOR_PACKAGE = {"lightgbm": "boost", "xgboost": "boost", "catboost": "boost", "optuna": "tune"}

# Short names for the preprocessing steps recipes use most, with the defaults mmp applies on top
# of scikit-learn's (any explicit parameter overrides them).
TRANSFORMERS: dict[str, tuple[str, dict[str, Any]]] = {
    "simple_imputer": ("sklearn.impute.SimpleImputer", {}),
    "knn_imputer": ("sklearn.impute.KNNImputer", {}),
    "standard_scaler": ("sklearn.preprocessing.StandardScaler", {}),
    "min_max_scaler": ("sklearn.preprocessing.MinMaxScaler", {}),
    "robust_scaler": ("sklearn.preprocessing.RobustScaler", {}),
    "max_abs_scaler": ("sklearn.preprocessing.MaxAbsScaler", {}),
    "power_transformer": ("sklearn.preprocessing.PowerTransformer", {}),
    "quantile_transformer": ("sklearn.preprocessing.QuantileTransformer", {}),
    "kbins_discretizer": ("sklearn.preprocessing.KBinsDiscretizer", {}),
    "one_hot_encoder": (
        "sklearn.preprocessing.OneHotEncoder",
        {"handle_unknown": "infrequent_if_exist", "sparse_output": False},
    ),
    "ordinal_encoder": (
        "sklearn.preprocessing.OrdinalEncoder",
        {"handle_unknown": "use_encoded_value", "unknown_value": -1, "encoded_missing_value": -1},
    ),
    "target_encoder": ("sklearn.preprocessing.TargetEncoder", {}),
}


@cache
def import_class(class_path: str) -> type:
    """Import `package.module.Class`; raise ValueError with the fix (extra to install, typo)."""
    module_name, _, class_name = class_path.rpartition(".")
    if not module_name:
        raise ValueError(f"'{class_path}' is not a class path (expected package.module.ClassName)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        top = module_name.split(".")[0]
        extra = EXTRA_FOR_PACKAGE.get(top)
        if extra and exc.name and exc.name.split(".")[0] == top:
            from mmp.core.installation import installation

            raise ValueError(
                f"cannot import '{class_path}': {top} is not installed "
                f"(fix: {installation().install_extra(extra)})"
            ) from None
        raise ValueError(f"cannot import module '{module_name}': {exc}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        public = [n for n in dir(module) if not n.startswith("_")]
        raise ValueError(
            f"module '{module_name}' has no class '{class_name}'{did_you_mean(class_name, public)}"
        )
    return cls


def accepted_params(cls: type) -> tuple[set[str], bool]:
    """The keyword parameters a class's constructor accepts, and whether it also takes **kwargs."""
    params = inspect.signature(cls).parameters
    names = {n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL}
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    names = {n for n in names if params[n].kind is not params[n].VAR_KEYWORD}
    if takes_kwargs:
        # Boosting libraries take **kwargs but still list their known parameters in get_params().
        # A constructor without defaults cannot be probed: keep the signature names then.
        with contextlib.suppress(Exception):
            names |= set(cls().get_params(deep=False))
    return names, takes_kwargs


def check_params(cls: type, params: dict[str, Any], values: bool = True) -> None:
    """Raise ValueError naming the first parameter the class does not accept, with a suggestion;
    with `values`, also run the class's own value checks."""
    names, takes_kwargs = accepted_params(cls)
    if takes_kwargs:
        return  # the library validates its own free-form parameters at fit time
    for key in params:
        if key not in names:
            raise ValueError(f"'{key}' is not a parameter of {cls.__name__}{did_you_mean(key, names)}")
    if values:
        check_values(cls, params)


def check_values(cls: type, params: dict[str, Any]) -> None:
    """Raise ValueError when scikit-learn's own constraints reject a value (e.g. max_depth: -1).

    scikit-learn checks values only at fit time; running its checker now moves the error from the
    middle of training to `mmp validate`. Classes without such a checker are left to their fit.
    """
    try:
        instance = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{cls.__name__} rejects these parameters: {exc}") from None
    validate = getattr(instance, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None
