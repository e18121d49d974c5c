"""The sketchrnn kind: sketch-rnn's stroke-3 ``<class>.npz`` files.  RDP against the ``rdp``
package (what sketch-rnn's conversion notebook simplifies with) on every stroke of the real
sample, the files read by a port of sketch-rnn's loader (tests/sketch_rnn.py), stroke-3
decoded back to each drawing's points, the seeded plan, bad input, verify."""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest
import sketch_rnn
from build_helpers import SAMPLE, options, tree, with_bad_lines
from conftest import traced_peak
from realdata import RAW, simplified_files

from fastdraw.build import build, classfiles
from fastdraw.build.plan import make_plan
from fastdraw.cli import main
from fastdraw.codecs import SketchRnnCodec
from fastdraw.dataset.npz import check_member
from fastdraw.dataset.verify import check
from fastdraw.kernels.rdp import rdp_mask
from fastdraw.notebook import reference
from fastdraw.sources import open_source

CLASSES = ["cat", "eye", "sea turtle"]
SPLITS = {"train": 6, "valid": 3, "test": 2}


def reference_rdp(points: list[list[int]], epsilon: float) -> list[list[int]]:
    from rdp import rdp

    with warnings.catch_warnings():  # numpy 2 deprecates its 2-D np.cross
        warnings.simplefilter("ignore", DeprecationWarning)
        return rdp(points, epsilon=epsilon)


@pytest.mark.parametrize("epsilon", [2.0, 0.5, 7.0])
def test_rdp_keeps_the_rdp_package_s_points_on_every_real_stroke(epsilon):
    strokes = 0
    for path in simplified_files():
        for d in open_source(path).read(unrecognized=True, on_reject=pytest.fail):
            keep = rdp_mask(d.x, d.y, d.stroke_offsets, epsilon)
            for a, b in zip(d.stroke_offsets[:-1].tolist(), d.stroke_offsets[1:].tolist()):
                points = [[int(x), int(y)] for x, y in zip(d.x[a:b], d.y[a:b])]
                ours = [p for p, k in zip(points, keep[a:b]) if k]
                assert ours == reference_rdp(points, epsilon), (path, a)
                strokes += 1
    assert strokes > 20000


def _strokes(drawing: dict, epsilon: float) -> list[list[list[float]]]:
    """A notebook drawing's strokes as point lists, simplified by the rdp package."""
    out = []
    for stroke in drawing["drawing"]:
        points = [[int(x), int(y)] for x, y in zip(stroke[0], stroke[1])]
        kept = reference_rdp(points, epsilon) if epsilon > 0 else points
        out.append([[float(x), float(y)] for x, y in kept])
    return out


@pytest.fixture(scope="module", params=[2.0, 0.0], ids=["rdp2", "rdp0"])
def built(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("sketchrnn")
    assert main(["--classes", ",".join(CLASSES), "--sample", "--kind", "sketchrnn",
                 "--splits", ",".join(f"{k}={v}" for k, v in SPLITS.items()), "--seed", "4",
                 "--rdp", str(request.param), "--out", str(out), "--name", "t",
                 "--workers", "2"]) == 0
    return out / "t_sketchrnn", request.param


def test_build_writes_a_file_a_class_and_the_extras(built):
    path, _ = built
    assert sorted(p.name for p in path.iterdir()) == sorted(
        [*(f"{c}.npz" for c in CLASSES), "counts.json", "manifest.json", "rejected.ndjson"])
    assert json.loads((path / "counts.json").read_text()) == {k: 3 * v for k, v in SPLITS.items()}
    assert check(path).problems == []


def test_decoded_stroke3_gives_each_drawing_s_points_in_the_plan_s_places(built):
    path, epsilon = built
    plan = make_plan(SPLITS, 1, 4)
    names = list(SPLITS)
    for name in CLASSES:
        drawings = reference.loadn(name, plan.rounds, data_path=str(SAMPLE))
        data = np.load(path / f"{name}.npz", encoding="latin1", allow_pickle=True)
        assert sorted(data.files) == sorted(SPLITS)
        for s, split in enumerate(names):
            rounds = np.flatnonzero(plan.shard_id == s)
            arrays = data[split]
            assert arrays.dtype == object and arrays.shape == (SPLITS[split],)
            for r, rows in zip(rounds.tolist(), arrays):
                assert rows.dtype == np.int16 and rows.shape[1] == 3
                assert sketch_rnn.strokes_to_lines(rows) == _strokes(drawings[r], epsilon)


def test_sketch_rnn_s_loader_reads_the_files(built):
    path, epsilon = built
    train, valid, test = sketch_rnn.load_dataset(str(path), [f"{c}.npz" for c in CLASSES],
                                                 batch_size=3)
    assert [len(x.strokes) for x in (train, valid, test)] == [18, 9, 6]
    _, batch, lengths = train.get_batch(0)
    assert batch.shape == (3, train.max_seq_length + 1, 5)
    assert (batch[:, 0, 2] == 1).all()  # sketch-rnn's start token
    assert (lengths <= train.max_seq_length).all()
    assert np.isfinite(train.scale_factor) and train.scale_factor > 0


def test_rdp_0_keeps_every_point_and_2_drops_some(built):
    path, epsilon = built
    rows = sum(len(a) for c in CLASSES
               for a in np.load(path / f"{c}.npz", allow_pickle=True)["train"])
    plan = make_plan(SPLITS, 1, 4)
    points = sum(sum(len(s[0]) for s in d["drawing"]) for c in CLASSES
                 for r, d in enumerate(reference.loadn(c, plan.rounds, data_path=str(SAMPLE)))
                 if plan.shard_id[r] == 0)
    assert rows == points if epsilon == 0 else rows < points


def test_same_bytes_with_any_workers_and_any_window(built, tmp_path, monkeypatch):
    path, epsilon = built
    monkeypatch.setattr(classfiles, "WINDOW", 200)  # many batches (APPENDS) per array
    assert main(["--classes", ",".join(CLASSES), "--sample", "--kind", "sketchrnn",
                 "--splits", ",".join(f"{k}={v}" for k, v in SPLITS.items()), "--seed", "4",
                 "--rdp", str(epsilon), "--out", str(tmp_path), "--name", "t",
                 "--workers", "1"]) == 0
    with zipfile.ZipFile(tmp_path / "t_sketchrnn" / "cat.npz") as z:
        assert z.read("train.npy").count(b"e(") > 1
    ours = {name: np.load(tmp_path / "t_sketchrnn" / name, allow_pickle=True)
            for name in (f"{c}.npz" for c in CLASSES)}
    theirs = {name: np.load(path / name, allow_pickle=True) for name in ours}
    for name in ours:
        for split in SPLITS:
            assert all((a == b).all() for a, b in zip(ours[name][split], theirs[name][split]))
    monkeypatch.undo()
    again = tmp_path / "again"
    assert main(["--classes", ",".join(CLASSES), "--sample", "--kind", "sketchrnn",
                 "--splits", ",".join(f"{k}={v}" for k, v in SPLITS.items()), "--seed", "4",
                 "--rdp", str(epsilon), "--out", str(again), "--name", "t",
                 "--workers", "1"]) == 0
    assert tree(again / "t_sketchrnn") == tree(path)


def test_verify_catches_a_changed_file_and_a_bad_drawing(built, tmp_path):
    path, _ = built
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in path.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    # A drawing whose last row's pen is down, in a file zipped as a build would.
    with zipfile.ZipFile(path / "eye.npz") as z:
        members = {n: z.read(n) for n in z.namelist()}
    train = bytearray(members["train.npy"])
    at = train.rindex(b"tbe")  # the end of the last drawing of the last batch
    train[at - 2] ^= 1  # its last row's pen: 1 -> 0
    with zipfile.ZipFile(copy / "eye.npz", "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(zipfile.ZipInfo(n, (1980, 1, 1, 0, 0, 0)),
                       bytes(train) if n == "train.npy" else data, zipfile.ZIP_DEFLATED)
    problems = check(copy).problems
    assert any(p.startswith("eye.npz: train: drawing 5: pen values") for p in problems)
    assert any(p.startswith("eye.npz: sha256") for p in problems)
    (copy / "cat.npz").unlink()
    assert "cat.npz: missing class file" in check(copy).problems


def test_a_pickle_that_is_not_a_build_s_is_never_unpickled(tmp_path):
    import io

    evil = io.BytesIO()
    np.save(evil, np.array([print], dtype=object), allow_pickle=True)
    evil.seek(0)
    count, problem = check_member(evil)
    assert (count, problem) == (0, "its pickle does not start as a build writes it (an array "
                                   "of int16 stroke-3 drawings)")


def test_bad_lines_and_drawings_stroke3_cannot_hold_are_rejected(tmp_path):
    path = with_bad_lines(tmp_path)  # bad lines 2, 6 and 12
    lines = path.read_text().splitlines()
    big = json.loads(lines[0])
    big["drawing"] = [[[0, 40000], [0, 0]]]  # an offset beyond int16
    big["key_id"] = "77"
    path.write_text("\n".join([json.dumps(big), *lines]) + "\n")
    out = tmp_path / "out"
    build(options(["cat"], [path], out, {"sketchrnn": {"train": 8, "valid": 1, "test": 1}},
                  shards=1))
    rejected = [json.loads(x) for x in (out / "t_sketchrnn" / "rejected.ndjson").read_text()
                .splitlines()]
    assert [r["line"] for r in rejected] == [1, 3, 7, 13]
    assert "an offset between two of the drawing's points is beyond int16" in \
        rejected[0]["reason"]
    assert check(out / "t_sketchrnn").problems == []


def test_raw_coordinates_that_are_not_whole_numbers_are_rejected():
    raw = next(p for p in sorted(RAW.glob("*.ndjson"))
               if any(float(v) != int(v) for line in p.read_text().splitlines()[:50]
                      for s in json.loads(line)["drawing"] for v in s[0]))
    d = next(iter(open_source(raw).read(unrecognized=True, on_reject=pytest.fail)))
    reasons = SketchRnnCodec().unusable(d)
    assert reasons and all("not a whole number" in r for r in reasons.values())


def test_splits_sketch_rnn_cannot_read_are_refused(tmp_path):
    with pytest.raises(Exception, match="need the splits train, valid, test"):
        build(options(["cat"], [SAMPLE / "cat.ndjson"], tmp_path,
                      {"sketchrnn": {"train": 2, "eval": 1}}))
    assert not list(tmp_path.glob("t_*"))


def test_negative_rdp_is_refused(tmp_path):
    with pytest.raises(Exception, match="--rdp -1.0"):
        build(options(["cat"], [SAMPLE / "cat.ndjson"], tmp_path,
                      {"sketchrnn": {"train": 2, "valid": 1, "test": 1}}, rdp=-1.0))


def test_the_tfrecord_readers_say_how_to_read_it(built):
    from fastdraw.data import img_dataset
    from fastdraw.views.preview import dataset_tiles

    path, _ = built
    with pytest.raises(ValueError, match="read with np.load"):
        img_dataset(path, "train")
    with pytest.raises(ValueError, match="one <class>.npz file per class, not of TFRecord"):
        dataset_tiles(path, "train", 4)


def _copy(path, to):
    to.mkdir()
    for p in path.iterdir():
        (to / p.name).write_bytes(p.read_bytes())
    return to


def test_verify_names_a_damaged_deflate_stream_as_a_problem(built, tmp_path):
    path, _ = built
    copy = _copy(path, tmp_path / "copy")
    data = bytearray((copy / "cat.npz").read_bytes())
    with zipfile.ZipFile(copy / "cat.npz") as z:
        first = z.infolist()[0]
    at = first.header_offset
    names, extra = (int.from_bytes(data[at + k:at + k + 2], "little") for k in (26, 28))
    data[at + 30 + names + extra] |= 0x06  # the first block's type: 3, which deflate reserves
    (copy / "cat.npz").write_bytes(bytes(data))
    problems = check(copy).problems
    assert any(p.startswith(f"cat.npz: {first.filename[:-4]}: cannot be read (Error -3 while "
                            "decompressing data: invalid block type)") for p in problems), problems


def test_a_drawing_of_many_rows_is_checked_in_bounded_memory():
    import io

    from fastdraw.dataset.npz import ARRAY_TAIL, BATCH, array_head, npy_header

    rows = 40 * BATCH // 6  # 40 batches of stroke-3 rows, all (0, 0, 0) but the last
    data = bytearray(6 * rows)
    data[-2] = 1  # the last row's pen is lifted
    item = (b"h\x00h\x04R(K\x01J" + rows.to_bytes(4, "little") + b"K\x03\x86h\x06\x89B"
            + len(data).to_bytes(4, "little") + bytes(data) + b"tb")
    member = io.BytesIO(npy_header(1) + array_head(1) + b"(" + item + b"e" + ARRAY_TAIL)
    del data, item
    result, peak = traced_peak(lambda: check_member(member))
    assert result == (1, None)
    assert peak < 4 * BATCH


@pytest.mark.parametrize("field, value", [(10, 99), (10, 14), (8, 1), (8, 0x20), (8, 0x40)],
                         ids=["unknown-method", "lzma", "encrypted", "patched",
                              "strongly-encrypted"])
def test_verify_refuses_a_member_not_deflated_as_a_build_writes(built, tmp_path, field, value):
    path, _ = built
    copy = _copy(path, tmp_path / "copy")
    data = bytearray((copy / "cat.npz").read_bytes())
    at = data.rindex(b"PK\x01\x02")  # the central directory's entry of the last member
    data[at + field] |= value  # its compression method, or its flags' encryption bit
    (copy / "cat.npz").write_bytes(bytes(data))
    problems = check(copy).problems
    assert "cat.npz: test: not deflated as a build writes it (a zip member compressed with " \
           "deflate, not encrypted)" in problems, problems


def test_verify_names_a_zip_of_a_version_zipfile_cannot_read(built, tmp_path):
    path, _ = built
    copy = _copy(path, tmp_path / "copy")
    data = bytearray((copy / "cat.npz").read_bytes())
    data[data.rindex(b"PK\x01\x02") + 6] = 255  # the version needed to extract: 25.5
    (copy / "cat.npz").write_bytes(bytes(data))
    assert "cat.npz: cannot be read as a zip file (zip file version 25.5)" in \
        check(copy).problems


def test_a_long_npy_header_is_named_by_its_start():
    import io

    text = "{" + ", ".join(f"{i}: {i}" for i in range(5000)) + "}"
    member = io.BytesIO(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode())
    count, problem = check_member(member)
    assert count == 0 and problem.startswith("its .npy header '{0: 0, 1: 1, ") \
        and problem.endswith(f"... ({len(text)} characters) is not an object array's")
    assert len(problem) < 200


@pytest.mark.parametrize("name", ["../outside/cat", "/tmp/cat", ".."])
def test_verify_never_reads_a_class_file_outside_the_dataset(built, tmp_path, monkeypatch,
                                                              name):
    import fastdraw.dataset.verify as verify

    path, _ = built
    copy = _copy(path, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["classes"][0] = name
    (copy / "manifest.json").write_text(json.dumps(manifest))
    opened = []
    checked = verify._check_class_file
    monkeypatch.setattr(verify, "_check_class_file",
                        lambda file, *a: opened.append(file) or checked(file, *a))
    problems = check(copy).problems
    assert all(f.parent == copy for f in opened), opened
    assert any(p.startswith(f"manifest.json: class name {name!r}") for p in problems), problems


@pytest.mark.parametrize("far, kept", [(32767, True), (-32768, True), (32768, False),
                                       (-32769, False)])
def test_offsets_int16_holds_are_kept_and_others_rejected(far, kept):
    from fastdraw.codecs.sketchrnn import stroke3, unencodable_stroke3
    from fastdraw.drawings import Drawings

    line = json.loads((SAMPLE / "cat.ndjson").read_text().splitlines()[0])
    line["drawing"] = [[[0, far], [5, 5]]]
    drawings = Drawings.from_dicts([line])
    assert (unencodable_stroke3(drawings, 0.0) == {}) is kept
    if kept:
        rows, _ = stroke3(drawings, 0.0)
        assert rows.tolist() == [[0, 5, 0], [far, 0, 1]]
