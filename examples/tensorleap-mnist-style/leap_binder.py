"""A Tensorleap integration (current decorator style) for a small CNN on handwritten digits.

Nothing here knows about leapscope: it is plain code-loader code, as pushed to Tensorleap.
"""

import numpy as np
from code_loader import leap_binder
from code_loader.contract.datasetclasses import ConfusionMatrixElement, PreprocessResponse
from code_loader.contract.enums import (
    ConfusionMatrixValue,
    DatasetMetadataType,
    DataStateType,
    LeapDataType,
    MetricDirection,
)
from code_loader.contract.visualizer_classes import LeapHorizontalBar, LeapImage
from code_loader.inner_leap_binder.leapbinder_decorators import (
    tensorleap_custom_loss,
    tensorleap_custom_metric,
    tensorleap_custom_visualizer,
    tensorleap_gt_encoder,
    tensorleap_input_encoder,
    tensorleap_metadata,
    tensorleap_preprocess,
)

from digits_data import load

LABELS = [str(d) for d in range(10)]


@tensorleap_preprocess()
def preprocess() -> list[PreprocessResponse]:
    images, labels, rows = load()
    leap_binder.cache_container["class_means"] = {d: images[labels == d].mean(0) for d in range(10)}
    states = {"training": DataStateType.training, "validation": DataStateType.validation, "test": DataStateType.test}
    return [
        PreprocessResponse(
            sample_ids=[str(r) for r in idx],
            data={"images": images, "labels": labels},
            state=states[name],
            sample_id_type=str,
        )
        for name, idx in rows.items()
    ]


@tensorleap_input_encoder("image", channel_dim=-1)
def input_encoder(idx: str, preprocess: PreprocessResponse) -> np.ndarray:
    return preprocess.data["images"][int(idx)]


@tensorleap_gt_encoder("classes")
def gt_encoder(idx: str, preprocess: PreprocessResponse) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[preprocess.data["labels"][int(idx)]]


@tensorleap_metadata("digit", {"label": DatasetMetadataType.string, "parity": DatasetMetadataType.string})
def metadata_digit(idx: str, preprocess: PreprocessResponse) -> dict[str, str]:
    digit = int(preprocess.data["labels"][int(idx)])
    return {"label": str(digit), "parity": "even" if digit % 2 == 0 else "odd"}


@tensorleap_metadata("stroke_density")
def metadata_stroke_density(idx: str, preprocess: PreprocessResponse) -> float:
    return float((preprocess.data["images"][int(idx)] > 0.5).mean())


@tensorleap_metadata("distance_from_class_mean")
def metadata_distance(idx: str, preprocess: PreprocessResponse) -> float:
    image = preprocess.data["images"][int(idx)]
    mean = leap_binder.cache_container["class_means"][int(preprocess.data["labels"][int(idx)])]
    return float(np.linalg.norm(image - mean))


@tensorleap_custom_visualizer("image", LeapDataType.Image)
def image_visualizer(image: np.ndarray) -> LeapImage:
    return LeapImage((image[0] * 255).astype(np.uint8))


@tensorleap_custom_visualizer("prediction", LeapDataType.HorizontalBar)
def prediction_visualizer(prediction: np.ndarray, gt: np.ndarray) -> LeapHorizontalBar:
    return LeapHorizontalBar(prediction[0].astype(np.float32), LABELS, gt=gt[0].astype(np.float32))


@tensorleap_custom_metric(
    "classification", direction={"accuracy": MetricDirection.Upward, "confidence": MetricDirection.Upward}
)
def classification(gt: np.ndarray, prediction: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "accuracy": (gt.argmax(-1) == prediction.argmax(-1)).astype(np.float32),
        "confidence": prediction.max(-1).astype(np.float32),
    }


@tensorleap_custom_metric("confusion_matrix")
def confusion_matrix(gt: np.ndarray, prediction: np.ndarray) -> list[list[ConfusionMatrixElement]]:
    return [
        [
            ConfusionMatrixElement(
                label, ConfusionMatrixValue.Positive if g[k] == 1 else ConfusionMatrixValue.Negative, float(p[k])
            )
            for k, label in enumerate(LABELS)
        ]
        for g, p in zip(gt, prediction, strict=True)
    ]


@tensorleap_custom_loss("cross_entropy")
def cross_entropy(gt: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    return -(gt * np.log(np.clip(prediction, 1e-7, 1.0))).sum(-1).astype(np.float32)
