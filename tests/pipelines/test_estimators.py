"""Any scikit-learn-API estimator trains: clustering, LightGBM, XGBoost (string labels included)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mmp.pipelines.train import train
from mmp.recipe.loader import load_config, load_recipe
from tests.conftest import DATA

FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "worst_area"]


def recipe(tmp_path: Path, name: str, task: str, class_path: str, hyper: dict, **data: object) -> Path:
    tree = {
        "name": name,
        "task": task,
        "model": {"class_path": class_path, "hyperparameters": hyper},
        "data": {
            "source": str(DATA / "breast_cancer.csv"),
            "data_interface": {"entity_columns": ["patient_id"], **data},
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def test_clustering_trains_with_silhouette(tmp_path: Path, mlflow_store: tuple[str, Path]) -> None:
    path = recipe(
        tmp_path,
        "km",
        "clustering",
        "sklearn.cluster.KMeans",
        {"n_clusters": 3, "n_init": 5},
        feature_columns=FEATURES,
    )
    result = train(load_recipe(path), load_config(mlflow_store[1]))
    assert set(result.metrics) == {"val_silhouette", "test_silhouette"}
    assert 0 < result.metrics["test_silhouette"] < 1


@pytest.mark.parametrize(
    ("class_path", "hyper"),
    [
        ("lightgbm.LGBMClassifier", {"n_estimators": 30, "verbose": -1}),
        ("xgboost.XGBClassifier", {"n_estimators": 30}),
    ],
)
def test_boosting_classifiers_with_string_labels(
    tmp_path: Path, mlflow_store: tuple[str, Path], class_path: str, hyper: dict
) -> None:
    import mlflow

    path = recipe(tmp_path, "boost", "classification", class_path, hyper, target_column="diagnosis")
    result = train(load_recipe(path), load_config(mlflow_store[1]))
    assert result.metrics["test_accuracy"] > 0.9
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=result.model_uri, dst_path=str(tmp_path / "model")
    )
    pins = Path(local, "requirements.txt").read_text()
    assert class_path.split(".")[0] in pins
    script = textwrap.dedent(
        f"""
        import sys, json
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "mmp" or name.startswith("mmp."):
                    raise ImportError("no mmp here")
        sys.meta_path.insert(0, Block())
        import mlflow, pandas as pd
        model = mlflow.pyfunc.load_model({local!r})
        frame = pd.read_csv({str(DATA / "breast_cancer.csv")!r}).head(10)
        print(json.dumps(list(map(str, model.predict(frame.drop(columns=["patient_id", "diagnosis"]))))))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(json.loads(done.stdout.splitlines()[-1])) <= {"benign", "malignant"}
