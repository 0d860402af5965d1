"""The pretrained MNIST CNN from the `digit-recognizer-py` wheel, exported to ONNX once.

The package's __init__ imports torchvision (not installable here), so its model
class is loaded from the installed file by path, and its weights from the
`handwriting_model.pth` the wheel ships.
"""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

import leapscope as ls

PACKAGE = Path(sysconfig.get_paths()["purelib"]) / "digit_recognizer"


def cnn():
    """The package's CNN (1x28x28 -> 10 logits) with its pretrained weights, in eval mode."""
    import torch

    if not (PACKAGE / "model.py").exists():
        raise FileNotFoundError(
            f"{PACKAGE} not found; fix: pip install --no-deps digit-recognizer-py==0.1.0 (make install does)"
        )
    spec = importlib.util.spec_from_file_location("digit_recognizer_model", PACKAGE / "model.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    net = module.CNN()
    net.load_state_dict(torch.load(PACKAGE / "models" / "handwriting_model.pth", map_location="cpu", weights_only=True))
    return net.eval()


def onnx_path() -> Path:
    """Export the CNN to ONNX in the integration's cache folder (once) and return the file."""
    path = ls.cache_dir("mnist-cnn-on-uci-digits") / "mnist_cnn.onnx"
    if not path.exists():
        import torch

        tmp = path.with_suffix(".tmp")
        torch.onnx.export(
            cnn(),
            (torch.zeros(1, 1, 28, 28),),
            str(tmp),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
            opset_version=17,
        )
        tmp.replace(path)
    return path
