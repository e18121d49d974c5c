"""Build, reader and verify agree: for any input the reader accepts, the build succeeds and
`verify` passes on what it wrote; every line it does not use is a recorded rejection (or an
unrecognized drawing left out on purpose).  Named cases first, then a seeded fuzzer over
mutated real lines."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from build_helpers import SAMPLE, leftovers, options

from fastdraw.build import build
from fastdraw.build.plan import parse_splits
from fastdraw.cli import main
from fastdraw.codecs.img import ImgCodec
from fastdraw.codecs.proto import parse_example
from fastdraw.codecs.stroke import StrokeCodec, unpack_strokes
from fastdraw.dataset.tfrecord import FRAME_HEAD, FRAME_TAIL, frame_in_place, read_records
from fastdraw.dataset.verify import verify_dataset
from fastdraw.drawings import Drawings
from fastdraw.errors import BadInputError, BuildError
from fastdraw.notebook import dropins, reference
from fastdraw.sources.ndjson.check import parse_line

FRACTIONS = parse_splits("train=0.7,eval=0.15,test=0.15")


def _lines(name: str) -> list[str]:
    return (SAMPLE / f"{name}.ndjson").read_text("utf-8").splitlines()


def _with_line(data: Path, name: str, line: str, at: int, source: str | None = None) -> Path:
    """``data/<name>.ndjson``: the sample's lines of ``source`` (default ``name``) with
    ``line`` inserted as line ``at`` (1-based)."""
    lines = _lines(source or name)
    lines.insert(at - 1, line)
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"{name}.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _copy(data: Path, name: str) -> Path:
    """``data/<name>.ndjson``: the sample's file, as it is."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"{name}.ndjson"
    path.write_bytes((SAMPLE / f"{name}.ndjson").read_bytes())
    return path


def _first_x(line: str, value: str) -> str:
    """A real line with its first x coordinate replaced by ``value`` (JSON text)."""
    return re.sub(r'("drawing":\s*\[\[\[)(-?[0-9.]+)', lambda m: m[1] + value, line, count=1)


def _cli_build(tmp_path: Path, data: Path, *extra: str) -> int:
    return main(["--classes", "cat,dog", "--data", str(data), "--offline", "--out",
                 str(tmp_path / "out"), "--splits", "train=0.7,eval=0.15,test=0.15",
                 "--shards", "1", "--workers", "1", *extra])


def _rejected(dataset: Path) -> list[dict]:
    return [json.loads(x) for x in (dataset / "rejected.ndjson").read_text().splitlines()]


@pytest.mark.parametrize("value,extra", [("1e39", ()), ("1e10", ("--no-maximize",)),
                                         ("-3.5e38", ("--no-maximize",))])
def test_a_coordinate_the_rasterizer_cannot_draw_is_a_rejected_line(tmp_path, value, extra):
    # D1: it used to kill the whole img build (exit 1, nothing in rejected.ndjson).
    data = tmp_path / "data"
    _with_line(data, "cat", _first_x(_lines("cat")[0], value), 3)
    _copy(data, "dog")
    assert _cli_build(tmp_path, data, "--kind", "img", *extra) == 0
    dataset = tmp_path / "out" / "custom_img"
    [entry] = _rejected(dataset)
    assert entry["line"] == 3 and entry["file"] == str(data / "cat.ndjson")
    assert "img records: the drawing: stroke 0 point 0: x = " in entry["reason"]
    assert "it cannot be rasterized" in entry["reason"]
    assert verify_dataset(dataset) == []


def test_the_same_line_under_strict_is_exit_code_2(tmp_path):
    data = tmp_path / "data"
    _with_line(data, "cat", _first_x(_lines("cat")[0], "1e39"), 3)
    _copy(data, "dog")
    assert _cli_build(tmp_path, data, "--kind", "img", "--strict") == 2
    assert not (tmp_path / "out" / "custom_img").exists()


def test_a_coordinate_that_overflows_float32_is_a_rejected_line_of_a_stroke_build(tmp_path):
    # D2: it used to be "0 rejected lines", exit 0, and NaN deltas that verify rejected.
    data = tmp_path / "data"
    _with_line(data, "cat", _first_x(_lines("cat")[0], "1e39"), 3)
    _copy(data, "dog")
    assert _cli_build(tmp_path, data, "--kind", "stroke") == 0
    dataset = tmp_path / "out" / "custom_stroke"
    [entry] = _rejected(dataset)
    assert entry["line"] == 3
    assert entry["reason"].startswith("stroke records: the drawing's x = 1e+39 overflows float32")
    assert verify_dataset(dataset) == []


def test_coordinates_whose_span_overflows_float32_are_a_rejected_line(tmp_path):
    line = _first_x(_lines("cat")[0], "3e38")
    line = re.sub(r'(\]\],\s*\[\[)(-?[0-9.]+)', lambda m: m[1] + "-3e38", line, count=1)
    assert "-3e38" in line
    data = tmp_path / "data"
    _with_line(data, "cat", line, 2)
    _copy(data, "dog")
    assert _cli_build(tmp_path, data, "--kind", "stroke") == 0
    [entry] = _rejected(tmp_path / "out" / "custom_stroke")
    assert entry["line"] == 2 and "span" in entry["reason"] and "overflows" in entry["reason"]
    assert verify_dataset(tmp_path / "out" / "custom_stroke") == []


def test_a_class_file_of_another_class_is_rejected_line_by_line(tmp_path):
    # D3: a class 'kitty' of cat drawings used to make records whose word verify rejected.
    data = tmp_path / "data"
    data.mkdir()
    (data / "kitty.ndjson").write_bytes((SAMPLE / "cat.ndjson").read_bytes())
    with pytest.raises(BuildError) as e:
        build(options(["kitty", "dog"], [data / "kitty.ndjson", SAMPLE / "dog.ndjson"],
                      tmp_path / "out", {"img": {"train": 2}}))
    # The 12 recognized drawings (the 2 unrecognized ones are left out before any check).
    assert re.search(r"too few in 'kitty' \(0; 12 bad lines, the last at line \d+: word 'cat' "
                     r"is not this file's class, 'kitty'", str(e.value))


def test_a_repeated_line_is_a_rejected_line(tmp_path):
    # D3: a repeated input line used to give two records of one key_id, which verify rejected.
    data = tmp_path / "data"
    cat = _lines("cat")
    _with_line(data, "cat", cat[1], 6)
    _copy(data, "dog")
    assert _cli_build(tmp_path, data) == 0
    for kind in ("img", "stroke"):
        dataset = tmp_path / "out" / f"custom_{kind}"
        [entry] = _rejected(dataset)
        key = json.loads(cat[1])["key_id"]
        assert entry["line"] == 6
        assert entry["reason"].startswith(f"key_id {key} repeats line 2's: the same drawing")
        assert verify_dataset(dataset) == []


def test_a_drawing_in_two_class_files_stops_the_build_before_any_shard(tmp_path):
    data = tmp_path / "data"
    dog = _lines("dog")
    line = dog[3].replace('"word":"dog"', '"word":"cat"').replace('"word": "dog"',
                                                                 '"word": "cat"')
    assert '"cat"' in line
    _with_line(data, "cat", line, 5)
    _copy(data, "dog")
    key = json.loads(line)["key_id"]
    with pytest.raises(BuildError) as e:
        build(options(["cat", "dog"], [data / "cat.ndjson", data / "dog.ndjson"],
                      tmp_path / "out", {"stroke": FRACTIONS}))
    assert (f"key_id {key} is in {data / 'cat.ndjson'} line 5 and in {data / 'dog.ndjson'} "
            "line 4: one drawing in two classes") in str(e.value)
    assert leftovers(tmp_path / "out") == []


def test_under_strict_a_screened_line_is_bad_input(tmp_path):
    data = tmp_path / "data"
    _with_line(data, "cat", _lines("cat")[1], 6)
    with pytest.raises(BadInputError, match=r"cat.ndjson:6: bad line: key_id \d+ repeats"):
        build(options(["cat", "dog"], [data / "cat.ndjson", SAMPLE / "dog.ndjson"],
                      tmp_path / "out", {"stroke": {"train": 8}}, strict=True))


# ------------------------------------------------------------------------------ -0.0


NEGATIVE_ZEROS = [
    [[[0, 0, 0], [1, 0, -0.0]]],  # the case: numpy's min is -0.0
    [[[-0.0, 0, 0], [1, 0, 0.0]]],  # numpy's min is 0.0 though a -0.0 is there
    [[[3, -0.0, 2], [0.0, 5, -0.0]], [[1, 0], [-0.0, 0.0]]],
    [[[-0.0, -0.0], [-0.0, 4]]],
    [[[0.0] * 40 + [-0.0] * 40, list(range(80))]],  # numpy's SIMD reduction decides
    [[[-0.0] * 37 + [0.0] * 44, [0.0] * 81]],
]


def _notebook(strokes: list) -> dict:
    return {"drawing": [np.array(s) for s in strokes], "word": "cat", "countrycode": "US",
            "recognized": True, "key_id": "1", "timestamp": "2017-01-01 00:00:00.0 UTC"}


@pytest.mark.parametrize("strokes", NEGATIVE_ZEROS)
def test_negative_zero_gives_the_notebook_s_stroke_bits(strokes):
    # D5: a -0.0 coordinate used to give -0.0 deltas where the notebook gives 0.0.
    want = reference.json_to_stroke(_notebook(strokes))
    got = dropins.json_to_stroke(_notebook(strokes))
    assert got.view(np.uint64).tolist() == want.view(np.uint64).tolist()
    # The build's path: packed for the spool, unpacked to the Example's bytes.
    d = Drawings.from_dicts([_notebook(strokes)])
    codec = StrokeCodec()
    packed, offsets, sizes = codec.packed(0, d, (FRAME_HEAD, FRAME_TAIL))
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    unpack_strokes(packed, offsets[:-1], np.diff(offsets), out, np.zeros(1, dtype=np.int64))
    framed, slots = codec.examples(0, d, (FRAME_HEAD, FRAME_TAIL))
    frame_in_place(framed, slots)
    frame_in_place(out, np.array([0, len(out)]))
    assert out.tobytes() == framed.tobytes()
    rows = parse_example(framed[FRAME_HEAD:-FRAME_TAIL].tobytes())
    for r, name in enumerate(("stroke_x", "stroke_y", "stroke_z")):
        assert rows[name].view(np.uint32).tolist() == \
            want[r].astype(np.float32).view(np.uint32).tolist()


def test_images_are_not_changed_by_negative_zero():
    for strokes in NEGATIVE_ZEROS:
        want = np.asarray(reference.json_to_img(_notebook(strokes), 64, 4))
        got = ImgCodec(size=64, line_width=4).images(Drawings.from_dicts([_notebook(strokes)]))
        assert (got[0] == want).all()


# ------------------------------------------------------------------------------ the fuzzer

_TOKENS = ["1e39", "-1e39", "1e308", "-1e308", "1e-320", "1e2", "2E1", "NaN", "Infinity",
           "-0", "-0.0", "1e10", "-1e10", "123456789012345678901234567890", "0.1", "-255",
           "3.4028235e38", "\"5\"", "true", "null", "[]", "{}"]


def _mutate(line: str, rng: random.Random) -> str:
    """A real line with one of the changes a damaged or hostile file may hold."""
    kind = rng.randrange(12)
    numbers = [m.span() for m in re.finditer(r"-?\d+(\.\d+)?", line)]
    if kind == 0:  # a flipped byte
        at = rng.randrange(len(line))
        return line[:at] + chr(rng.randrange(32, 127)) + line[at + 1:]
    if kind == 1:  # cut short
        return line[:rng.randrange(len(line))]
    if kind == 2:  # a bracket more or less
        at = rng.randrange(len(line))
        return line[:at] + rng.choice("[]{},") + line[at:] if rng.random() < 0.5 else \
            line[:at] + line[at + 1:]
    if kind in (3, 4, 5) and numbers:  # a number replaced (coordinates mostly)
        a, b = rng.choice(numbers)
        return line[:a] + rng.choice(_TOKENS) + line[b:]
    if kind == 6:
        return rng.choice(["\ufeff", "\x00", "\udcff"]) + line
    if kind == 7:
        return line + "\r"
    if kind == 8:  # a key given twice
        return line.replace("{", '{"recognized": false, ', 1)
    if kind == 9:  # another class's word
        return re.sub(r'"word":\s*"[^"]*"', '"word": "dog"', line, count=1)
    if kind == 10:  # a new, negative or huge key_id
        return re.sub(r'"key_id":\s*"\d+"', rng.choice(['"key_id": "-5"', '"key_id": 7',
                                                        '"key_id": "99999999999999999999"']),
                      line, count=1)
    return line  # a repeat of a real line


@pytest.mark.parametrize("seed", range(24))
def test_fuzzed_real_lines_build_and_verify_and_lose_nothing(tmp_path, seed):
    rng = random.Random(seed)
    real = _lines("eye")[:60]
    lines = []
    for line in real:
        lines.append(_mutate(line, rng) if rng.random() < 0.4 else line)
        if rng.random() < 0.05:
            lines.append(rng.choice(lines))  # a repeated line
    data = tmp_path / "data"
    data.mkdir()
    eye = data / "eye.ndjson"
    eye.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    size, width = rng.choice([(16, 2), (28, 1), (64, 4)])
    maximize = rng.random() < 0.7
    opts = options(["eye", "mouth"], [eye, SAMPLE / "mouth.ndjson"], tmp_path / "out",
                   {"img": FRACTIONS, "stroke": FRACTIONS}, shards=2, workers=1,
                   img_size=size, line_width=width, maximize=maximize)
    try:
        built = build(opts)
    except BuildError as e:  # every eye line bad: the only failure allowed
        assert "the split fractions give no example" in str(e), str(e)
        return
    for b in built:
        assert verify_dataset(b.path) == [], b.path
        rejected = {r["line"] for r in _rejected(b.path) if r["file"] == str(eye)}
        used = set()
        for shard in sorted(b.path.glob("*-of-*")):
            for record in read_records(shard):
                f = parse_example(record)
                if f["word"][0] == b"eye":
                    used.add(int(f["key_id"][0]))
        assert used, "the fuzzed class must give examples"
        # Every line up to the last one used is used, rejected or an unrecognized drawing.
        keys = []
        for number, raw in enumerate(eye.read_bytes().split(b"\n")[:-1], 1):
            obj, problem = parse_line(raw)
            keys.append((number, obj, problem))
        first_of = {}  # key_id -> its first good line, the one a build uses
        for n, obj, problem in keys:
            if problem is None and n not in rejected and obj["recognized"]:
                first_of.setdefault(int(obj["key_id"]), n)
        last = max(first_of[key] for key in used)
        for number, obj, problem in keys[:last]:
            if problem is not None or number in rejected:
                assert number in rejected, (number, problem)
            elif obj["recognized"]:
                assert int(obj["key_id"]) in used, number


def test_a_coordinate_that_overflows_float32_is_found_without_a_numpy_warning():
    import warnings

    from fastdraw.kernels.strokes import unencodable

    drawing = json.loads(_first_x(_lines("cat")[0], "1e39"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the build's log showed numpy's overflow warning
        found = unencodable(Drawings.from_dicts([drawing]))
    assert list(found) == [0] and "overflows float32" in found[0]
