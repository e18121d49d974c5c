"""Grids too big for a PNG are refused, by the commands and the library calls alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SIMPLIFIED
from dataset_helpers import built_datasets
from PIL import Image

from fastdraw.cli import main
from fastdraw.views.grid import MAX_PIXELS, grid, grid_size
from fastdraw.views.mosaic import mosaic
from fastdraw.views.preview import preview


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return built_datasets(tmp_path_factory.mktemp("grid"))


@pytest.mark.parametrize("command", ["preview", "inspect"])
@pytest.mark.parametrize("rows, cols", [(100000, 100000), (1, 10_000_000), (129, 128)])
def test_a_grid_too_big_for_a_png_is_refused_before_reading(built, tmp_path, capsys, command,
                                                              rows, cols):
    """A grid whose image would pass MAX_PIXELS (64 megapixels) exits 2 naming the limit and
    a grid that fits, without allocating it (100000x100000 tiles would be terabytes)."""
    out = tmp_path / "big.png"
    args = (["preview", str(built["img"]), "--out", str(out)] if command == "preview"
            else ["inspect", "cat", "--data", str(SIMPLIFIED), "--mosaic", str(out)])
    if command == "preview" and (rows, cols) == (129, 128):
        rows, cols = 115, 114  # the preview's tiles are bigger: 66x78 with gutter and caption
    assert main([*args, "--rows", str(rows), "--cols", str(cols)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fastdraw {command}: error: a {rows}x{cols} grid of 64 px tiles ")
    assert "the most is 67,108,864 pixels (8192x8192)" in err
    side = int(err.rsplit("--rows ", 1)[1].split()[0])
    assert main([*args, "--rows", str(side), "--cols", str(side)]) == 0, "suggested grid fails"
    caption = command == "preview"
    gutter = 2 if caption else 0
    width, height = grid_size(side, side, 64, caption, gutter)
    assert width * height <= MAX_PIXELS
    bigger = grid_size(side + 1, side + 1, 64, caption, gutter)
    assert bigger[0] * bigger[1] > MAX_PIXELS  # one more row and column: too big
    with Image.open(out) as img:  # a preview's grid is no bigger than its records need
        assert img.width <= width and img.height <= height


def test_library_calls_refuse_huge_grids_too(built):
    with pytest.raises(ValueError, match="the most is 67,108,864 pixels"):
        preview(built["stroke"], "train", 100000, 100000)
    with pytest.raises(ValueError, match="the most is 67,108,864 pixels"):
        mosaic(["cat"], SIMPLIFIED, 100000, 100000)
    with pytest.raises(ValueError, match="at least 1"):
        mosaic(["cat"], SIMPLIFIED, 0, 3)
    with pytest.raises(ValueError, match="a 1x20000 grid of 64 px tiles would be a 1280000x64 "):
        grid(np.zeros((1, 64, 64), np.uint8), 1, 20000)
