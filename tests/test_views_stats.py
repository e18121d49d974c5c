"""`python -m fastdraw inspect` (fastdraw.cli.inspect, statistics by fastdraw.views.stats):
per-class statistics of real files, checked against counts made here straight from
json.loads."""

from __future__ import annotations

import gzip
import json
import statistics
from collections import Counter
from pathlib import Path

import pytest
from conftest import RAW, SIMPLIFIED, traced_peak

from fastdraw.cli.main import main
from fastdraw.sources.classes import sample_dir
from fastdraw.views.stats import class_stats, format_stats

CLASSES = ["eye", "mouth", "cat", "The Mona Lisa", "bat"]


def _counts(lines: list[str]) -> dict:
    """The numbers inspect should print, for good lines, computed independently."""
    ds = [json.loads(line) for line in lines]
    strokes = [len(d["drawing"]) for d in ds]
    points = [sum(len(s[0]) for s in d["drawing"]) for d in ds]
    return {
        "lines": len(ds),
        "recognized": sum(d["recognized"] for d in ds),
        "unrecognized": sum(not d["recognized"] for d in ds),
        "countries": Counter(d["countrycode"] for d in ds),
        "strokes": (statistics.mean(strokes), statistics.median(strokes), max(strokes)),
        "points": (statistics.mean(points), statistics.median(points), max(points)),
        "first": ds[0],
    }


def _inspect(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["inspect", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _check(s: dict, want: dict, rejected: int = 0) -> None:
    assert s["lines"] == want["lines"] + rejected
    assert (s["recognized"], s["unrecognized"], s["rejected"]) == (
        want["recognized"], want["unrecognized"], rejected)
    countries = want["countries"]
    assert s["distinct_countries"] == len(countries)
    assert len(s["countries"]) == min(5, len(countries))
    assert all(countries[c] == n for c, n in s["countries"].items())
    assert list(s["countries"].values()) == sorted(countries.values(), reverse=True)[:5]
    for key, (mean, median, most) in (("strokes_per_drawing", want["strokes"]),
                                      ("points_per_drawing", want["points"])):
        assert s[key]["mean"] == pytest.approx(mean, abs=5e-4)
        assert (s[key]["median"], s[key]["max"]) == (median, most)
    assert s["example"]["fields"] == want["first"]


def test_json_numbers_equal_counts_made_here(capsys):
    code, out, err = _inspect(capsys, "--data", str(SIMPLIFIED), *CLASSES, "--json")
    assert code == 0 and err == ""
    stats = json.loads(out)
    assert list(stats) == CLASSES
    for name in CLASSES:
        path = SIMPLIFIED / f"{name}.ndjson"
        assert stats[name]["file"] == str(path)
        _check(stats[name], _counts(path.read_text("utf-8").splitlines()))
        assert stats[name]["example"]["line"] == 1
        assert json.loads(json.dumps(class_stats(path))) == stats[name]


def test_raw_files(capsys):
    code, out, _ = _inspect(capsys, "--data", str(RAW), "eye", "--json")
    assert code == 0
    _check(json.loads(out)["eye"], _counts((RAW / "eye.ndjson").read_text("utf-8").splitlines()))


def test_the_bundled_sample_with_sample(capsys):
    code, out, _ = _inspect(capsys, "cat", "--sample", "--json")
    s = json.loads(out)["cat"]
    path = Path(sample_dir()) / "cat.ndjson"
    assert code == 0 and s["file"] == str(path)
    _check(s, _counts(path.read_text("utf-8").splitlines()))


def test_data_defaults_to_data_as_for_a_build(tmp_path, monkeypatch, capsys):
    # inspect used to read the bundled sample by default, where a build reads ./data: after
    # `download --group zoo`, `inspect lion` described the sample's lion, not the download.
    monkeypatch.chdir(tmp_path)
    code, out, err = _inspect(capsys, "lion")
    assert code == 1 and out == ""
    assert err == ("fastdraw inspect: error: data (the default --data) does not exist: give "
                   "--data DIR (the directory of the class files), or --sample to inspect the "
                   "bundled sample; class files are downloaded with: python -m fastdraw "
                   "download --classes 'lion' --data 'data'\n")
    (tmp_path / "data").mkdir()
    lines = (SIMPLIFIED / "lion.ndjson").read_text("utf-8").splitlines()[:7]
    (tmp_path / "data" / "lion.ndjson").write_text("\n".join(lines) + "\n", "utf-8")
    code, out, _ = _inspect(capsys, "lion", "--json")
    s = json.loads(out)["lion"]
    assert code == 0 and s["file"] == str(Path("data") / "lion.ndjson") and s["lines"] == 7
    _check(s, _counts(lines))


@pytest.mark.parametrize("how", ["--group", "--classes", "--classes-file"])
def test_classes_are_named_as_for_a_build(tmp_path, capsys, how):
    # --group was refused ("unrecognized arguments"), as were --classes and --classes-file.
    value = {"--group": "pets", "--classes": "cat, dog",
             "--classes-file": str(tmp_path / "pets.txt")}[how]
    (tmp_path / "pets.txt").write_text("# pets\ncat\ndog\n", "utf-8")
    code, out, err = _inspect(capsys, how, value, "--data", str(SIMPLIFIED), "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert list(stats) == ["cat", "dog"]
    assert stats["dog"]["file"] == str(SIMPLIFIED / "dog.ndjson")


def test_classes_given_twice_or_not_at_all(capsys):
    code, out, err = _inspect(capsys, "cat", "--group", "pets", "--sample")
    assert (code, out) == (2, "")
    assert err == ("fastdraw inspect: error: give the classes as CLASS arguments or with "
                   "--group, not both\n")
    code, out, err = _inspect(capsys, "--sample")
    assert (code, out) == (2, "")
    assert err == ("fastdraw inspect: error: no classes given: name them (CLASS arguments), or "
                   "use --group, --classes or --classes-file\n")


def _with_bad_lines(tmp_path: Path) -> tuple[Path, list[str]]:
    lines = (SIMPLIFIED / "eye.ndjson").read_text("utf-8").splitlines()
    bad = ['{"word": "eye"', "not json", json.dumps({**json.loads(lines[5]), "drawing": []}),
           json.dumps({**json.loads(lines[6]), "key_id": "12x"})]
    mixed = [lines[0], bad[0], *lines[1:100], bad[1], *lines[100:300], bad[2], *lines[300:],
             bad[3]]
    path = tmp_path / "eye.ndjson"
    path.write_text("\n".join(mixed) + "\n", encoding="utf-8")
    return path, lines


def test_bad_lines_are_counted_and_the_first_reasons_shown(tmp_path, capsys):
    path, lines = _with_bad_lines(tmp_path)
    code, out, _ = _inspect(capsys, "--data", str(tmp_path), "eye", "--json")
    s = json.loads(out)["eye"]
    assert code == 0
    _check(s, _counts(lines), rejected=4)
    assert [r["line"] for r in s["first_rejections"]] == [2, 102, 303]
    assert s["first_rejections"][0]["reason"].startswith("not valid JSON")
    assert s["first_rejections"][2]["reason"] == "drawing has no strokes"


def test_text_output(tmp_path, capsys):
    path, lines = _with_bad_lines(tmp_path)
    want = _counts(lines)
    code, out, _ = _inspect(capsys, "--data", str(tmp_path), "eye")
    assert code == 0
    assert out == format_stats("eye", class_stats(path)) + "\n"
    text = out.splitlines()
    assert text[0] == f"eye  ({path})"
    assert text[1:5] == [f"  lines            {want['lines'] + 4}",
                         f"  recognized       {want['recognized']}",
                         f"  unrecognized     {want['unrecognized']}",
                         "  rejected         4"]
    assert text[5].startswith("    line 2: not valid JSON")
    assert text[7] == "    line 303: drawing has no strokes"
    assert text[8] == "    ... and 1 more"
    top = want["countries"].most_common(1)[0]
    assert text[9].startswith(f"  countries        {len(want['countries'])}: {top[0]} {top[1]}, ")
    mean, median, most = want["strokes"]
    assert text[10] == f"  strokes/drawing  mean {round(mean, 3):g}, median {median:g}, max {most}"
    assert text[12] == "  one drawing (line 1):"
    first = want["first"]
    assert text[13:18] == [f"    {k:<12} {json.dumps(first[k])}" for k in list(first)[:5]]
    n = sum(len(s[0]) for s in first["drawing"])
    assert text[18].startswith(f"    drawing      {len(first['drawing'])} strokes (x, y), {n} "
                               "points; the first: [[")


def test_several_classes_in_text(capsys):
    code, out, _ = _inspect(capsys, "--data", str(SIMPLIFIED), "cat", "bat")
    blocks = out.split("\n\n")
    assert code == 0 and len(blocks) == 2
    assert blocks[0].startswith("cat  (") and blocks[1].startswith("bat  (")


def test_gzip_files_are_found(tmp_path, capsys):
    packed = gzip.compress((SIMPLIFIED / "cat.ndjson").read_bytes())
    (tmp_path / "cat.ndjson.gz").write_bytes(packed)
    code, out, _ = _inspect(capsys, "--data", str(tmp_path), "cat", "--json")
    assert code == 0
    _check(json.loads(out)["cat"], _counts((SIMPLIFIED / "cat.ndjson").read_text().splitlines()))


def test_an_empty_file(tmp_path, capsys):
    (tmp_path / "cat.ndjson").write_bytes(b"")
    code, out, _ = _inspect(capsys, "--data", str(tmp_path), "cat", "--json")
    s = json.loads(out)["cat"]
    assert code == 0
    assert (s["lines"], s["recognized"], s["rejected"], s["example"]) == (0, 0, 0, None)
    assert s["points_per_drawing"] == {"mean": None, "median": None, "max": None}
    code, out, _ = _inspect(capsys, "--data", str(tmp_path), "cat")
    assert "  points/drawing   mean -, median -, max -" in out.splitlines()


def test_a_missing_class_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "cat.ndjson").write_bytes((SIMPLIFIED / "cat.ndjson").read_bytes())
    code, out, err = _inspect(capsys, "--data", str(tmp_path), "cat", "zebra", "--json")
    assert code == 1 and out == ""
    assert str(tmp_path / "zebra.ndjson") in err
    assert f"python -m fastdraw download --classes 'zebra' --data '{tmp_path}'" in err
    code, out, err = _inspect(capsys, "zebra", "dgo", "--sample")  # a typo: nothing to fetch
    assert code == 1 and out == ""
    assert ("no file for 'dgo' (did you mean 'dragon', 'dog'?) in the bundled sample, and no "
            "Quick, Draw! category has that name to download (`python -m fastdraw list "
            "--offline` lists the 345 Quick, Draw! categories)" in err)
    assert "fastdraw download" not in err


def test_mosaic_is_drawn_by_preview(tmp_path, capsys):
    png = tmp_path / "m.png"
    code, out, _ = _inspect(capsys, "--data", str(SIMPLIFIED), "cat", "--mosaic", str(png),
                            "--rows", "2", "--cols", "3")
    assert code == 0 and str(png) in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_rejected_items_are_counted_in_bounded_memory(tmp_path, monkeypatch):
    from fastdraw.sources.binary import reader as bin_reader

    (tmp_path / "warm.bin").write_bytes(bytes(17))
    monkeypatch.setattr(bin_reader, "MAX_BLOCK", 1 << 12)  # a few hundred items a block
    path = tmp_path / "cat.bin"
    path.write_bytes(bytes(17 * 100_000))  # 100,000 records, none of a country
    class_stats(path.with_name("warm.bin"))  # the kernel loaded untraced
    stats, peak = traced_peak(lambda: class_stats(path))
    assert stats["rejected"] == stats["lines"] == 100_000
    assert [r["line"] for r in stats["first_rejections"]] == [1, 2, 3]
    assert peak < 8 << 20, peak  # whatever the number of rejected items


def test_strokes_and_points_are_summed_up_in_bounded_memory(tmp_path, monkeypatch):
    from binary_reference import pack

    from fastdraw.sources.binary import reader as bin_reader

    (tmp_path / "warm.bin").write_bytes(pack(1, b"US", 1, 5, [([0, 1], [0, 1])]))
    class_stats(tmp_path / "warm.bin")  # the kernel loaded untraced
    monkeypatch.setattr(bin_reader, "MAX_BLOCK", 1 << 14)
    records = [pack(1, b"US", 1, 5, [([0, 1], [0, 1])] * (1 + k % 3)) for k in range(4)]
    path = tmp_path / "cat.bin"
    path.write_bytes(b"".join(records) * 250_000)  # a million drawings of 1, 2, 3, 1 strokes
    stats, peak = traced_peak(lambda: class_stats(path))
    assert stats["strokes_per_drawing"] == {"mean": 1.75, "median": 1.5, "max": 3}
    assert stats["points_per_drawing"] == {"mean": 3.5, "median": 3.0, "max": 6}
    assert peak < 8 << 20, peak  # whatever the number of drawings


def test_a_drawing_of_another_word_is_counted_rejected(tmp_path, capsys):
    # A line of another word is rejected by a build of the class: inspect, whose numbers
    # are those a build would see, counted it as a drawing.
    lines = (SIMPLIFIED / "eye.ndjson").read_text("utf-8").splitlines()[:20]
    other = json.dumps(json.loads(lines[3]) | {"word": "mouth", "key_id": "1"})
    (tmp_path / "eye.ndjson").write_text("\n".join(lines + [other]) + "\n", encoding="utf-8")
    code, out, _ = _inspect(capsys, "--data", str(tmp_path), "eye", "--json")
    s = json.loads(out)["eye"]
    assert code == 0
    _check(s, _counts(lines), rejected=1)
    assert [r["line"] for r in s["first_rejections"]] == [21]
    assert "is not this file's class, 'eye'" in s["first_rejections"][0]["reason"]
