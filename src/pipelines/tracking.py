"""MLflow plumbing for training: parameter flattening, exact requirements, git state.

Which store to use is decided by `mmp.core.tracking` (`config.mlflow.store()`), not here.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`, lists indexed, for MLflow params."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(tree, list) and tree and any(isinstance(v, dict | list) for v in tree):
        for i, value in enumerate(tree):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        out[prefix.rstrip(".")] = tree if not isinstance(tree, list) else ",".join(map(str, tree))
    return out


# Import names that differ from their distribution's name, for the estimators recipes use.
_DISTRIBUTION_OF_MODULE = {"sklearn": "scikit-learn"}


def _distribution_of(module: str) -> str | None:
    """The installed distribution that provides `module`'s top-level package.

    Tries the import name itself first (lightgbm, xgboost, catboost...): one lookup instead of
    `packages_distributions()`, which reads the file list of every installed distribution (seconds
    in a large environment). Only a package whose distribution is named differently falls back to it.
    """
    top = module.split(".")[0]
    if top in _DISTRIBUTION_OF_MODULE:
        return _DISTRIBUTION_OF_MODULE[top]
    for candidate in dict.fromkeys((top, top.replace("_", "-"))):
        try:
            dist = metadata.distribution(candidate)
        except metadata.PackageNotFoundError:
            continue
        if top in (dist.read_text("top_level.txt") or top).split():
            return str(dist.metadata["Name"])
    names = metadata.packages_distributions().get(top)
    return names[0] if names else None


def exact_requirements(objects: list[Any]) -> list[str]:
    """Pinned requirements for loading the model: scikit-learn's stack plus each estimator's package."""
    wanted = ["mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle"]
    for obj in objects:
        if obj is None:
            continue
        dist = _distribution_of(type(obj).__module__)
        if dist and dist not in wanted and dist != "mmp-toolkit":
            wanted.append(dist)
    pins = []
    for dist in wanted:
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def git_commit(cwd: Path | None = None) -> str | None:
    """The current commit (with `-dirty` when there are uncommitted changes), if in a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))
