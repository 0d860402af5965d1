from __future__ import annotations

import numpy as np
import torch

import leapscope as ls

SIZE = 16


class LeftHalf(torch.nn.Module):
    """(B, 3, 16, 16) -> (B, 1, 16, 16) probabilities; pixel (y, x) depends on input pixel (y, x) only (1x1
    convolutions), and only in the left half: the right half is a constant sigmoid(-4)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.head = torch.nn.Conv2d(4, 1, 1)
        with torch.no_grad():
            self.head.bias.fill_(2.0)
        left = torch.zeros(1, 1, SIZE, SIZE)
        left[..., : SIZE // 2] = 1.0
        self.register_buffer("left", left)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(torch.relu(self.conv(x)))
        return torch.sigmoid(z * self.left - 4.0 * (1 - self.left))


@ls.preprocess
def subsets():
    rng = np.random.default_rng(0)
    images = rng.random((12, 3, SIZE, SIZE), dtype=np.float32)
    masks = np.zeros((12, 1, SIZE, SIZE), np.float32)
    masks[:, :, 2:8, 1:6] = 1.0
    data = {"x": images, "y": masks}
    return [ls.Subset("training", list(range(8)), data), ls.Subset("validation", list(range(8, 12)), data)]


@ls.input_encoder("image", channel_dim=0)
def image(sample_id, subset):
    return subset.data["x"][sample_id]


@ls.gt_encoder("mask")
def mask(sample_id, subset):
    return subset.data["y"][sample_id]


@ls.loss("dice")
def dice(mask, text_map):
    inter = (mask * text_map).sum(axis=(1, 2, 3))
    return 1 - (2 * inter + 1) / (mask.sum(axis=(1, 2, 3)) + text_map.sum(axis=(1, 2, 3)) + 1)


binary_cross_entropy = ls.builtin_loss("binary_cross_entropy")


@ls.load_model(predictions=[ls.Prediction("text_map", labels=["text"], channel_dim=0)])
def model():
    return LeftHalf().eval()


@ls.integration_test
def test(sample_id, subset):
    x = image(sample_id, subset)
    y = mask(sample_id, subset)
    p = model()(x)
    dice(y, p)
    binary_cross_entropy(y, p)
