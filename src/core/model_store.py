"""Find, load and export trained mmp models, wherever they live.

Serving and batch scoring both load through here: a run id, `runs:/...`, `models:/NAME/VERSION`,
`models:/NAME@ALIAS`, a `models:/m-...` logged-model id, or a local exported folder. The feature
contract and metrics travel inside the model's MLmodel metadata, so no tracking server is needed
once a model is exported.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.contract import FeatureContract
from mmp.core.errors import MmpError
from mmp.core.quiet import quiet_libraries
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
    import pandas as pd

METADATA_KEY = "mmp"
MODEL_ARTIFACT = "model"
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


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
    """A ready-to-call scikit-learn pipeline with its contract and identity."""

    pipeline: Any
    contract: FeatureContract
    identity: ModelIdentity
    input_example: pd.DataFrame | None
    path: Path


def resolve_uri(run_id: str | None = None, model_uri: str | None = None) -> str:
    """One model URI from `--run-id` or `--model-uri`; exactly one must be given."""
    if bool(run_id) == bool(model_uri):
        raise MmpError(
            "give exactly one of --run-id and --model-uri",
            "e.g. --run-id 3f2a... or --model-uri models:/churn@champion",
        )
    if run_id:
        return f"runs:/{run_id}/{MODEL_ARTIFACT}"
    assert model_uri is not None
    if "://" not in model_uri and ":/" not in model_uri:
        folder = Path(model_uri)
        if not (folder / "MLmodel").is_file():
            raise MmpError(
                f"no model at {model_uri}: expected a folder with an MLmodel file",
                "pass a runs:/ or models:/ URI, or a folder made by mmp export-model",
            )
        return str(folder.resolve())
    return model_uri


def version_of(uri: str) -> tuple[str | None, str | None]:
    """(registered name, version) a registry URI points at now; (None, None) for other URIs."""
    import mlflow

    alias = _ALIAS.match(uri)
    if alias:
        client = mlflow.MlflowClient()
        try:
            mv = client.get_model_version_by_alias(alias["name"], alias["alias"])
        except mlflow.exceptions.MlflowException as exc:
            raise MmpError(
                f"cannot resolve {uri}: {str(exc).splitlines()[0]}",
                "check the registered model name and alias (mlflow models list)",
            ) from None
        return alias["name"], str(mv.version)
    pinned = _VERSION.match(uri)
    if pinned:
        return pinned["name"], pinned["version"]
    return None, None


def _download(uri: str, dst: Path | None = None) -> Path:
    import mlflow

    if Path(uri).is_dir():
        return Path(uri)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst) if dst else None)
    except Exception as exc:  # noqa: BLE001 - stores raise many types
        raise MmpError(
            f"cannot load model {redact_url(uri)}: {str(exc).splitlines()[0]}",
            "check the run id / model URI and the tracking URI (--config-path or MLFLOW_TRACKING_URI)",
        ) from None
    return Path(local)


def load_model(uri: str, tracking_uri: str | None = None) -> LoadedModel:
    """Download (once) and load a model and its contract; a registry alias is pinned to its version."""
    import mlflow
    from mlflow.models import Model

    quiet_libraries()
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    registered_name, version = version_of(uri)
    pinned = f"models:/{registered_name}/{version}" if registered_name else uri
    path = _download(pinned)
    try:
        mlmodel = Model.load(str(path))
    except Exception as exc:  # noqa: BLE001
        raise MmpError(f"{uri} is not an MLflow model: {exc}") from None
    meta = (mlmodel.metadata or {}).get(METADATA_KEY)
    if not meta or "feature_contract" not in meta:
        raise MmpError(
            f"{uri} was not trained by mmp (its MLmodel has no feature contract)",
            "train it with mmp train, or serve it with mlflow models serve",
        )
    contract = FeatureContract.model_validate(meta["feature_contract"])
    pipeline = mlflow.sklearn.load_model(str(path))
    try:
        example = mlmodel.load_input_example(str(path))
    except Exception:  # noqa: BLE001 - an example is a nicety, never a reason to fail
        example = None
    identity = ModelIdentity(
        name=registered_name or meta.get("recipe_name", contract.name),
        version=version,
        run_id=mlmodel.run_id,
        model_uri=uri,
        resolved_uri=pinned,
        task=contract.task,
        trained_at=meta.get("trained_at"),
        metrics=dict(meta.get("metrics", {})),
    )
    return LoadedModel(pipeline, contract, identity, example, path)


@dataclass(frozen=True)
class ModelCard:
    """What a model is, read from its MLmodel metadata alone: no pipeline, no scikit-learn.

    Serving declares its request schema from the card before the (possibly large) pipeline is
    downloaded and unpickled."""

    contract: FeatureContract
    identity: ModelIdentity
    input_example: pd.DataFrame | None


def read_card(uri: str, tracking_uri: str | None = None) -> ModelCard:
    """The contract and identity of a model, downloading only its MLmodel file and input example."""
    import mlflow
    from mlflow.models import Model

    quiet_libraries()
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    registered_name, version = version_of(uri)
    pinned = f"models:/{registered_name}/{version}" if registered_name else uri
    base = pinned if Path(pinned).is_dir() else _storage_uri(pinned)
    folder = Path(base) if Path(base).is_dir() else _download(f"{base.rstrip('/')}/MLmodel").parent
    try:
        mlmodel = Model.load(str(folder / "MLmodel"))
    except Exception as exc:  # noqa: BLE001
        raise MmpError(f"{uri} is not an MLflow model: {exc}") from None
    meta = _mmp_metadata(mlmodel, uri)
    contract = FeatureContract.model_validate(meta["feature_contract"])
    example = None
    example_file = (mlmodel.saved_input_example_info or {}).get("artifact_path")
    try:
        if example_file and not (folder / example_file).is_file():
            _download(f"{base.rstrip('/')}/{example_file}", folder)
        example = mlmodel.load_input_example(str(folder))
    except Exception:  # noqa: BLE001 - an example is a nicety, never a reason to fail
        example = None
    return ModelCard(
        contract, _identity(mlmodel, meta, contract, uri, pinned, registered_name, version), example
    )


def _storage_uri(uri: str) -> str:
    """Where a `models:/` URI's files are (a logged-model id too), so single files can be fetched."""
    if not uri.startswith("models:/"):
        return uri
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    try:
        return str(ModelsArtifactRepository.get_underlying_uri(uri))
    except Exception as exc:  # noqa: BLE001 - stores raise many types
        raise MmpError(
            f"cannot load model {redact_url(uri)}: {(str(exc).strip().splitlines() or [''])[0]}",
            "check the run id / model URI and the tracking URI (--config-path or MLFLOW_TRACKING_URI)",
        ) from None


def _mmp_metadata(mlmodel: Any, uri: str) -> dict[str, Any]:
    meta = (mlmodel.metadata or {}).get(METADATA_KEY)
    if not meta or "feature_contract" not in meta:
        raise MmpError(
            f"{uri} was not trained by mmp (its MLmodel has no feature contract)",
            "train it with mmp train, or serve it with mlflow models serve",
        )
    return dict(meta)


def _identity(
    mlmodel: Any,
    meta: dict[str, Any],
    contract: FeatureContract,
    uri: str,
    pinned: str,
    registered_name: str | None,
    version: str | None,
) -> ModelIdentity:
    return ModelIdentity(
        name=registered_name or meta.get("recipe_name", contract.name),
        version=version,
        run_id=mlmodel.run_id,
        model_uri=uri,
        resolved_uri=pinned,
        task=contract.task,
        trained_at=meta.get("trained_at"),
        metrics=dict(meta.get("metrics", {})),
    )


def export_model(uri: str, output: str | Path, tracking_uri: str | None = None, force: bool = False) -> Path:
    """Copy a model to a self-contained local folder, atomically (a temp folder renamed at the end)."""
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    target = Path(output)
    occupied = target.is_file() or (target.is_dir() and any(target.iterdir()))
    if occupied and not force:
        raise MmpError(f"{target} already exists", "pass --force to replace it")
    registered_name, version = version_of(uri)
    pinned = f"models:/{registered_name}/{version}" if registered_name else uri
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent)).resolve()
    try:
        local = _download(pinned, staging)
        if not (local / "MLmodel").is_file():
            raise MmpError(f"{uri} is not an MLflow model (no MLmodel file)")
        if local.resolve() != staging.resolve():
            for item in local.iterdir():
                shutil.move(str(item), staging / item.name)
            shutil.rmtree(local, ignore_errors=True)
        # mkdtemp makes a private (0700) folder; an exported model is read by other users, e.g. the
        # non-root user of a container image, so give it the permissions a plain mkdir would.
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
