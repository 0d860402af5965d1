"""A Tensorleap integration (code-loader's current decorators). Replace the data and the model with yours.

It runs unchanged on Tensorleap and on leapscope:

    python leap_integration.py     # code-loader's own local test
    leapscope check .              # leapscope's integration test and wiring
"""

import os

import numpy as np
from code_loader.contract.datasetclasses import PredictionTypeHandler, PreprocessResponse
from code_loader.contract.enums import DatasetMetadataType, DataStateType, LeapDataType, MetricDirection
from code_loader.contract.visualizer_classes import LeapHorizontalBar
from code_loader.inner_leap_binder.leapbinder_decorators import (
    tensorleap_custom_loss,
    tensorleap_custom_metric,
    tensorleap_custom_visualizer,
    tensorleap_gt_encoder,
    tensorleap_input_encoder,
    tensorleap_integration_test,
    tensorleap_load_model,
    tensorleap_metadata,
    tensorleap_preprocess,
)

LABELS = ["a", "b", "c"]
HERE = os.path.dirname(os.path.abspath(__file__))


def _data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=300)
    features = (rng.normal(size=(300, 4)) + labels[:, None]).astype(np.float32)
    return features, labels


@tensorleap_preprocess()
def preprocess() -> list[PreprocessResponse]:
    # Load your dataset here; `data` is handed to every encoder with the sample id.
    features, labels = _data()
    data = {"features": features, "labels": labels}
    return [
        PreprocessResponse(sample_ids=list(range(0, 200)), data=data, state=DataStateType.training, sample_id_type=int),
        PreprocessResponse(
            sample_ids=list(range(200, 300)), data=data, state=DataStateType.validation, sample_id_type=int
        ),
    ]


@tensorleap_input_encoder("features", channel_dim=-1)
def input_features(idx: int, preprocess: PreprocessResponse) -> np.ndarray:
    return preprocess.data["features"][idx]  # one sample, float32, no batch axis


@tensorleap_gt_encoder("classes")
def gt_classes(idx: int, preprocess: PreprocessResponse) -> np.ndarray:
    return np.eye(3, dtype=np.float32)[preprocess.data["labels"][idx]]


@tensorleap_metadata("sample", {"label": DatasetMetadataType.string, "norm": DatasetMetadataType.float})
def metadata_sample(idx: int, preprocess: PreprocessResponse) -> dict[str, object]:
    return {
        "label": LABELS[int(preprocess.data["labels"][idx])],
        "norm": float(np.linalg.norm(preprocess.data["features"][idx])),
    }


@tensorleap_custom_visualizer("prediction", LeapDataType.HorizontalBar)
def prediction_bars(prediction: np.ndarray) -> LeapHorizontalBar:
    return LeapHorizontalBar(prediction[0].astype(np.float32), LABELS)  # visualizers get a batch of one


@tensorleap_custom_metric("accuracy", direction=MetricDirection.Upward)
def accuracy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return (gt.argmax(-1) == prediction.argmax(-1)).astype(np.float32)  # one value per sample


@tensorleap_custom_loss("cross_entropy")
def cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return -(gt * np.log(np.clip(prediction, 1e-7, 1.0))).sum(-1).astype(np.float32)


def _write_model(path: str) -> None:
    """A least-squares softmax classifier as a 4-node ONNX graph (stands in for your trained model)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features, labels = _data()
    x = np.hstack([features[:200], np.ones((200, 1), np.float32)])
    w = np.linalg.lstsq(x, np.eye(3)[labels[:200]] * 4.0, rcond=None)[0].astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logits0"]),
            helper.make_node("Add", ["logits0", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["classes"], axis=-1),
        ],
        "classifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("classes", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w[:4], "w"), numpy_helper.from_array(w[4], "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)


@tensorleap_load_model([PredictionTypeHandler("classes", LABELS, channel_dim=-1)])
def load_model():
    import onnxruntime as ort

    path = os.path.join(HERE, "model.onnx")
    if not os.path.exists(path):
        _write_model(path)
    return ort.InferenceSession(path)


@tensorleap_integration_test()
def integration_test(idx, subset):
    features = input_features(idx, subset)  # a batch of one inside the test
    gt = gt_classes(idx, subset)
    prediction = load_model().run(None, {"features": features})[0]
    prediction_bars(prediction)
    accuracy(gt, prediction)
    cross_entropy(gt, prediction)
    metadata_sample(idx, subset)


if __name__ == "__main__":
    integration_test(0, preprocess()[0])
