"""The notebook's functions, same names, same arguments, same results, made fast.

`convert`, `loaditer` and `loadn` give the notebook's dicts (from orjson, strokes as
``np.array(stroke)``) with every line checked: `loaditer` logs and skips a bad line instead
of dying on it, `convert` raises BadLineError saying what is wrong.  `loaditer` and `loadn`
read a class's `.bin` file too where it has no ndjson one.  `json_to_img` draws
with the numba rasterizer (Pillow's exact pixels), `json_to_stroke` encodes with the stroke
kernel (the same bits), `make_example_img` / `make_example_stroke` write the Example bytes
with the codecs.  `showimg` shows an image as the notebook does (in a notebook) or writes a
PNG (elsewhere); `rand_key` draws as the notebook's.  TensorFlow is imported only by the
functions that return TensorFlow objects.  The bucket functions are in
fastdraw.notebook.bucket.
"""

from __future__ import annotations

import base64
import io
import itertools
import numbers
import random
import sys
import tempfile
from collections.abc import Hashable, Iterator, MutableMapping, Sequence
from itertools import accumulate
from pathlib import Path

import numpy as np
import orjson
from PIL import Image

from fastdraw.build import plan
from fastdraw.codecs.img import ImgCodec
from fastdraw.codecs.stroke import encode_stroke_examples
from fastdraw.drawings import Drawings, timestamps, utc_text
from fastdraw.errors import BadLineError
from fastdraw.kernels.raster import rasterize_arrays
from fastdraw.kernels.strokes import encode_arrays
from fastdraw.notebook import reference
from fastdraw.sources.base import Rejection, class_file, open_source, warn
from fastdraw.sources.ndjson.blocks import blocks, judge_last
from fastdraw.sources.ndjson.check import line_text, parse_line
from fastdraw.sources.ndjson.scan import scan

# --------------------------------------------------------------------------------- reading


def class_path(data_path: str | Path, name: str) -> Path:
    """``<data_path>/<name>.ndjson``, or if it does not exist the first class file of
    another suffix that does (``<name>.ndjson.gz``, ``<name>.bin``, ...)."""
    plain = Path(data_path) / f"{name}.ndjson"
    return plain if plain.exists() else class_file(data_path, name) or plain


def _arrays(obj: dict) -> dict:
    obj["drawing"] = [np.array(stroke) for stroke in obj["drawing"]]
    return obj


def convert(line: str | bytes) -> dict:
    """The notebook's convert: one line as a dict, each stroke as ``np.array(stroke)``.

    Raises BadLineError (a ValueError) saying what is wrong with a bad line.
    """
    obj, reason = parse_line(line)
    if reason:
        raise BadLineError(Rejection("<line>", 0, reason, line_text(line)))
    return _arrays(obj)


def loaditer(name: str, unrecognized: bool = False,
             data_path: str | Path = reference.DATA_PATH) -> Iterator[dict]:
    """The notebook's loaditer: the drawings of ``<data_path>/<name>.ndjson`` (or .ndjson.gz,
    or the class's .bin file) as `convert` dicts, in file order, recognized ones only unless
    ``unrecognized``.

    A bad line is logged as a warning (file, line, reason) and skipped.  The kernel checks
    each block of lines first, so only the lines it does not take go through `line_problem`.
    A .bin file's drawings have the dicts an ndjson line of them would give, their timestamp
    to the second.
    """
    path = class_path(data_path, name)
    if path.exists() and not path.name.endswith((".ndjson", ".ndjson.gz")):
        yield from _dicts(path, unrecognized)
        return
    number = 0
    for block, nbytes, end in blocks(path):
        if end is not None:
            lines, good, rec = [block], [False], [False]
        else:
            s = scan(block, nbytes, True)
            n = s.lines
            lines = block.split(b"\n")[:n]
            good, rec = s.good[:n].tolist(), s.recognized[:n].tolist()
        for raw, kernel_ok, recognized in zip(lines, good, rec):
            number += 1
            if kernel_ok:
                if recognized or unrecognized:
                    yield _arrays(orjson.loads(raw))
                continue
            obj, reason = parse_line(raw) if end is None else judge_last(raw, end)
            if reason:
                warn(Rejection(str(path), number, reason, line_text(raw)))
            elif obj["recognized"] or unrecognized:
                yield _arrays(obj)


def _dicts(path: Path, unrecognized: bool) -> Iterator[dict]:
    """`loaditer` of a class file that its `Source` reads (a .bin file)."""
    for d in open_source(path).read(unrecognized=unrecognized, on_reject=warn):
        for i in range(len(d)):
            yield {"word": d.word[i], "countrycode": d.countrycode[i],
                   "timestamp": utc_text(int(d.timestamp[i])),
                   "recognized": bool(d.recognized[i]), "key_id": str(int(d.key_id[i])),
                   "drawing": [_numbers(s) for s in d.strokes(i)]}


def _numbers(stroke: np.ndarray) -> np.ndarray:
    """A stroke as ``np.array`` makes it of the numbers a line would hold: int64 when they
    are all whole numbers."""
    whole = np.array_equal(stroke, np.trunc(stroke)) and not np.signbit(stroke[stroke == 0]).any()
    return stroke.astype(np.int64) if whole else stroke


def loadn(name: str, n: int, unrecognized: bool = False,
          data_path: str | Path = reference.DATA_PATH) -> list[dict]:
    """The notebook's loadn: the first ``n`` drawings `loaditer` yields."""
    return list(itertools.islice(loaditer(name, unrecognized, data_path), 0, n))


# --------------------------------------------------------------------------------- drawing


def json_to_img(
    drawing: dict, img_sz: int = 64, lw: int = 3, maximize: bool = True
) -> Image.Image:
    """Drop-in for the notebook's ``json_to_img``: the same 'L' image, drawn by the kernel.

    Reads only ``drawing["drawing"]``: strokes as numpy arrays or lists ``[xs, ys, ...]``.
    """
    strokes = drawing["drawing"]
    try:
        lengths = [len(stroke[0]) for stroke in strokes]
        if any(len(stroke[1]) != n for stroke, n in zip(strokes, lengths)):
            raise ValueError("a stroke's xs and ys differ in length")
        x = y = None
        if strokes and all(isinstance(s, np.ndarray) and s.ndim == 2 for s in strokes):
            try:
                x = np.concatenate([s[0] for s in strokes], dtype=np.float64)
                y = np.concatenate([s[1] for s in strokes], dtype=np.float64)
            except TypeError:
                # Object arrays (numpy's for ints beyond int64, e.g. 2**70) do not cast: they
                # go number by number below, as np.array(..., dtype=np.float32) does them.
                x = y = None
        if x is None:
            total = sum(lengths)
            x = np.fromiter(itertools.chain.from_iterable(s[0] for s in strokes), float, total)
            y = np.fromiter(itertools.chain.from_iterable(s[1] for s in strokes), float, total)
    except (TypeError, ValueError, IndexError, OverflowError) as e:
        raise ValueError(f"drawing['drawing'] must be strokes [xs, ys, ...] of numbers: {e}"
                         ) from None
    stroke_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=stroke_offsets[1:])
    img = rasterize_arrays(x, y, stroke_offsets, np.array([0, len(lengths)], dtype=np.int64),
                           img_sz, lw, maximize)
    # What Image.fromarray does for a 2-D uint8 array, without its checks.
    return Image.frombuffer("L", (img_sz, img_sz), img[0], "raw", "L", 0, 1)


# --------------------------------------------------------------------------------- showing


def _png(img: Image.Image | np.ndarray) -> bytes:
    """The notebook's PNG of an image: a numpy array read as an 'L' image, saved as RGB."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img, "L")
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="png")
    return buf.getvalue()


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's shell there has a ``kernel``); a
    terminal IPython or plain Python cannot show HTML."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def showimg(img: Image.Image | np.ndarray) -> Path | None:
    """Drop-in for the notebook's ``showimg``: in a notebook (a Jupyter kernel), displays
    the image the notebook's way, an IPython HTML ``<img>`` holding its PNG (the same
    bytes), and returns None.

    Outside a notebook there is nothing to display HTML in: the PNG is written to a new
    temporary file (``showimg-*.png`` in the system's temporary directory), its path is
    printed to stderr and returned, for any image viewer.  A numpy array is read as an 'L'
    image, as the notebook does.
    """
    data = _png(img)
    if _in_notebook():
        from IPython import display

        enc = base64.b64encode(data).decode("utf-8")
        display.display(display.HTML(f'<img src="data:image/png;base64,{enc}">'))
        return None
    with tempfile.NamedTemporaryFile(prefix="showimg-", suffix=".png", delete=False) as f:
        f.write(data)
    print(f"showimg: wrote {f.name} (not in a notebook, where it would be shown)",
          file=sys.stderr)
    return Path(f.name)


def rand_key(counts: MutableMapping[Hashable, int]) -> Hashable | None:
    """Drop-in for the notebook's ``rand_key``: a key of ``counts`` drawn with the counts as
    weights from the global ``random`` (the same draw), its count decremented; None, as the
    notebook returns, when no count is positive.

    Its arithmetic is the notebook's, slightly uneven: ``r`` is uniform in ``[0, sum]``
    inclusive and the keys are walked in dict order, so the first key with a positive
    count gets one chance more than its count.  fastdraw.build.plan replays these draws
    from a seed without touching ``random``.
    """
    return plan.rand_key(counts, random)


# --------------------------------------------------------------------------------- strokes


def xy_strokes(strokes: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Points float64 (2, n) and stroke offsets of one notebook drawing's strokes.

    Strokes are (2, n) arrays or lists.  Raises ValueError for a stroke that is not
    two equal-length rows (x, y): the raw format's third row (t) would change the
    notebook's joint normalization.
    """
    if len(strokes) == 0:
        return np.zeros((2, 0)), np.zeros(1, dtype=np.int64)
    try:
        xy = np.concatenate(strokes, axis=1).astype(np.float64, copy=False)
        offsets = np.array([0, *accumulate(len(stroke[0]) for stroke in strokes)],
                           dtype=np.int64)
    except (ValueError, TypeError, IndexError) as e:
        raise ValueError(f"strokes must be (2, n) rows x and y: {e}") from None
    if xy.ndim != 2 or xy.shape[0] != 2 or offsets[-1] != xy.shape[1]:
        raise ValueError(
            f"strokes must be (2, n) rows x and y, got points of shape {xy.shape}; "
            "pass only the x and y rows (raw drawings have a third row, t)"
        )
    return xy, offsets


def json_to_stroke(d: dict) -> np.ndarray:
    """Drop-in for the notebook's ``json_to_stroke``: the same float64 (3, n - 1) array.

    Strokes with more rows than x and y (the raw format's t) get the notebook's own
    arithmetic, which normalizes every row jointly: (4, n - 1) for raw drawings.
    """
    strokes = d["drawing"]
    if with_more_rows(strokes):
        return _notebook_rows(strokes)
    xy, stroke_offsets = xy_strokes(strokes)
    deltas, _, empty = encode_arrays(xy[0], xy[1], stroke_offsets,
                                     np.array([0, len(stroke_offsets) - 1]))
    if empty >= 0:
        raise ValueError("the drawing has no point, so it has no stroke encoding")
    return deltas.astype(np.float64)


def with_more_rows(strokes: Sequence) -> bool:
    """Whether a stroke has more rows than x and y (the raw format's t), which the notebook's
    stroke encoding normalizes with them: the batch kernel takes x and y only."""
    return any(len(stroke) > 2 for stroke in strokes)


def _notebook_rows(strokes: Sequence) -> np.ndarray:
    """The notebook's json_to_stroke, step by step, for strokes of any number of rows."""
    try:
        points = np.concatenate([np.array(s, dtype=np.float32) for s in strokes], axis=1)
    except ValueError as e:
        raise ValueError(f"strokes must all have the same rows: {e}") from None
    lo = points.min()
    normed = (points - lo) / max(1, (points.max() - lo))
    z = np.zeros(points.shape[1])
    if len(strokes) > 1:
        z[np.cumsum([np.shape(s)[1] for s in strokes[:-1]])] = 1
    return np.concatenate([np.diff(normed), z.reshape((1, -1))[:, 1:]])


# --------------------------------------------------------------------------------- examples


def _int64_label(label: object) -> int:
    """The label as the notebook's ``int64_list.value.append(label)`` takes it: an integer in
    int64's range, else the TypeError or ValueError protobuf raises (never a wrapped value)."""
    if not isinstance(label, numbers.Integral) or isinstance(label, (bool, np.bool_)):
        raise TypeError(f"label {label!r} has type {type(label).__name__}: it must be an "
                        "integer")
    if not -(1 << 63) <= int(label) < 1 << 63:
        raise ValueError(f"label {label} is out of int64's range")
    return int(label)


def make_example_img(label: int, drawing: dict, *, utc: bool = False):
    """Drop-in for the notebook's ``make_example_img``: a ``tf.train.Example``.

    Rendered at 64x64 with line width 4, maximized, as the notebook does.  The timestamp is
    the notebook's ``time.mktime`` of the drawing's time read in the local time zone
    (fractional seconds optional); ``utc=True`` gives UTC epoch seconds instead, the same
    on every machine (what a build writes).
    """
    import tensorflow as tf

    codec = ImgCodec(size=64, line_width=4, maximize=True, notebook_time=not utc)
    buf, _ = codec.examples(_int64_label(label), Drawings.from_dicts([drawing]))
    return tf.train.Example.FromString(buf.tobytes())


def make_example_stroke(label: int, drawing: dict, *, utc: bool = False):
    """Drop-in for the notebook's ``make_example_stroke``: a ``tf.train.Example``.

    Timestamps as in ``make_example_img``; strokes as in ``json_to_stroke`` (the raw
    format's t is the notebook's third row, stroke_z).
    """
    import tensorflow as tf

    return tf.train.Example.FromString(stroke_example(label, drawing, not utc).tobytes())


def stroke_example(label: int, drawing: dict, notebook_time: bool = True,
                   gaps: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``make_example_stroke``'s Example, serialized (uint8), with ``gaps`` around it."""
    label = _int64_label(label)
    rows = json_to_stroke(drawing)
    drawings = Drawings.from_dicts([drawing])
    buf, _ = encode_stroke_examples(np.array([label]), rows[:3].astype(np.float32),
                                    np.array([0, rows.shape[1]]), drawings,
                                    timestamps(drawings, notebook_time), gaps=gaps)
    return buf
