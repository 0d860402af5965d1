from __future__ import annotations

import numpy as np

from leapscope.analysis.attribution import Attribution, deletion_auc, explain, insertion_auc, randomization_check


def test_faithfulness_scores_rank_methods(images, onnx_model):
    ig = explain(onnx_model, images, method="integrated_gradients")
    noise = Attribution(
        np.random.default_rng(0).random(images.shape).astype(np.float32), "random", ig.target, channel_axis=3
    )
    assert deletion_auc(onnx_model, images, ig).mean() < deletion_auc(onnx_model, images, noise).mean()
    assert insertion_auc(onnx_model, images, ig).mean() > insertion_auc(onnx_model, images, noise).mean()
    assert randomization_check(onnx_model, images[:6], method="saliency") < 0.5
