from __future__ import annotations

import numpy as np
import torch

from leapscope.analysis.attribution import explain


def test_gradcam_nchw_equals_nhwc_and_a_hand_computation(images, onnx_model, keras_model):
    onnx_cam = explain(onnx_model, images, method="gradcam", layer="/Relu_1")
    keras_cam = explain(keras_model, images, method="gradcam", layer="conv2")  # conv2 includes its relu
    np.testing.assert_allclose(onnx_cam.extra["cam"], keras_cam.extra["cam"], atol=1e-4)
    np.testing.assert_allclose(onnx_cam.values, keras_cam.values, atol=1e-4)
    # by hand on the Keras model: weights = spatial mean of d score / d A over H, W (NHWC axes 1, 2)
    from leapscope.models._keras import import_keras

    keras = import_keras()
    sub = keras.Model(
        keras_model.model.inputs, [keras_model.model.get_layer("conv2").output, keras_model.model.outputs[0]]
    )
    acts, out = sub(torch.from_numpy(images), training=False)
    score = out[torch.arange(len(images)), torch.tensor(keras_cam.target)].sum()
    (grads,) = torch.autograd.grad(score, acts)
    cam = torch.relu((grads.mean(dim=(1, 2), keepdim=True) * acts).sum(dim=3)).detach().numpy()
    np.testing.assert_allclose(keras_cam.extra["cam"], cam, atol=1e-5)
    layercam = explain(keras_model, images, method="layercam", layer="conv2")
    assert layercam.values.shape == images.shape and (layercam.values >= 0).all()
