"""The workshop notebook's data code, ported to Python 3 and TensorFlow 2.

This is the reference that fastdraw's fast paths are tested and benchmarked
against, so it stays as close to the notebook as the language allows.  The
only changes are the ones Python 3 / TensorFlow 2 force:

- ``print`` is a function, ``dict.iteritems()`` is ``items()``, ``it.next()``
  is ``next(it)``, ``long`` is ``int`` and ``map`` is wrapped in ``list(...)``;
- ``tf.python_io.TFRecordWriter`` is ``tf.io.TFRecordWriter``;
- ``paths.values()[0]`` is ``list(paths.values())[0]``;
- ``recognized`` is written as ``int(...)``: current protobuf refuses a bool
  in an int64 list;
- the module-level ``data_path`` global became a keyword argument of
  ``loaditer`` / ``loadn`` (default: the notebook's ``'../data'``);
- ``six.moves.urllib.request`` is ``urllib.request``, and the storage endpoint
  of ``list_bucket`` / ``retrieve`` is the module's ``STORAGE`` (the notebook's
  ``'https://storage.googleapis.com'``), so that tests can point it at a local server.

Its float math is the notebook's under NumPy >= 2 (NEP 50): the ``min * 0.95``
and ``max * 1.05`` margins are computed in float32.  Its timestamps keep the
notebook's ``time.mktime``, i.e. they depend on the local time zone; tests
run it with ``TZ=UTC``.  ``make_sharded_files`` draws its splits from the
global ``random`` module, as the notebook does: seed it to reproduce a run.
"""

import base64
import io
import itertools
import json
import os
import random
import re
import time
from urllib import request
from xml.dom import minidom

import numpy as np
from PIL import Image, ImageDraw

DATA_PATH = "../data"
STORAGE = "https://storage.googleapis.com"


def list_bucket(bucket, regexp=".*"):
    """Returns a (filtered) list of Keys in specified GCE bucket."""
    keys = []
    fh = request.urlopen("%s/%s" % (STORAGE, bucket))
    content = minidom.parseString(fh.read())
    for e in content.getElementsByTagName("Contents"):
        key = e.getElementsByTagName("Key")[0].firstChild.data
        if re.match(regexp, key):
            keys.append(key)
    return keys


def retrieve(bucket, key, filename):
    """Returns a file specified by its Key from a GCE bucket."""
    url = "%s/%s/%s" % (STORAGE, bucket, key)
    request.urlretrieve(url=url, filename=filename)


def convert(line):
    """Converts single line to JSON + converts 'drawing' to list of np.array."""
    d = json.loads(line)
    d["drawing"] = [np.array(stroke) for stroke in d["drawing"]]
    return d


def loaditer(name, unrecognized=False, data_path=DATA_PATH):
    """Returns iterable of drawings in specified file.

    Args:
      name: Name of the downloaded object (e.g. "elephant").
      unrecognized: Whether to include drawings that were not recognized
          by Google AI (i.e. the hard ones).
      data_path: Directory holding the downloaded "<name>.ndjson" files.
    """
    for line in open("%s/%s.ndjson" % (data_path, name)):
        d = convert(line)
        if d["recognized"] or unrecognized:
            yield d


def loadn(name, n, unrecognized=False, data_path=DATA_PATH):
    """Returns list of drawings.

    Args:
      name: Name of the downloaded object (e.g. "elephant").
      n: Number of drawings to load.
      unrecognized: Whether to include drawings that were not recognized
          by Google AI (i.e. the hard ones).
      data_path: Directory holding the downloaded "<name>.ndjson" files.
    """
    it = loaditer(name, unrecognized=unrecognized, data_path=data_path)
    return list(itertools.islice(it, 0, n))


def json_to_img(drawing, img_sz=64, lw=3, maximize=True):
    img = Image.new("L", (img_sz, img_sz))
    draw = ImageDraw.Draw(img)
    lines = np.array([
        stroke[0:2, i:i + 2]
        for stroke in drawing["drawing"]
        for i in range(stroke.shape[1] - 1)
    ], dtype=np.float32)
    if maximize:
        for i in range(2):
            min_, max_ = lines[:, i, :].min() * 0.95, lines[:, i, :].max() * 1.05
            lines[:, i, :] = (lines[:, i, :] - min_) / max(max_ - min_, 1)
    else:
        lines /= 1024
    for line in lines:
        draw.line(tuple(line.T.reshape((-1,)) * img_sz), fill="white", width=lw)
    return img


def showimg(img):
    from IPython import display

    if isinstance(img, np.ndarray):
        img = Image.fromarray(img, "L")
    b = io.BytesIO()
    img.convert("RGB").save(b, format="png")
    enc = base64.b64encode(b.getvalue()).decode("utf-8")
    display.display(display.HTML(
        '<img src="data:image/png;base64,%s">' % enc))


def json_to_stroke(d):
    norm = lambda x: (x - x.min()) / max(1, (x.max() - x.min()))  # noqa: E731
    xy = np.concatenate([np.array(s, dtype=np.float32) for s in d["drawing"]], axis=1)
    z = np.zeros(xy.shape[1])
    if len(d["drawing"]) > 1:
        z[np.cumsum(np.array(list(map(lambda x: x.shape[1], d["drawing"][:-1]))))] = 1
    dxy = np.diff(norm(xy))
    return np.concatenate([dxy, z.reshape((1, -1))[:, 1:]])


def make_example_img(label, drawing):
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["label"].int64_list.value.append(label)
    img_64 = np.asarray(json_to_img(drawing, img_sz=64, lw=4, maximize=True)).reshape(-1)
    example.features.feature["img_64"].int64_list.value.extend(img_64)
    example.features.feature["countrycode"].bytes_list.value.append(drawing["countrycode"].encode())
    example.features.feature["recognized"].int64_list.value.append(int(drawing["recognized"]))
    example.features.feature["word"].bytes_list.value.append(drawing["word"].encode())
    ts = drawing["timestamp"]
    ts = time.mktime(time.strptime(ts[:ts.index(".")], "%Y-%m-%d %H:%M:%S"))
    example.features.feature["timestamp"].int64_list.value.append(int(ts))
    example.features.feature["key_id"].int64_list.value.append(int(drawing["key_id"]))
    return example


def make_example_stroke(label, drawing):
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["label"].int64_list.value.append(label)
    stroke = json_to_stroke(drawing)
    example.features.feature["stroke_x"].float_list.value.extend(stroke[0, :])
    example.features.feature["stroke_y"].float_list.value.extend(stroke[1, :])
    example.features.feature["stroke_z"].float_list.value.extend(stroke[2, :])
    example.features.feature["stroke_len"].int64_list.value.append(stroke.shape[1])
    example.features.feature["countrycode"].bytes_list.value.append(drawing["countrycode"].encode())
    example.features.feature["recognized"].int64_list.value.append(int(drawing["recognized"]))
    example.features.feature["word"].bytes_list.value.append(drawing["word"].encode())
    ts = drawing["timestamp"]
    ts = time.mktime(time.strptime(ts[:ts.index(".")], "%Y-%m-%d %H:%M:%S"))
    example.features.feature["timestamp"].int64_list.value.append(int(ts))
    example.features.feature["key_id"].int64_list.value.append(int(drawing["key_id"]))
    return example


def rand_key(counts):
    """Returns a random key from "counts", using values as distribution."""
    r = random.randint(0, sum(counts.values()))
    for key, count in counts.items():
        if r > count or count == 0:
            r -= count
        else:
            counts[key] -= 1
            return key


def make_sharded_files(make_example, path, classes, iters, splits,
                       shards=10, overwrite=False, report_dt=10):
    """Create sharded files from "iters".

    Args:
      make_example: Converts object returned by elements of "iters"
          to tf.train.Example() proto.
      path: Directory that will contain recordio files.
      classes: Names of classes, will be written to "labels.txt".
      splits: Dictionary mapping filename to number of examples (of
          every class).
      shards: Number of files to be created per split.
      overwrite: Whether a pre-existing directory should be overwritten.
      report_dt: Number of seconds between status updates (0=no updates).

    Returns:
      Total number of examples written to disk (this should be equal to
      the number of classes times the sum of the number of examples of
      all the splits).
    """
    import tensorflow as tf

    assert len(iters) == len(classes)
    if not os.path.exists(path):
        os.makedirs(path)
    paths = {
        split: ["%s/%s-%05d-of-%05d" % (path, split, i, shards)
                for i in range(shards)]
        for split in splits
    }
    assert overwrite or not os.path.exists(list(paths.values())[0][0])
    writers = {
        split: [tf.io.TFRecordWriter(ps[i]) for i in range(shards)]
        for split, ps in paths.items()
    }
    t0 = time.time()
    n = sum(splits.values())
    examples = 0
    for i in range(n):
        split = rand_key(splits)
        writer = writers[split][splits[split] % shards]
        for j in range(len(classes)):
            example = make_example(j, next(iters[j]))
            writer.write(example.SerializeToString())
            examples += 1
        remaining = sum(splits.values())  # noqa: F841
        if report_dt > 0 and time.time() - t0 > report_dt:
            print("processed %d/%d (%.2f%%)" % (i, n, 100. * i / n))
            t0 = time.time()
    for split in splits:
        for writer in writers[split]:
            writer.close()
    with open("%s/labels.txt" % path, "w") as f:
        f.write("\n".join(classes))
    return examples
