"""Train a small MLP regressor on the training subset and export it to model.onnx (a few seconds on a CPU).

python examples/regression-diabetes/train.py

The network predicts the standardised target; the exported model ends with the inverse
affine map, so ``model.onnx`` outputs disease progression in its own units (B, 1).
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


class Unscale(nn.Module):
    """y = z * std + mean: back from the standardised target to progression units."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


def main() -> None:
    x, y, rows, _ = data.load()
    torch.manual_seed(0)
    tr = rows["training"]
    mean, std = float(y[tr].mean()), float(y[tr].std())
    net = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    xt = torch.from_numpy(x[tr])
    zt = torch.from_numpy((y[tr] - mean) / std)[:, None]
    for _ in range(150):  # few full-batch steps: more overfit the 265 training patients
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(xt), zt)
        loss.backward()
        opt.step()
    model = nn.Sequential(net, Unscale(mean, std)).eval()
    with torch.no_grad():
        for name, idx in rows.items():
            pred = model(torch.from_numpy(x[idx]))[:, 0].numpy()
            mae = np.abs(pred - y[idx]).mean()
            r2 = 1 - ((pred - y[idx]) ** 2).sum() / ((y[idx] - y[idx].mean()) ** 2).sum()
            print(f"{name:<11} MAE {mae:6.2f}  R2 {r2:.3f}")
    torch.onnx.export(
        model,
        (torch.zeros(1, 10),),
        str(HERE / "model.onnx"),
        input_names=["features"],
        output_names=["progression"],
        dynamic_axes={"features": {0: "batch"}, "progression": {0: "batch"}},
        dynamo=False,
        opset_version=17,
    )
    print("wrote", HERE / "model.onnx")


if __name__ == "__main__":
    main()
