"""The screen of a class file (fastdraw.build.screen): a key_id kept once per file, the
repeats rejected with the line they repeat, in compact memory."""

from __future__ import annotations

import numpy as np
import pytest
from realdata import SIMPLIFIED

from fastdraw.build.screen import KeptKeys, Screen
from fastdraw.drawings import Drawings
from fastdraw.sources import read_drawings


def _eye() -> Drawings:
    d = Drawings.concat(list(read_drawings(SIMPLIFIED / "eye.ndjson")))
    assert len(d) > 500
    return d


def _with_repeats(d: Drawings, seed: int) -> Drawings:
    """The drawings with some key_ids of earlier lines given to later ones, lines renumbered."""
    rng = np.random.default_rng(seed)
    keys = d.key_id.copy()
    later = rng.choice(np.arange(1, len(d)), size=len(d) // 10, replace=False)
    keys[later] = keys[[int(rng.integers(0, i)) for i in later]]
    d.key_id[:] = keys
    d.line[:] = np.arange(1, len(d) + 1)
    return d


def _dict_screen(d: Drawings) -> list[tuple[int, int]]:
    """What the screen rejects, as (line, repeated line): the first line of a key_id wins."""
    first: dict[int, int] = {}
    out = []
    for key, line in zip(d.key_id.tolist(), d.line.tolist()):
        kept = first.setdefault(key, line)
        if kept != line:
            out.append((line, kept))
    return out


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
@pytest.mark.parametrize("seed", [0, 1])
def test_repeats_are_rejected_with_the_line_they_repeat(batch, seed):
    d = _with_repeats(_eye(), seed)
    screen = Screen("eye", "eye.ndjson", [])
    kept, rejected = [], []
    for i in range(0, len(d), batch):
        good, rejections = screen(d.slice(i, min(i + batch, len(d))))
        kept += good.line.tolist()
        rejected += [(r.line, int(r.reason.split("repeats line ")[1].split("'")[0]))
                     for r in rejections]
    want = _dict_screen(d)
    assert rejected == want
    assert sorted(kept + [line for line, _ in want]) == d.line.tolist()
    assert len(want) > 20


def test_kept_keys_hold_16_bytes_a_key_in_few_runs():
    kept = KeptKeys()
    rng = np.random.default_rng(0)
    keys = rng.choice(1 << 62, size=100_000, replace=False)
    for i in range(0, len(keys), 1000):
        kept.add(keys[i:i + 1000], np.arange(i, i + 1000))
    assert sum(k.nbytes + lines.nbytes for k, lines in kept.runs) == 16 * len(keys)
    assert len(kept.runs) <= 17
    probe = np.concatenate([keys[::997], rng.choice(1 << 62, size=50) + (1 << 62)])
    want = np.concatenate([np.arange(0, len(keys), 997), np.full(50, -1)])
    assert kept.lines_of(probe).tolist() == want.tolist()
