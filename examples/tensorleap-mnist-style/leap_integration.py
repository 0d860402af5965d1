"""The model and the integration test: how Tensorleap (and leapscope) wire the functions together."""

import os

import onnxruntime as ort
from code_loader.contract.datasetclasses import PredictionTypeHandler
from code_loader.inner_leap_binder.leapbinder_decorators import tensorleap_integration_test, tensorleap_load_model

from leap_binder import (
    LABELS,
    classification,
    confusion_matrix,
    cross_entropy,
    gt_encoder,
    image_visualizer,
    input_encoder,
    metadata_digit,
    metadata_distance,
    metadata_stroke_density,
    preprocess,
    prediction_visualizer,
)


@tensorleap_load_model([PredictionTypeHandler("classes", LABELS, channel_dim=-1)])
def load_model():
    return ort.InferenceSession(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"))


@tensorleap_integration_test()
def integration_test(idx, subset):
    image = input_encoder(idx, subset)
    gt = gt_encoder(idx, subset)
    prediction = load_model().run(None, {"image": image})[0]
    image_visualizer(image)
    prediction_visualizer(prediction, gt)
    classification(gt, prediction)
    confusion_matrix(gt, prediction)
    cross_entropy(gt, prediction)
    metadata_digit(idx, subset)
    metadata_stroke_density(idx, subset)
    metadata_distance(idx, subset)


if __name__ == "__main__":  # code-loader's own local test: `python leap_integration.py`
    responses = preprocess()
    for i in range(3):
        integration_test(responses[1].sample_ids[i], responses[1])
