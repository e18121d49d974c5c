"""TensorFlow's RNN tutorial for drawing classification (tensorflow/models,
tutorials/rnn/quickdraw, Apache-2.0), the parts the ink kind is tested and benchmarked
against, ported to Python 3 and TensorFlow 2 with the changes that forces only:

- `parse_line` (create_dataset.py): one ndjson line to its ink and class name, the same
  numpy float32 steps in the same order;
- `make_example`: the Example its ``convert_data`` writes for one line (class_index, ink,
  shape);
- `input_fn` (train_model.py's ``get_input_fn`` in EVAL mode): ``tf.io.parse_single_example``
  with its feature spec over ``tf.data.TFRecordDataset`` and ``padded_batch``
  (``tf.VarLenFeature`` / ``tf.parse_single_example`` / ``tf.sparse_tensor_to_dense`` /
  ``dataset.output_shapes`` / ``make_one_shot_iterator`` are their TensorFlow 2
  equivalents; files are listed in order, and EVAL mode's ``repeat()`` is left out so that a
  test reads each record once);
- `num_classes` (train_model.py's ``get_num_classes``): the lines of the classes file.
"""

from __future__ import annotations

import functools
import json

import numpy as np


def parse_line(ndjson_line):
    """Parse an ndjson line and return ink (as np array) and classname."""
    sample = json.loads(ndjson_line)
    class_name = sample["word"]
    if not class_name:
        print("Empty classname")
        return None, None
    inkarray = sample["drawing"]
    stroke_lengths = [len(stroke[0]) for stroke in inkarray]
    total_points = sum(stroke_lengths)
    np_ink = np.zeros((total_points, 3), dtype=np.float32)
    current_t = 0
    if not inkarray:
        print("Empty inkarray")
        return None, None
    for stroke in inkarray:
        if len(stroke[0]) != len(stroke[1]):
            print("Inconsistent number of x and y coordinates.")
            return None, None
        for i in [0, 1]:
            np_ink[current_t:(current_t + len(stroke[0])), i] = stroke[i]
        current_t += len(stroke[0])
        np_ink[current_t - 1, 2] = 1  # stroke_end
    # Preprocessing.
    # 1. Size normalization.
    lower = np.min(np_ink[:, 0:2], axis=0)
    upper = np.max(np_ink[:, 0:2], axis=0)
    scale = upper - lower
    scale[scale == 0] = 1
    np_ink[:, 0:2] = (np_ink[:, 0:2] - lower) / scale
    # 2. Compute deltas.
    np_ink[1:, 0:2] -= np_ink[0:-1, 0:2]
    np_ink = np_ink[1:, :]
    return np_ink, class_name


def make_example(class_index, ink):
    """The tf.train.Example convert_data writes for a parsed line."""
    import tensorflow as tf

    features = {}
    features["class_index"] = tf.train.Feature(int64_list=tf.train.Int64List(
        value=[class_index]))
    features["ink"] = tf.train.Feature(float_list=tf.train.FloatList(value=ink.flatten()))
    features["shape"] = tf.train.Feature(int64_list=tf.train.Int64List(value=ink.shape))
    f = tf.train.Features(feature=features)
    return tf.train.Example(features=f)


def num_classes(classes_file):
    with open(classes_file) as f:
        classes = [x for x in f]
    return len(classes)


def input_fn(tfrecord_pattern, batch_size):
    """get_input_fn(mode=EVAL, ...)'s dataset: (features, labels) batches."""
    import tensorflow as tf

    def _parse_tfexample_fn(example_proto):
        feature_to_type = {
            "ink": tf.io.VarLenFeature(dtype=tf.float32),
            "shape": tf.io.FixedLenFeature([2], dtype=tf.int64),
            "class_index": tf.io.FixedLenFeature([1], dtype=tf.int64),
        }
        parsed_features = tf.io.parse_single_example(example_proto, feature_to_type)
        labels = parsed_features["class_index"]
        parsed_features["ink"] = tf.sparse.to_dense(parsed_features["ink"])
        return parsed_features, labels

    dataset = tf.data.TFRecordDataset.list_files(tfrecord_pattern, shuffle=False)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=10, block_length=1)
    dataset = dataset.map(functools.partial(_parse_tfexample_fn), num_parallel_calls=10)
    return dataset.padded_batch(
        batch_size, padded_shapes=tf.compat.v1.data.get_output_shapes(dataset))
