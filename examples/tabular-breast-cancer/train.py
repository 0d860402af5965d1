"""Train a small MLP on the training subset and export it to model.onnx (seconds on a CPU).

python examples/tabular-breast-cancer/train.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data


def main() -> None:
    x, y, _, rows, _ = data.load()
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(dim=1)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    xt, yt = torch.from_numpy(x[rows["training"]]), torch.from_numpy(y[rows["training"]])
    for _ in range(200):
        opt.zero_grad()
        loss = nn.functional.nll_loss(torch.log(model(xt) + 1e-7), yt)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for name, idx in rows.items():
            acc = (model(torch.from_numpy(x[idx])).argmax(1).numpy() == y[idx]).mean()
            print(f"{name:<11} accuracy {acc:.3f}")
    torch.onnx.export(
        model,
        (torch.zeros(1, 30),),
        str(HERE / "model.onnx"),
        input_names=["features"],
        output_names=["diagnosis"],
        dynamic_axes={"features": {0: "batch"}, "diagnosis": {0: "batch"}},
        dynamo=False,
        opset_version=17,
    )
    print("wrote", HERE / "model.onnx", np.round(float(loss), 4))


if __name__ == "__main__":
    main()
