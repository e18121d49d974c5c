"""A dataset's TFDS metadata: what the files hold with which
``tfds.builder_from_directory(path)`` reads it as it is (fastdraw.dataset.layout names and
writes them).

TensorFlow Datasets (4.9) reads a directory by three kinds of files, all made here from the
manifest and the codec, without TFDS:

- ``dataset_info.json``: a DatasetInfo proto as JSON (the bytes TFDS writes for it: keys
  sorted, indented by 2), giving the dataset's name and version, its file format
  (``tfrecord``) and, per split, its shards' lengths (``shardLengths``, the manifest's
  records per shard, whose sum TFDS gives as ``num_examples``), their bytes on disk and the
  template of their file names, ``{SPLIT}-{SHARD_X_OF_Y}``: the notebook's
  ``<split>-%05d-of-%05d`` (TFDS's own default would be ``<name>-<split>.tfrecord-...``);
  for an img dataset also the supervised keys, (image, label).
- ``features.json``: the FeaturesDict of the codec's ``tfds_features`` (indented by 4, keys
  sorted, as TFDS writes it), the connectors that parse a record.
- ``<feature>.labels.txt`` for each ClassLabel feature (``label``): its names, the bytes
  of labels.txt (TFDS reads a name a line).

TFDS reads TFRecord files uncompressed only (its TfRecordFileAdapter opens them with no
compression type), so a compressed dataset's metadata gives TFDS its info, features and
label names, and its description says how to read the records; ``as_dataset`` reads
datasets built with ``--compression none``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fastdraw.codecs import Codec
from fastdraw.codecs.tfds import class_label_names, features_dict
from fastdraw.dataset.tfrecord import tf_compression_type

VERSION = "1.0.0"  # the dataset's version as TFDS sees it (every build is its own directory)
SHARD_TEMPLATE = "{SPLIT}-{SHARD_X_OF_Y}"  # TFDS's template of the notebook's shard names
HOMEPAGE = "https://quickdraw.withgoogle.com/data"
LICENSE = ("Creative Commons Attribution 4.0 International (the Quick, Draw! dataset, made "
           "available by Google, Inc.)")


def tfds_name(name: str, kind: str) -> str:
    """The dataset's name for TFDS, ``<name>_<kind>``, made a Python identifier as TFDS's
    names are (a character other than a letter, digit or _ becomes _)."""
    text = re.sub(r"\W", "_", f"{name}_{kind}", flags=re.ASCII)
    return text if text[:1].isalpha() else f"d{text}"


def class_label_features(codec: Codec, classes: int) -> list[str]:
    """The codec's ClassLabel features, whose names each go in a file of their own."""
    return class_label_names(codec.tfds_features(classes))


def features_json(codec: Codec, classes: int) -> bytes:
    """features.json's bytes."""
    return _json(features_dict(codec.tfds_features(classes)), 4)


def dataset_info_json(manifest: Mapping[str, Any], codec: Codec,
                      split_shards: Mapping[str, list[str]], shard_bytes: Mapping[str, int]
                      ) -> bytes:
    """dataset_info.json's bytes: ``split_shards`` gives each split's shard names in order,
    ``shard_bytes`` their bytes on disk."""
    return _json(dataset_info(manifest, codec, split_shards, shard_bytes), 2)


def _json(value: Any, indent: int) -> bytes:
    return json.dumps(value, indent=indent, sort_keys=True).encode("ascii")


def dataset_info(manifest: Mapping[str, Any], codec: Codec, split_shards: Mapping[str, list[str]],
                 shard_bytes: Mapping[str, int]) -> dict[str, Any]:
    """dataset_info.json's DatasetInfo, as JSON (see the module docstring)."""
    compression = manifest["options"].get("compression", "none")
    splits = []
    for split, names in split_shards.items():
        splits.append({"filepathTemplate": SHARD_TEMPLATE, "name": split,
                       "numBytes": str(sum(shard_bytes[n] for n in names)),
                       "shardLengths": [str(manifest["shards"][n]["records"]) for n in names]})
    description = (f"Quick, Draw! drawings as {codec.kind} records: the dataset "
                   f"{manifest['name']!r} built by fastdraw "
                   f"{manifest.get('versions', {}).get('fastdraw', '')}, "
                   f"{_classes(len(manifest['classes']))}; manifest.json has its options.")
    if compression != "none":
        description += (f" Its shards are {compression}-compressed, which TFDS's tfrecord "
                        "reader does not read: read them with fastdraw.data, or with "
                        "tf.data.TFRecordDataset(builder.info.splits[split].filepaths, "
                        f"compression_type={tf_compression_type(compression)!r}) and "
                        "builder.info.features.deserialize_example.")
    info: dict[str, Any] = {
        "description": description,
        "fileFormat": "tfrecord",
        "location": {"urls": [HOMEPAGE]},
        "name": tfds_name(manifest["name"], codec.kind),
        "redistributionInfo": {"license": LICENSE},
        "splits": splits,
        "version": VERSION,
    }
    if (keys := codec.supervised_keys()) is not None:
        info["supervisedKeys"] = {"tuple": {"items": [{"featureKey": k} for k in keys]}}
    return info


def _classes(n: int) -> str:
    return f"{n} class" if n == 1 else f"{n} classes"
