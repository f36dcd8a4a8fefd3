"""Load and export trained mmp models, wherever they live.

Which model a URI means is decided by `mmp.core.model_ref` (parse once, resolve once); which MLflow
store to ask by `mmp.core.tracking`. This module only downloads the resolved model, reads its typed
metadata (`mmp.core.model_metadata`) and builds the identity every surface reports. The feature
contract travels inside the model's MLmodel metadata, so no tracking server is needed once a model
is exported.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from mmp.core.contract import FeatureContract
from mmp.core.errors import MmpError, first_line
from mmp.core.model_metadata import METADATA_KEY, ModelMetadata
from mmp.core.model_ref import MODEL_ARTIFACT, ModelRef, ModelSource, ResolvedModel
from mmp.core.quiet import quiet_libraries
from mmp.core.staged import StagedFolder, sweep_stale_partials
from mmp.core.tracking import TRACKING_HINT, TrackingStore
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METADATA_KEY",
    "MODEL_ARTIFACT",
    "LoadedModel",
    "ModelCard",
    "ModelIdentity",
    "as_resolved",
    "export_model",
    "load_model",
    "read_card",
]

ModelLike: TypeAlias = str | ModelRef | ResolvedModel
StoreLike: TypeAlias = TrackingStore | str | None


@dataclass(frozen=True)
class ModelIdentity:
    """Which model answered: shown by `/model`, echoed in every response and batch output row."""

    name: str
    version: str | None
    run_id: str | None
    model_uri: str
    resolved_uri: str
    task: str
    trained_at: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    """A ready-to-call scikit-learn pipeline with its contract, metadata and identity."""

    pipeline: Any
    contract: FeatureContract
    identity: ModelIdentity
    input_example: pd.DataFrame | None
    path: Path
    metadata: ModelMetadata | None = None


def as_store(store: StoreLike) -> TrackingStore:
    """A `TrackingStore` from a store, a bare tracking URI, or None (the environment's rule)."""
    if isinstance(store, TrackingStore):
        return store
    return TrackingStore.resolve(store)


def as_resolved(model: ModelLike, store: StoreLike = None) -> ResolvedModel:
    """Parse (if needed) and resolve (if needed) a model reference against `store`."""
    if isinstance(model, ResolvedModel):
        return model
    ref = model if isinstance(model, ModelRef) else ModelRef.parse(model)
    return ref.resolve(as_store(store))


def _download(
    resolved: ResolvedModel, store: TrackingStore, dst: Path | None = None, name: str | None = None
) -> Path:
    """The whole model folder, or only one file of it (its MLmodel, its input example) by `name`."""
    import mlflow

    if resolved.ref.kind == "folder" and name is None:
        return Path(resolved.artifact_uri)
    artifact_uri = resolved.artifact_uri if name is None else f"{resolved.artifact_uri.rstrip('/')}/{name}"
    # The resolved artifact location, never a models:/ URI: MLflow resolves those with the
    # process-wide registry URI, whatever tracking_uri is passed here.
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri,
                dst_path=str(dst) if dst else None,
                tracking_uri=store.tracking_uri,
                registry_uri=store.registry_uri,
            )
    except Exception as exc:  # noqa: BLE001 - stores raise many types
        raise MmpError(
            f"cannot load model {redact_url(resolved.uri)} from {store.display}: "
            f"{redact_url(first_line(exc))}",
            TRACKING_HINT,
        ) from None
    return Path(local)


@dataclass(frozen=True)
class ModelCard:
    """What a model is, read from its MLmodel metadata alone: no pipeline, no scikit-learn.

    Serving declares its request schema from the card before the (possibly large) pipeline is
    downloaded and unpickled; `resolved` is the exact model to load afterwards."""

    contract: FeatureContract
    identity: ModelIdentity
    input_example: pd.DataFrame | None
    resolved: ResolvedModel | None = None


def read_card(model: ModelLike, store: StoreLike = None) -> ModelCard:
    """Resolve (once) and read a model's card, downloading only its MLmodel file and input example."""
    from mlflow.models import Model

    quiet_libraries()
    tracking = as_store(store)
    resolved = as_resolved(model, tracking)
    where = redact_url(resolved.ref.uri)
    if resolved.ref.kind == "folder":
        folder = Path(resolved.artifact_uri)
    else:
        folder = _download(resolved, tracking, name="MLmodel").parent
    try:
        mlmodel = Model.load(str(folder / "MLmodel"))
    except Exception as exc:  # noqa: BLE001
        raise MmpError(f"{where} is not an MLflow model: {first_line(exc)}") from None
    meta = ModelMetadata.from_mlmodel(mlmodel.metadata, where)
    example = None
    example_file = (mlmodel.saved_input_example_info or {}).get("artifact_path")
    try:
        if example_file and not (folder / example_file).is_file():
            _download(resolved, tracking, folder, name=example_file)
        example = mlmodel.load_input_example(str(folder))
    except Exception:  # noqa: BLE001 - an example is a nicety, never a reason to fail
        example = None
    return ModelCard(meta.feature_contract, _identity(resolved, mlmodel, meta), example, resolved)


def _identity(resolved: ResolvedModel, mlmodel: Any, meta: ModelMetadata) -> ModelIdentity:
    return ModelIdentity(
        name=resolved.name or meta.recipe_name,
        version=resolved.version,
        run_id=resolved.run_id or mlmodel.run_id,
        model_uri=resolved.ref.uri,
        resolved_uri=resolved.uri,
        task=meta.feature_contract.task,
        trained_at=meta.trained_at,
        metrics=dict(meta.metrics),
    )


def load_model(model: ModelLike, store: StoreLike = None) -> LoadedModel:
    """Resolve (once), download and load a model and its contract.

    `model` is a URI, a `ModelRef` or an already `ResolvedModel` (then nothing is asked of the
    registry again); `store` a `TrackingStore`, a tracking URI, or None for the environment's rule.
    """
    import mlflow
    from mlflow.models import Model

    quiet_libraries()
    tracking = as_store(store)
    resolved = as_resolved(model, tracking)
    path = _download(resolved, tracking)
    where = redact_url(resolved.ref.uri)
    try:
        mlmodel = Model.load(str(path))
    except Exception as exc:  # noqa: BLE001
        raise MmpError(f"{where} is not an MLflow model: {first_line(exc)}") from None
    meta = ModelMetadata.from_mlmodel(mlmodel.metadata, where)
    pipeline = mlflow.sklearn.load_model(str(path))
    try:
        example = mlmodel.load_input_example(str(path))
    except Exception:  # noqa: BLE001 - an example is a nicety, never a reason to fail
        example = None
    return LoadedModel(
        pipeline, meta.feature_contract, _identity(resolved, mlmodel, meta), example, path, meta
    )


def export_model(model: ModelLike, output: str | Path, store: StoreLike = None, force: bool = False) -> Path:
    """Copy a model to a self-contained local folder that appears whole or not at all.

    The folder also records where it came from (`mmp_source.json`: registered name, version, run),
    so serving or scoring the copy reports the same identity as the registry version it was made from.
    """
    tracking = as_store(store)
    target = Path(output)
    sweep_stale_partials(target)
    occupied = target.is_file() or (target.is_dir() and any(target.iterdir()))
    if occupied and not force:
        raise MmpError(f"{target} already exists", "pass --force to replace it")
    resolved = as_resolved(model, tracking)
    with StagedFolder(target) as staged:
        local = _download(resolved, tracking, staged.path)
        if not (local / "MLmodel").is_file():
            raise MmpError(f"{redact_url(resolved.ref.uri)} is not an MLflow model (no MLmodel file)")
        if resolved.ref.kind == "folder":  # a copy of a copy: never move the source's files
            shutil.copytree(local, staged.path, dirs_exist_ok=True)
        elif local.resolve() != staged.path.resolve():
            for item in local.iterdir():
                shutil.move(str(item), staged.path / item.name)
            shutil.rmtree(local, ignore_errors=True)
        ModelSource.of(resolved).write(staged.path)
        staged.commit()
    return target
