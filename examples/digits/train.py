"""Train the digits CNN and export it to model.onnx and model.h5 (seconds on a CPU).

    python examples/digits/train.py

The network is trained in PyTorch on the training subset only. Its input is NHWC
(batch, 8, 8, 1) so the ONNX and the Keras model take the same arrays; the ONNX
graph transposes to NCHW inside. The Keras model (NHWC throughout) receives the
same weights, and both exports are checked against the PyTorch model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data

SEED = 0


class DigitsCNN(nn.Module):
    """conv(16) -> conv(32) -> maxpool -> dense(64) -> dense(10) -> softmax, NHWC in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return torch.softmax(self.fc2(x), dim=1)


def train(images: np.ndarray, labels: np.ndarray, epochs: int = 40) -> DigitsCNN:
    torch.manual_seed(SEED)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            probs = model(x[idx])
            loss = nn.functional.nll_loss(torch.log(probs + 1e-7), y[idx])
            loss.backward()
            opt.step()
    return model.eval()


def export_onnx(model: DigitsCNN, path: Path) -> None:
    sample = torch.zeros(1, 8, 8, 1)
    torch.onnx.export(
        model,
        (sample,),
        str(path),
        input_names=["image"],
        output_names=["classes"],
        dynamic_axes={"image": {0: "batch"}, "classes": {0: "batch"}},
        dynamo=False,
        opset_version=17,
    )


def export_keras(model: DigitsCNN, path: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    inp = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(64, activation="relu", name="fc1")(h)
    out = keras.layers.Dense(10, activation="softmax", name="classes")(h)
    km = keras.Model(inp, out, name="digits_cnn")
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    # conv: torch (out, in, kh, kw) -> keras (kh, kw, in, out)
    km.get_layer("conv1").set_weights([sd["conv1.weight"].transpose(2, 3, 1, 0), sd["conv1.bias"]])
    km.get_layer("conv2").set_weights([sd["conv2.weight"].transpose(2, 3, 1, 0), sd["conv2.bias"]])
    # torch flattens (C, H, W), keras flattens (H, W, C): reorder fc1's input rows
    w1 = sd["fc1.weight"].reshape(64, 32, 4, 4).transpose(2, 3, 1, 0).reshape(-1, 64)
    km.get_layer("fc1").set_weights([w1, sd["fc1.bias"]])
    km.get_layer("classes").set_weights([sd["fc2.weight"].T, sd["fc2.bias"]])
    km.save(str(path))


def main() -> None:
    images, labels, rows = data.load()
    model = train(images[rows["training"]], labels[rows["training"]])
    with torch.inference_mode():
        for name, idx in rows.items():
            acc = (model(torch.from_numpy(images[idx])).argmax(1).numpy() == labels[idx]).mean()
            print(f"{name:<11} accuracy {acc:.3f} ({len(idx)} samples)")
        reference = model(torch.from_numpy(images)).numpy()
    export_onnx(model, HERE / "model.onnx")
    export_keras(model, HERE / "model.h5")

    import keras
    import onnxruntime as ort

    onnx_out = ort.InferenceSession(str(HERE / "model.onnx")).run(None, {"image": images})[0]
    keras_out = np.asarray(keras.models.load_model(str(HERE / "model.h5"))(images, training=False).detach())
    print(f"max |onnx - torch| = {np.abs(onnx_out - reference).max():.2e}")
    print(f"max |keras - torch| = {np.abs(keras_out - reference).max():.2e}")
    if max(np.abs(onnx_out - reference).max(), np.abs(keras_out - reference).max()) > 1e-4:
        raise SystemExit("exported models disagree with the trained model")


if __name__ == "__main__":
    main()
