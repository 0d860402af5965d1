"""Attribution quality and speed.

    .venv/bin/python -m benchmarks.attribution

1. Faithfulness on examples/digits (200 test images, zero baseline, 64 steps):
   deletion / insertion AUC per method and the model-randomization rank
   correlation (Adebayo et al. 2018), next to the yardstick measured with Captum 0.9
   on a 2-conv scikit-learn-digits CNN.
2. Integrated gradients, 50 steps: samples/s and peak memory of ours vs Captum's
   ``IntegratedGradients`` with default settings, on the digits CNN and on a
   ResNet-18-shaped CNN (random weights, 3x64x64; defined here, no torchvision).
   Each contender runs in its own process; peak memory = peak RSS minus the RSS
   after loading the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"

YARDSTICK = {
    "integrated_gradients": (0.053, 0.932, None),
    "input_x_gradient": (0.054, 0.927, None),
    "smoothgrad": (0.071, 0.912, 0.071),
    "saliency": (0.363, 0.666, None),
    "gradcam": (0.477, 0.320, None),
}


def faithfulness() -> None:
    sys.path.insert(0, str(DIGITS))
    import data

    from leapscope.analysis.attribution import deletion_auc, explain, insertion_auc, randomization_check
    from leapscope.models import open_model

    images, _, rows = data.load()
    x = images[rows["test"][:200]]
    model = open_model(DIGITS / "model.onnx")
    print("1. faithfulness on examples/digits, 200 test images (deletion lower / insertion higher is better)")
    print(f"   {'method':<22} {'ours del/ins':>14} {'randomization':>14}   {'yardstick del/ins':>18} {'rand.':>6}")
    for method, (y_del, y_ins, y_rand) in YARDSTICK.items():
        attribution = explain(model, x, method=method)
        d, i = float(deletion_auc(model, x, attribution).mean()), float(insertion_auc(model, x, attribution).mean())
        rand = randomization_check(model, x[:50], method=method)
        print(
            f"   {method:<22} {d:>6.3f}/{i:<6.3f}  {rand:>13.3f}   {y_del:>8.3f}/{y_ins:<8.3f} {'' if y_rand is None else f'{y_rand:.3f}':>6}"
        )


CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.manual_seed(0)
which, model_name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from benchmarks.attribution import build_model
module, x = build_model(model_name, n)
from captum.attr import IntegratedGradients
from leapscope.analysis.attribution import explain
from leapscope.models import open_model

def run(batch):
    if which == "captum":
        target = module(torch.from_numpy(batch)).argmax(1)
        IntegratedGradients(module).attribute(torch.from_numpy(batch), target=target, n_steps=50)
    else:
        explain(open_model(module), batch, method="integrated_gradients", steps=50)

run(x[:1])  # warm-up: lazy imports and allocator pools are not the method's memory
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
run(x)
seconds = time.perf_counter() - start
print(json.dumps({"rate": n / seconds, "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024}))
"""


def build_model(name: str, n: int):
    """(torch module, (n, ...) float32 inputs) for the speed comparison."""
    import torch
    from torch import nn

    rng = np.random.default_rng(0)
    if name == "digits":
        from leapscope.models import open_model

        sys.path.insert(0, str(DIGITS))
        import data

        images, _, _ = data.load()
        return open_model(DIGITS / "model.onnx").torch_module(), np.ascontiguousarray(images[:n])

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if stride != 1 or cin != cout
                else nn.Identity()
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.down(x))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
            )
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.layers(self.stem(x)).mean(dim=(2, 3)))

    return ResNet18().eval(), rng.random((n, 3, 64, 64), dtype=np.float32)


def speed() -> None:
    print("2. integrated gradients, 50 steps: ours vs Captum IntegratedGradients (defaults), separate processes")
    for name, n in (("digits", 200), ("resnet18", 8)):
        results = {}
        for which in ("captum", "ours"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, which, name, str(n), str(ROOT)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[which] = json.loads(out.stdout.strip().splitlines()[-1])
        c, o = results["captum"], results["ours"]
        print(
            f"   {name:<9} n={n:<4} captum {c['rate']:8.1f} samples/s, peak +{c['peak_mb']:7.1f} MB | ours {o['rate']:8.1f} samples/s, "
            f"peak +{o['peak_mb']:7.1f} MB | throughput x{o['rate'] / c['rate']:.2f}, memory x{o['peak_mb'] / max(c['peak_mb'], 1e-3):.2f}"
        )


if __name__ == "__main__":
    faithfulness()
    speed()
