"""Model-layer overhead: ModelWrapper.predict / predict_with_latent vs bare onnxruntime.

    .venv/bin/python -m benchmarks.models

Same batches, same process, alternated. A bare session is what a user writes
by hand: ``onnxruntime.InferenceSession(path).run(None, feed)``. Goals: predict
>= 0.95x and predict_with_latent >= 0.9x the bare throughput.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from benchmarks._timing import interleaved
from leapscope.models import open_model

ROOT = Path(__file__).resolve().parents[1]


def _digits_batches(n: int, batch: int) -> list[np.ndarray]:
    sys.path.insert(0, str(ROOT / "examples" / "digits"))
    import data

    images, _, _ = data.load()
    reps = -(-n // len(images))
    pool = np.concatenate([images] * reps)[:n]
    return [pool[i : i + batch] for i in range(0, n, batch)]


def _magika_batches(n: int, batch: int) -> tuple[Path, list[np.ndarray]]:
    import magika

    path = Path(magika.__file__).parent / "models" / "standard_v3_3" / "model.onnx"
    rng = np.random.default_rng(0)
    dtype = ort.InferenceSession(str(path)).get_inputs()[0].type
    x = rng.integers(0, 257, size=(n, 2048)).astype(np.int32 if "int32" in dtype else np.int64)
    return path, [x[i : i + batch] for i in range(0, n, batch)]


def measure(name: str, path: Path, batches: list[np.ndarray]) -> dict[str, float]:
    bare = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = bare.get_inputs()[0].name
    wrapper = open_model(path)
    latent = [wrapper.default_latent_layer()]
    n = sum(len(b) for b in batches)
    seconds = interleaved(
        {
            "bare": lambda: [bare.run(None, {input_name: b}) for b in batches],
            "predict": lambda: [wrapper.predict([b]) for b in batches],
            "predict_with_latent": lambda: [wrapper.predict_with_latent([b], latent) for b in batches],
        }
    )
    rate = {k: n / v for k, v in seconds.items()}
    print(
        f"{name:<8} {n:>6} samples  bare {rate['bare']:>9.0f}/s  predict {rate['predict']:>9.0f}/s "
        f"(x{rate['predict'] / rate['bare']:.2f})  predict_with_latent {rate['predict_with_latent']:>9.0f}/s "
        f"(x{rate['predict_with_latent'] / rate['bare']:.2f})"
    )
    return rate


def main() -> None:
    print("ModelWrapper vs bare onnxruntime.InferenceSession.run (ratio = ours / bare; higher is better)")
    measure("digits", ROOT / "examples" / "digits" / "model.onnx", _digits_batches(20_000, 256))
    path, batches = _magika_batches(512, 64)
    measure("magika", path, batches)


if __name__ == "__main__":
    main()
