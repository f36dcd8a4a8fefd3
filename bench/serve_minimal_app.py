"""The baseline for serve_bench.py: the smallest FastAPI app that serves the same pipeline.

No validation, no metrics, no batching, no auth: load the scikit-learn pipeline, take a JSON object,
build a one-row DataFrame, call predict (and predict_proba for classifiers, which mmp also returns),
answer JSON. Whatever mmp adds on top of this is its overhead.

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
    app = FastAPI()

    @app.get("/ready")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/predict")
    def predict(record: dict[str, Any]) -> dict[str, Any]:
        frame = pd.DataFrame([record])
        value = pipeline.predict(frame)[0]
        answer: dict[str, Any] = {"prediction": value.item() if hasattr(value, "item") else value}
        if classes:
            answer["probabilities"] = dict(
                zip(map(str, classes), pipeline.predict_proba(frame)[0].tolist(), strict=True)
            )
        return answer

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
