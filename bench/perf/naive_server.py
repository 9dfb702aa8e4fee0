"""The baseline: the usual way to serve a Keras model (FastAPI + model.predict per request).

It scores the newest window of the posted rows like rarewatch's /detect/last, with the same
network, weights and scaler, so the two servers differ only in how they run the model.
Run: python -m bench.perf.naive_server --model-dir DIR --name NAME --port PORT
"""

from __future__ import annotations

import argparse

import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from models.artifact import ModelStore
from models.network import build_network


class Body(BaseModel):
    values: list[list[float]]


def create_app(model_dir: str, name: str) -> FastAPI:
    _, spec, weights = ModelStore(model_dir).read(name)
    network = build_network(spec.network, spec.lookback, spec.n_features)
    network.set_weights(weights)
    mean, scale = np.array(spec.scaler.mean), np.array(spec.scaler.scale)
    app = FastAPI()

    @app.post("/v1/models/{model}/detect/last")
    def detect_last(model: str, body: Body) -> dict[str, object]:
        window = ((np.array(body.values[-spec.lookback :]) - mean) / scale)[None].astype("float32")
        reconstructed = network.predict(window, verbose=0)
        score = float(np.mean((reconstructed - window) ** 2))
        return {"score": score, "is_anomaly": score > spec.threshold.value}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(args.model_dir, args.name)
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, log_level="warning")


if __name__ == "__main__":
    main()
