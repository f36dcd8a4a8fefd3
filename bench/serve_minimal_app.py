"""The baseline for serve_bench.py: the smallest FastAPI app that serves the same pipeline.

No validation, no metrics, no batching, no auth: load the scikit-learn pipeline (the sklearn flavor,
not pyfunc; without mmp's first step, `ConformInput`, which is validation) and call it directly:
take a JSON object (or `{"records": [...]}` on /predict/batch), build a DataFrame of the model's
input columns, call predict (and predict_proba for classifiers, which mmp also returns), answer
JSON. Whatever mmp adds on top of this is its overhead.

    python bench/serve_minimal_app.py --model-uri runs:/RUN/model --port 8001
"""

from __future__ import annotations

import argparse
from typing import Any


def build(model_uri: str) -> Any:
    import mlflow.sklearn
    import pandas as pd
    from fastapi import FastAPI

    pipeline = mlflow.sklearn.load_model(model_uri)
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    if pipeline.steps[0][0] == "conform":  # mmp's input-conformance step is validation: not the floor's
        pipeline = pipeline[1:]
    columns = list(pipeline.feature_names_in_)
    app = FastAPI()

    @app.get("/ready")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    def score(frame: pd.DataFrame) -> list[dict[str, Any]]:
        frame = frame[columns]
        values = pipeline.predict(frame).tolist()
        if not classes:
            return [{"prediction": v} for v in values]
        keys = [str(c) for c in classes]
        probabilities = pipeline.predict_proba(frame).tolist()
        return [
            {"prediction": v, "probabilities": dict(zip(keys, p, strict=True))}
            for v, p in zip(values, probabilities, strict=True)
        ]

    @app.post("/predict")
    def predict(record: dict[str, Any]) -> dict[str, Any]:
        return score(pd.DataFrame([record]))[0]

    @app.post("/predict/batch")
    def predict_batch(batch: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {"predictions": score(pd.DataFrame(batch["records"]))}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.model_uri), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
