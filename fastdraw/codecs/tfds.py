"""How a record's features look to TensorFlow Datasets: the JSON of TFDS's feature
connectors as ``FeatureConnector.save_config`` writes it (the Feature proto as a dict, TFDS
4.9), made without TFDS.  A dataset's ``features.json`` is the FeaturesDict of its codec's
``tfds_features``; ``tfds.builder_from_directory`` rebuilds the connectors from it and
parses the records with them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_PACKAGE = "tensorflow_datasets.core.features"


def _shape(shape: Sequence[int | None]) -> dict[str, Any]:
    return {"dimensions": [str(-1 if d is None else d) for d in shape]} if shape else {}


def tensor(shape: Sequence[int | None], dtype: str, encoding: str = "none") -> dict[str, Any]:
    """``tfds.features.Tensor(shape=..., dtype=..., encoding=...)``: None is a dimension of
    any length; encoding "bytes" keeps the tensor as one bytes value of its raw data."""
    return {"pythonClassName": f"{_PACKAGE}.tensor_feature.Tensor",
            "tensor": {"shape": _shape(shape), "dtype": dtype, "encoding": encoding}}


def image(shape: Sequence[int], encoding_format: str) -> dict[str, Any]:
    """``tfds.features.Image(shape=..., encoding_format=...)`` of uint8 pixels."""
    return {"pythonClassName": f"{_PACKAGE}.image_feature.Image",
            "image": {"shape": _shape(shape), "dtype": "uint8",
                      "encodingFormat": encoding_format}}


def class_label(classes: int) -> dict[str, Any]:
    """``tfds.features.ClassLabel(num_classes=...)``: its names come from the file
    ``<feature>.labels.txt`` beside features.json."""
    return {"pythonClassName": f"{_PACKAGE}.class_label_feature.ClassLabel",
            "classLabel": {"numClasses": str(classes)}}


def text() -> dict[str, Any]:
    """``tfds.features.Text()``: one bytes value, read as a tf.string."""
    return {"pythonClassName": f"{_PACKAGE}.text_feature.Text", "text": {}}


def features_dict(features: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``tfds.features.FeaturesDict`` of these features."""
    return {"featuresDict": {"features": features},
            "pythonClassName": f"{_PACKAGE}.features_dict.FeaturesDict"}


def class_label_names(features: dict[str, dict[str, Any]]) -> list[str]:
    """The features that are class labels (each has its names in ``<name>.labels.txt``)."""
    return [name for name, f in features.items() if "classLabel" in f]
