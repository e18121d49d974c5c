"""`python -m fastdraw preview DATASET_DIR --split S --out FILE.png`: records drawn back."""

from __future__ import annotations

import argparse

from fastdraw.cli.errors import FAILED, OK, USAGE, fail


def add_preview(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET_DIR", help="a built <name>_img or _stroke dir")
    p.add_argument("--split", default="train", help="split to show (default: %(default)s)")
    p.add_argument("--out", metavar="FILE.png", required=True, help="PNG to write")
    p.add_argument("--rows", type=int, default=8, help="grid rows (default: 8)")
    p.add_argument("--cols", type=int, default=8, help="grid columns (default: 8)")


def run_preview(args: argparse.Namespace) -> int:
    """Exit 2 on a bad grid size (under 1, or an image over MAX_PIXELS), 1 when the dataset
    cannot be read or the PNG written (or its images are so big that the grid is too)."""
    from fastdraw.views.grid import check_grid, save_png
    from fastdraw.views.preview import GUTTER, PREVIEW_TILE, preview

    try:
        check_grid(args.rows, args.cols, PREVIEW_TILE, caption=True, gutter=GUTTER)
    except ValueError as e:
        fail("preview", e)
        return USAGE
    try:
        img = preview(args.dataset, args.split, args.rows, args.cols)
        save_png(img, args.out)
    except (OSError, ValueError) as e:
        fail("preview", e)
        return FAILED
    print(f"wrote {args.out} ({img.width}x{img.height}, split {args.split} of {args.dataset})")
    return OK
