"""Tensorleap integrations written with the real code-loader API, and small real models for them.

Everything here is built in the test session: the digits data comes from scikit-learn, the models
are trained for a few steps with torch (exported to ONNX) or Keras (saved as .h5).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

LEAP_YAML = """\
projectId: ""
secretId: ""
entryFile: leap_integration.py
include:
  - leap_binder.py
  - leap_integration.py
  - helpers/data.py
pythonVersion: py311
"""

# helpers/ is a package: a sibling module other integrations may also have (name clash on purpose)
DATA_PY = """
import numpy as np
from sklearn.datasets import load_digits

def load(n):
    digits = load_digits()
    x = (digits.images[:n] / 16.0).astype(np.float32)[..., None]     # (N, 8, 8, 1)
    y = digits.target[:n]
    stats = np.stack([x.mean(axis=(1, 2, 3)), x.std(axis=(1, 2, 3))], 1).astype(np.float64)  # float64 on purpose
    return x, y, stats
"""

# Current decorator style: two inputs, dict + typed metadata, heatmap visualizer, dict metric with
# directions, a confusion-matrix metric, a custom loss, an unlabeled subset, length=N integer ids.
BINDER_PY = """
from typing import Dict, List, Union
import numpy as np
from code_loader import leap_binder
from code_loader.contract.datasetclasses import PreprocessResponse, SamplePreprocessResponse, ConfusionMatrixElement
from code_loader.contract.enums import DataStateType, LeapDataType, MetricDirection, DatasetMetadataType, ConfusionMatrixValue
from code_loader.contract.visualizer_classes import LeapImage, LeapHorizontalBar, LeapText
from code_loader.inner_leap_binder.leapbinder_decorators import (
    tensorleap_preprocess, tensorleap_unlabeled_preprocess, tensorleap_input_encoder, tensorleap_gt_encoder,
    tensorleap_metadata, tensorleap_custom_visualizer, tensorleap_custom_metric, tensorleap_custom_loss)

from helpers.data import load

X, Y, STATS = load(140)
LABELS = [str(i) for i in range(10)]


@tensorleap_preprocess()
def preprocess() -> List[PreprocessResponse]:
    leap_binder.cache_container["mean_image"] = X[:60].mean(0)
    return [
        PreprocessResponse(length=60, data={"offset": 0}, state=DataStateType.training),
        PreprocessResponse(sample_ids=[str(i) for i in range(60, 90)], data={"offset": 0}, state=DataStateType.validation, sample_id_type=str),
        PreprocessResponse(length=30, data={"offset": 90}, state=DataStateType.test),
    ]


@tensorleap_unlabeled_preprocess()
def unlabeled() -> PreprocessResponse:
    return PreprocessResponse(length=20, data={"offset": 120}, state=DataStateType.unlabeled)


def _row(idx, preprocess):
    return int(idx) + preprocess.data["offset"]


@tensorleap_input_encoder("image", channel_dim=-1)
def input_image(idx, preprocess: PreprocessResponse) -> np.ndarray:
    return X[_row(idx, preprocess)]


@tensorleap_input_encoder("stats", channel_dim=-1)
def input_stats(idx, preprocess: PreprocessResponse) -> np.ndarray:
    return STATS[_row(idx, preprocess)].astype(np.float32)


@tensorleap_gt_encoder("classes")
def gt_classes(idx, preprocess: PreprocessResponse) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[Y[_row(idx, preprocess)]]


@tensorleap_metadata("info", {"digit": DatasetMetadataType.int, "parity": DatasetMetadataType.string, "ink": DatasetMetadataType.float})
def info(idx, preprocess: PreprocessResponse) -> Dict[str, Union[int, str, float]]:
    row = _row(idx, preprocess)
    digit = int(Y[row]) if row < 120 else -1
    return {"digit": digit, "parity": "even" if digit % 2 == 0 else "odd", "ink": float(X[row].sum())}


@tensorleap_metadata("distance_from_mean")
def distance(idx, preprocess: PreprocessResponse) -> float:
    return float(np.linalg.norm(X[_row(idx, preprocess)] - leap_binder.cache_container["mean_image"]))


def image_heatmap(data: np.ndarray) -> np.ndarray:
    return data


@tensorleap_custom_visualizer("image", LeapDataType.Image, heatmap_function=image_heatmap)
def image_visualizer(data: np.ndarray) -> LeapImage:
    return LeapImage((data[0] * 255).astype(np.uint8))


@tensorleap_custom_visualizer("probabilities", LeapDataType.HorizontalBar)
def bar_visualizer(prediction: np.ndarray) -> LeapHorizontalBar:
    return LeapHorizontalBar(prediction[0], LABELS)


@tensorleap_custom_visualizer("caption", LeapDataType.Text)
def caption(prediction: np.ndarray, sample: SamplePreprocessResponse) -> LeapText:
    return LeapText([f"sample {sample.sample_ids[0]}", "predicted", str(int(prediction[0].argmax()))])


@tensorleap_custom_metric("scores", direction={"accuracy": MetricDirection.Upward, "confidence": MetricDirection.Upward})
def scores(gt: np.ndarray, prediction: np.ndarray) -> Dict[str, np.ndarray]:
    return {"accuracy": (gt.argmax(-1) == prediction.argmax(-1)).astype(np.float32),
            "confidence": prediction.max(-1).astype(np.float32)}


@tensorleap_custom_metric("confusion")
def confusion(gt: np.ndarray, prediction: np.ndarray):
    return [[ConfusionMatrixElement(str(k), ConfusionMatrixValue.Positive if g[k] == 1 else ConfusionMatrixValue.Negative,
                                    float(p[k])) for k in range(10)] for g, p in zip(gt, prediction)]


@tensorleap_custom_loss("ce")
def ce(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return -(gt * np.log(np.clip(prediction, 1e-7, 1.0))).sum(-1).astype(np.float32)
"""

ENTRY_ONNX = """
import os
import onnxruntime as ort
from code_loader.contract.datasetclasses import PredictionTypeHandler
from code_loader.inner_leap_binder.leapbinder_decorators import tensorleap_load_model, tensorleap_integration_test
from code_loader.contract.datasetclasses import SamplePreprocessResponse
import numpy as np

from leap_binder import (preprocess, input_image, input_stats, gt_classes, info, distance, image_visualizer,
                         bar_visualizer, caption, scores, confusion, ce, LABELS)


@tensorleap_load_model([PredictionTypeHandler("classes", LABELS, channel_dim=-1)])
def load_model():
    return ort.InferenceSession(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"))


@tensorleap_integration_test()
def integration_test(idx, subset):
    image = input_image(idx, subset)
    stats = input_stats(idx, subset)
    gt = gt_classes(idx, subset)
    model = load_model()
    prediction = model.run(None, {"image": image, "stats": stats})[0]
    image_visualizer(image)
    bar_visualizer(prediction)
    caption(prediction, SamplePreprocessResponse(np.array([idx]), subset))
    scores(gt, prediction)
    confusion(gt, prediction)
    ce(gt, prediction)
    info(idx, subset)
    distance(idx, subset)


if __name__ == "__main__":
    integration_test(0, preprocess()[0])
"""


def train_digits_mlp(n: int = 140, steps: int = 150):
    """A small torch MLP on (image (B, 8, 8, 1), stats (B, 2)) -> softmax (B, 10), trained a few steps."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images[:n] / 16.0, dtype=torch.float32)[..., None]
    s = torch.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))], 1)
    y = torch.tensor(digits.target[:n])

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = torch.nn.Linear(66, 32)
            self.out = torch.nn.Linear(32, 10)

        def forward(self, image: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.hidden(torch.cat([image.flatten(1), stats], 1)))
            return torch.softmax(self.out(h), -1)

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.nll_loss(torch.log(net(x, s) + 1e-7), y)
        loss.backward()
        opt.step()
    return net.eval()


def export_onnx(net, path: Path) -> Path:
    import torch

    torch.onnx.export(
        net,
        (torch.zeros(1, 8, 8, 1), torch.zeros(1, 2)),
        str(path),
        input_names=["image", "stats"],
        output_names=["classes"],
        dynamic_axes={"image": {0: "b"}, "stats": {0: "b"}, "classes": {0: "b"}},
        dynamo=False,
    )
    return path


def write_decorator_onnx(folder: Path, onnx_model: Path) -> Path:
    """The decorator-style ONNX integration in ``folder`` (model copied next to it)."""
    folder.mkdir(parents=True)
    (folder / "leap.yaml").write_text(LEAP_YAML)
    (folder / "helpers").mkdir()
    (folder / "helpers" / "__init__.py").write_text("")
    (folder / "helpers" / "data.py").write_text(textwrap.dedent(DATA_PY))
    (folder / "leap_binder.py").write_text(textwrap.dedent(BINDER_PY))
    (folder / "leap_integration.py").write_text(textwrap.dedent(ENTRY_ONNX))
    (folder / "model.onnx").write_bytes(onnx_model.read_bytes())
    (folder / "requirements.txt").write_text("code-loader==1.0.214\nonnxruntime\nscikit-learn\n")
    return folder


def digits_arrays(n: int = 140) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images[:n] / 16.0).astype(np.float32)[..., None], digits.target[:n]


# The older style: leap_binder.set_* at import time, no load_model, the wiring in leap_mapping.yaml.
OLD_BINDER_PY = """
import numpy as np
from sklearn.datasets import load_digits
from code_loader import leap_binder
from code_loader.contract.datasetclasses import PreprocessResponse
from code_loader.contract.enums import LeapDataType, MetricDirection
from code_loader.contract.visualizer_classes import LeapHorizontalBar, LeapImage

DIGITS = load_digits()
X = DIGITS.images[:140] / 16.0            # float64: code-loader casts, leapscope warns and casts
Y = DIGITS.target[:140]
LABELS = [str(i) for i in range(10)]


def preprocess():
    train = PreprocessResponse(length=50, data={"offset": 0})
    val = PreprocessResponse(length=25, data={"offset": 50})       # states by position, as code-loader does
    return [train, val]


def image(idx, preprocess):
    return X[idx + preprocess.data["offset"]][..., None]


def stats(idx, preprocess):
    x = X[idx + preprocess.data["offset"]]
    return np.array([x.mean(), x.std()])


def classes(idx, preprocess):
    return np.eye(10)[Y[idx + preprocess.data["offset"]]]


def digit(idx, preprocess):
    return int(Y[idx + preprocess.data["offset"]])


def image_vis(data: np.ndarray) -> LeapImage:           # older visualizers get one unbatched sample
    return LeapImage((data * 255).astype(np.float32))


def bars(data: np.ndarray) -> LeapHorizontalBar:
    return LeapHorizontalBar(data.astype(np.float32), LABELS)


def accuracy(ground_truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return (ground_truth.argmax(-1) == prediction.argmax(-1)).astype(np.float32)


leap_binder.set_preprocess(preprocess)
leap_binder.set_input(image, "image")
leap_binder.set_input(stats, "stats")
leap_binder.set_ground_truth(classes, "classes")
leap_binder.set_metadata(digit, "digit")
leap_binder.set_visualizer(image_vis, "image_vis", LeapDataType.Image)
leap_binder.set_visualizer(bars, "bars", LeapDataType.HorizontalBar)
leap_binder.add_custom_metric(accuracy, "accuracy", MetricDirection.Upward)
leap_binder.add_prediction("classes", LABELS)
"""

OLD_MAPPING = """\
decorators:
  - operation: Input
    data: {type: Input, output_name: image}
    id: '1'
    inputs: {}
    outputs:
      image:
        - {inputKey: input, operation: Flatten, name: flatten, id: '100'}
        - {inputKey: data, operation: Visualizer, id: '4'}
  - operation: Input
    data: {type: Input, output_name: stats}
    id: '2'
    inputs: {}
    outputs:
      stats:
        - {inputKey: input, operation: Concatenate, name: concat, id: '101'}
  - operation: GroundTruth
    data: {type: GroundTruth, output_name: classes}
    id: '3'
    inputs: {}
    outputs:
      classes:
        - {inputKey: ground_truth, operation: CategoricalCrossentropy, id: '7'}
  - operation: Visualizer
    data: {type: Visualizer, name: image_vis, visualizer_name: image_vis, visualizer_type: Image, arg_names: [data], user_unique_name: image_vis}
    id: '4'
    inputs:
      data:
        - {outputKey: image, operation: Input, id: '1'}
    outputs: {}
  - operation: Visualizer
    data: {type: Visualizer, name: bars, visualizer_name: bars, visualizer_type: HorizontalBar, arg_names: [data], user_unique_name: bars_prediction}
    id: '5'
    inputs:
      data:
        - {outputKey: feature_map, operation: Dense, name: dense, id: '10'}
    outputs: {}
  - operation: Visualizer
    data: {type: Visualizer, name: bars, visualizer_name: bars, visualizer_type: HorizontalBar, arg_names: [data], user_unique_name: bars_gt}
    id: '6'
    inputs:
      data:
        - {outputKey: classes, operation: GroundTruth, id: '3'}
    outputs: {}
  - operation: CategoricalCrossentropy
    data: {type: Loss}
    id: '7'
    inputs:
      prediction:
        - {outputKey: feature_map, operation: Dense, name: dense, id: '10'}
      ground_truth:
        - {outputKey: classes, operation: GroundTruth, id: '3'}
    outputs: {}
  - operation: Metric
    data: {type: Metric, name: accuracy, metric_name: accuracy, arg_names: [ground_truth, prediction], user_unique_name: accuracy}
    id: '8'
    inputs:
      prediction:
        - {outputKey: feature_map, operation: Dense, name: dense, id: '10'}
      ground_truth:
        - {outputKey: classes, operation: GroundTruth, id: '3'}
    outputs: {}
  - operation: Metric
    data: {type: Metric, name: ConfusionMatrixClassification, metric_name: ConfusionMatrixClassification, arg_names: [ground_truth, prediction], user_unique_name: ConfusionMatrixClassification}
    id: '9'
    inputs:
      prediction:
        - {outputKey: feature_map, operation: Dense, name: dense, id: '10'}
      ground_truth:
        - {outputKey: classes, operation: GroundTruth, id: '3'}
    outputs: {}
layers:
  - operation: Dense
    data: {prediction_type: classes}
    name: dense
    id: '10'
"""


def write_old_style(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "leap.yaml").write_text(
        "entryFile: leap_binder.py\ninclude:\n  - leap_binder.py\n  - leap_mapping.yaml\n"
    )
    (folder / "leap_binder.py").write_text(textwrap.dedent(OLD_BINDER_PY))
    (folder / "leap_mapping.yaml").write_text(OLD_MAPPING)
    return folder


ENTRY_KERAS = """
import os
import numpy as np
import tensorflow as tf
from code_loader.contract.datasetclasses import PredictionTypeHandler, SamplePreprocessResponse
from code_loader.inner_leap_binder.leapbinder_decorators import tensorleap_load_model, tensorleap_integration_test

from leap_binder import (preprocess, input_image, input_stats, gt_classes, info, distance, image_visualizer,
                         bar_visualizer, caption, scores, confusion, ce, LABELS)


@tensorleap_load_model([PredictionTypeHandler("classes", LABELS)])
def load_model():
    return tf.keras.models.load_model(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.h5"))


@tensorleap_integration_test()
def integration_test(idx, subset):
    image = input_image(idx, subset)
    stats = input_stats(idx, subset)
    gt = gt_classes(idx, subset)
    prediction = load_model()([image, stats])
    image_visualizer(image)
    bar_visualizer(prediction)
    caption(prediction, SamplePreprocessResponse(np.array([idx]), subset))
    scores(gt, prediction)
    ce(gt, prediction)


if __name__ == "__main__":
    integration_test(0, preprocess()[0])
"""


def save_keras_h5(path: Path) -> Path:
    """A two-input Keras model (Keras 3 on torch), fitted for a few short epochs, saved as .h5.

    It is compiled with a custom loss, so loading it with ``compile=True`` (the default of
    ``tf.keras.models.load_model``) fails without that function; leapscope retries with compile=False.
    """
    from leapscope.models._keras import import_keras

    keras = import_keras()
    x, y = digits_arrays()
    stats = np.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))], 1).astype(np.float32)
    image = keras.Input((8, 8, 1), name="image")
    st = keras.Input((2,), name="stats")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(image), st])
    h = keras.layers.Dense(32, activation="relu")(h)
    out = keras.layers.Dense(10, activation="softmax", name="classes")(h)
    model = keras.Model([image, st], out)

    def smoothed_ce(y_true, y_pred):  # a custom loss saved with the model: tf.keras files often have one
        return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.1)

    model.compile("adam", smoothed_ce)
    model.fit([x, stats], np.eye(10)[y], epochs=3, batch_size=32, verbose=0)
    model.save(str(path))
    return path


def write_decorator_keras(folder: Path, h5: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "leap.yaml").write_text(LEAP_YAML)
    (folder / "helpers").mkdir()
    (folder / "helpers" / "__init__.py").write_text("")
    (folder / "helpers" / "data.py").write_text(textwrap.dedent(DATA_PY))
    (folder / "leap_binder.py").write_text(textwrap.dedent(BINDER_PY))
    (folder / "leap_integration.py").write_text(textwrap.dedent(ENTRY_KERAS))
    (folder / "model.h5").write_bytes(h5.read_bytes())
    return folder


# Text: a whitespace tokenizer, an ONNX model with two int64 inputs (input_ids, attention_mask);
# the encoders return float32 as code-loader's decorators require, code-loader casts to int64.
TEXT_PY = """
from typing import Dict, List
import numpy as np
from code_loader.contract.datasetclasses import PreprocessResponse, PredictionTypeHandler
from code_loader.contract.enums import DataStateType, LeapDataType, MetricDirection
from code_loader.contract.visualizer_classes import LeapText, LeapTextMask
from code_loader.inner_leap_binder.leapbinder_decorators import (
    tensorleap_preprocess, tensorleap_input_encoder, tensorleap_gt_encoder, tensorleap_metadata,
    tensorleap_custom_visualizer, tensorleap_custom_metric, tensorleap_custom_loss, tensorleap_load_model,
    tensorleap_integration_test)
import onnxruntime as ort
import os

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "was", "very", "plot", "acting"]
VOCAB = {w: i + 2 for i, w in enumerate(WORDS)}  # 0 = padding, 1 = unknown
MAX_LEN = 8


class Tokenizer:
    def __call__(self, text):
        ids = [VOCAB.get(w, 1) for w in text.split()][:MAX_LEN]
        mask = [1] * len(ids)
        pad = MAX_LEN - len(ids)
        return {"input_ids": ids + [0] * pad, "attention_mask": mask + [0] * pad}


TOKENIZER = Tokenizer()


def sentences(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        word = rng.choice(WORDS[:3] if label else WORDS[3:6])
        filler = list(rng.choice(WORDS[6:], size=int(rng.integers(2, 6))))
        out.append((" ".join(filler + [word]), label))
    return out


@tensorleap_preprocess()
def preprocess() -> List[PreprocessResponse]:
    return [PreprocessResponse(length=40, data={"rows": sentences(40, 0)}, state=DataStateType.training),
            PreprocessResponse(length=20, data={"rows": sentences(20, 1)}, state=DataStateType.validation)]


@tensorleap_input_encoder("input_ids", channel_dim=-1)
def input_ids(idx, preprocess: PreprocessResponse) -> np.ndarray:
    return np.array(TOKENIZER(preprocess.data["rows"][idx][0])["input_ids"], dtype=np.float32)


@tensorleap_input_encoder("attention_mask", channel_dim=-1)
def attention_mask(idx, preprocess: PreprocessResponse) -> np.ndarray:
    return np.array(TOKENIZER(preprocess.data["rows"][idx][0])["attention_mask"], dtype=np.float32)


@tensorleap_gt_encoder("sentiment")
def gt(idx, preprocess: PreprocessResponse) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[preprocess.data["rows"][idx][1]]


@tensorleap_metadata("text")
def text_meta(idx, preprocess: PreprocessResponse) -> Dict[str, object]:
    text = preprocess.data["rows"][idx][0]
    return {"words": len(text.split()), "has_very": "very" in text}


@tensorleap_custom_visualizer("tokens", LeapDataType.Text)
def tokens(input_ids: np.ndarray) -> LeapText:
    inverse = {v: k for k, v in VOCAB.items()}
    return LeapText([inverse.get(int(i), "[UNK]") for i in input_ids[0] if int(i) != 0])


@tensorleap_custom_visualizer("token_mask", LeapDataType.TextMask)
def token_mask(input_ids: np.ndarray, attention_mask: np.ndarray) -> LeapTextMask:
    inverse = {v: k for k, v in VOCAB.items()}
    words = [inverse.get(int(i), "[PAD]") for i in input_ids[0]]
    return LeapTextMask(attention_mask[0].astype(np.uint8), words, ["pad", "token"])


@tensorleap_custom_metric("accuracy", direction=MetricDirection.Upward)
def accuracy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return (gt.argmax(-1) == prediction.argmax(-1)).astype(np.float32)


@tensorleap_custom_loss("ce")
def ce(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return -(gt * np.log(np.clip(prediction, 1e-7, 1.0))).sum(-1)


@tensorleap_load_model([PredictionTypeHandler("sentiment", ["negative", "positive"], channel_dim=-1)])
def load_model():
    return ort.InferenceSession(os.path.join(os.path.dirname(os.path.abspath(__file__)), "text.onnx"))


@tensorleap_integration_test()
def integration_test(idx, subset):
    ids = input_ids(idx, subset)
    mask = attention_mask(idx, subset)
    label = gt(idx, subset)
    model = load_model()
    prediction = model.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    tokens(ids)
    token_mask(ids, mask)
    accuracy(label, prediction)
    ce(label, prediction)
    text_meta(idx, subset)


if __name__ == "__main__":
    integration_test(0, preprocess()[0])
"""


def export_text_onnx(path: Path) -> Path:
    """Embedding -> masked mean -> linear -> softmax, int64 (B, 8) inputs, trained a few steps."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(20, 8)
            self.out = torch.nn.Linear(8, 2)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            mask = attention_mask.unsqueeze(-1).to(torch.float32)
            pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return torch.softmax(self.out(pooled), -1)

    torch.manual_seed(0)
    net = Net()
    ids = torch.randint(2, 14, (64, 8))
    label = (ids < 5).any(1).long()  # the sentiment words are ids 2..7
    mask = torch.ones_like(ids)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.nll_loss(torch.log(net(ids, mask) + 1e-7), label).backward()
        opt.step()
    torch.onnx.export(
        net.eval(),
        (ids[:1], mask[:1]),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["sentiment"],
        dynamic_axes={"input_ids": {0: "b"}, "attention_mask": {0: "b"}, "sentiment": {0: "b"}},
        dynamo=False,
    )
    return path


def write_text(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "leap_integration.py").write_text(textwrap.dedent(TEXT_PY))  # no leap.yaml: found by its import
    export_text_onnx(folder / "text.onnx")
    return folder
