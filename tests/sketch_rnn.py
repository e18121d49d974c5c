"""sketch-rnn's data loading (magenta, magenta/models/sketch_rnn, Apache-2.0), the parts the
sketchrnn kind is tested against, ported to Python 3 with TensorFlow and the model left out:

- `load_dataset` (sketch_rnn_train.py): each ``<class>.npz`` loaded with
  ``np.load(path, encoding='latin1', allow_pickle=True)``, its train / valid / test arrays
  concatenated over the classes, ``max_seq_len`` from the longest drawing, then a
  `DataLoader` per split, normalized by the training set's scale factor (it returns the
  three loaders);
- `DataLoader` (utils.py): ``preprocess`` (drawings up to max_seq_length, offsets clamped
  to ``limit``, float32), the normalizing scale factor, ``get_batch`` / ``pad_batch`` (the
  stroke-5 batch the model is fed) without augmentation;
- `strokes_to_lines` / `lines_to_strokes` (utils.py): stroke-3 to polylines of absolute
  points and back (the benchmark's reference writer makes its stroke-3 with the latter).
"""

from __future__ import annotations

import os

import numpy as np


def strokes_to_lines(strokes):
    """Convert stroke-3 format to polyline format."""
    x = 0
    y = 0
    lines = []
    line = []
    for i in range(len(strokes)):
        if strokes[i, 2] == 1:
            x += float(strokes[i, 0])
            y += float(strokes[i, 1])
            line.append([x, y])
            lines.append(line)
            line = []
        else:
            x += float(strokes[i, 0])
            y += float(strokes[i, 1])
            line.append([x, y])
    return lines


def lines_to_strokes(lines):
    """Convert polyline format to stroke-3 format."""
    eos = 0
    strokes = [[0, 0, 0]]
    for line in lines:
        linelen = len(line)
        for i in range(linelen):
            eos = 0 if i < linelen - 1 else 1
            strokes.append([line[i][0], line[i][1], eos])
    strokes = np.array(strokes)
    strokes[1:, 0:2] -= strokes[:-1, 0:2]
    return strokes[1:, :]


def get_max_len(strokes):
    """Return the maximum length of an array of strokes."""
    max_len = 0
    for stroke in strokes:
        ml = len(stroke)
        if ml > max_len:
            max_len = ml
    return max_len


class DataLoader:
    """Class for loading data."""

    def __init__(self, strokes, batch_size=100, max_seq_length=250, scale_factor=1.0,
                 limit=1000):
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.scale_factor = scale_factor
        self.limit = limit
        self.start_stroke_token = [0, 0, 1, 0, 0]
        self.preprocess(strokes)

    def preprocess(self, strokes):
        """Remove entries from strokes having > max_seq_length points."""
        raw_data = []
        seq_len = []
        count_data = 0
        for i in range(len(strokes)):
            data = strokes[i]
            if len(data) <= (self.max_seq_length):
                count_data += 1
                data = np.minimum(data, self.limit)
                data = np.maximum(data, -self.limit)
                data = np.array(data, dtype=np.float32)
                data[:, 0:2] /= self.scale_factor
                raw_data.append(data)
                seq_len.append(len(data))
        seq_len = np.array(seq_len)
        idx = np.argsort(seq_len)
        self.strokes = []
        for i in range(len(seq_len)):
            self.strokes.append(raw_data[idx[i]])
        self.num_batches = int(count_data / self.batch_size)

    def calculate_normalizing_scale_factor(self):
        """Calculate the normalizing factor explained in appendix of sketch-rnn."""
        data = []
        for i in range(len(self.strokes)):
            if len(self.strokes[i]) > self.max_seq_length:
                continue
            for j in range(len(self.strokes[i])):
                data.append(self.strokes[i][j, 0])
                data.append(self.strokes[i][j, 1])
        data = np.array(data)
        return np.std(data)

    def normalize(self, scale_factor=None):
        """Normalize entire dataset (delta_x, delta_y) by the scaling factor."""
        if scale_factor is None:
            scale_factor = self.calculate_normalizing_scale_factor()
        self.scale_factor = scale_factor
        for i in range(len(self.strokes)):
            self.strokes[i][:, 0:2] /= self.scale_factor

    def get_batch(self, idx):
        """Get the idx'th batch from the dataset."""
        start_idx = idx * self.batch_size
        indices = list(range(start_idx, start_idx + self.batch_size))
        x_batch = [np.copy(self.strokes[i]) for i in indices]
        seq_len = np.array([len(x) for x in x_batch], dtype=int)
        return x_batch, self.pad_batch(x_batch, self.max_seq_length), seq_len

    def pad_batch(self, batch, max_len):
        """Pad the batch to be stroke-5 bigger format as described in paper."""
        result = np.zeros((self.batch_size, max_len + 1, 5), dtype=float)
        assert len(batch) == self.batch_size
        for i in range(self.batch_size):
            ln = len(batch[i])
            assert ln <= max_len
            result[i, 0:ln, 0:2] = batch[i][:, 0:2]
            result[i, 0:ln, 3] = batch[i][:, 2]
            result[i, 0:ln, 2] = 1 - result[i, 0:ln, 3]
            result[i, ln:, 4] = 1
            result[i, 1:, :] = result[i, :-1, :]
            result[i, 0, :] = 0
            result[i, 0, 2] = self.start_stroke_token[2]
            result[i, 0, 3] = self.start_stroke_token[3]
            result[i, 0, 4] = self.start_stroke_token[4]
        return result


def load_dataset(data_dir, datasets, batch_size=100):
    """Loads the .npz files, and splits the set into train/valid/test."""
    train_strokes = None
    valid_strokes = None
    test_strokes = None
    for dataset in datasets:
        data_filepath = os.path.join(data_dir, dataset)
        data = np.load(data_filepath, encoding="latin1", allow_pickle=True)
        if train_strokes is None:
            train_strokes = data["train"]
            valid_strokes = data["valid"]
            test_strokes = data["test"]
        else:
            train_strokes = np.concatenate((train_strokes, data["train"]))
            valid_strokes = np.concatenate((valid_strokes, data["valid"]))
            test_strokes = np.concatenate((test_strokes, data["test"]))
    all_strokes = np.concatenate((train_strokes, valid_strokes, test_strokes))
    max_seq_len = get_max_len(all_strokes)
    train_set = DataLoader(train_strokes, batch_size, max_seq_length=max_seq_len)
    normalizing_scale_factor = train_set.calculate_normalizing_scale_factor()
    train_set.normalize(normalizing_scale_factor)
    valid_set = DataLoader(valid_strokes, batch_size, max_seq_length=max_seq_len)
    valid_set.normalize(normalizing_scale_factor)
    test_set = DataLoader(test_strokes, batch_size, max_seq_length=max_seq_len)
    test_set.normalize(normalizing_scale_factor)
    return train_set, valid_set, test_set
