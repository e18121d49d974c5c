"""The seeded split/shard plan of a build: which split and shard file every round goes to.

The notebook's ``make_sharded_files`` writes its dataset in rounds: each round
draws a split with ``rand_key`` (weighted by the examples the splits still
need, taken from the global ``random``), then writes one example of every
class into shard ``remaining % shards`` of that split, ``remaining`` being the
split's count after ``rand_key`` decremented it.  The plan replays exactly
those draws from ``random.Random(seed)`` -- the same numbers the global
``random`` gives after ``random.seed(seed)`` -- without touching any
drawing, so the builder knows up front where every example goes.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Hashable, MutableMapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

from fastdraw.dataset.layout import NOTEBOOK, Layout

_SPLIT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class RandInt(Protocol):
    """What rand_key draws from: `random.Random`, or the `random` module itself."""

    def randint(self, a: int, b: int) -> int: ...


def rand_key(counts: MutableMapping[Hashable, int], rng: RandInt = random) -> Hashable | None:
    """The notebook's ``rand_key``: a key drawn with counts as weights; its count is decremented;
    None, as the notebook returns, when no count is positive.

    Same draws and same (slightly uneven) arithmetic as the notebook: ``r`` is
    uniform in ``[0, sum]`` inclusive and the keys are walked in dict order.
    """
    r = rng.randint(0, sum(counts.values()))
    for key, count in counts.items():
        if r > count or count == 0:
            r -= count
        else:
            counts[key] -= 1
            return key
    return None


def parse_splits(text: str) -> dict[str, int] | dict[str, Fraction]:
    """``train=5000,eval=1000,test=1000`` (counts per class) or ``train=0.7,...`` (fractions).

    Counts are non-negative integers; fractions are decimals in [0, 1] summing to
    at most 1 (kept exact as Fractions).  Order is kept: it is the order
    ``rand_key`` walks the splits in.  Raises ValueError saying what is wrong.
    """
    items: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not name or not value:
            raise ValueError(f"--splits {text!r}: {part.strip()!r} is not NAME=VALUE (e.g. "
                             "train=5000,eval=1000,test=1000 or train=0.7,eval=0.15,test=0.15)")
        if not _SPLIT_NAME.fullmatch(name):
            raise ValueError(f"--splits {text!r}: split name {name!r} may only use letters, "
                             "digits, '_', '.' and '-'")
        if name in items:
            raise ValueError(f"--splits {text!r}: split {name!r} is given twice")
        items[name] = value
    for name, value in items.items():
        if value.startswith("-"):
            raise ValueError(f"--splits {text!r}: {name}={value} is negative: give each split "
                             "a count (0 or more) or a fraction in [0, 1]")
    if all(value.isascii() and value.isdigit() for value in items.values()):
        counts = {name: int(value) for name, value in items.items()}
        if sum(counts.values()) == 0:
            raise ValueError(f"--splits {text!r} asks for no example at all")
        return counts
    fractions: dict[str, Fraction] = {}
    for name, value in items.items():
        try:
            f = Fraction(value)
        except ValueError:
            raise ValueError(f"--splits {text!r}: {name}={value} is neither a count "
                             "nor a fraction") from None
        if not 0 <= f <= 1:
            raise ValueError(f"--splits {text!r}: {name}={value} is not a fraction in [0, 1] "
                             "(give all splits as counts or all as fractions)")
        fractions[name] = f
    if sum(fractions.values()) > 1:
        raise ValueError(f"--splits {text!r}: the fractions add up to more than 1")
    if sum(fractions.values()) == 0:
        raise ValueError(f"--splits {text!r} asks for no example at all")
    return fractions


def resolve_splits(splits: dict[str, int] | dict[str, Fraction], smallest: int) -> dict[str, int]:
    """Examples per class of every split: counts as given, fractions of ``smallest`` rounded down.

    ``smallest`` is the smallest class's count of usable drawings.
    """
    return {name: int(value * smallest) if isinstance(value, Fraction) else int(value)
            for name, value in splits.items()}


@dataclass(frozen=True)
class Plan:
    """Where every round goes.  Round ``r`` writes one example of every class, in class order,
    into shard file ``shard_names[shard_id[r]]``; class ``j``'s example in round ``r`` is its
    ``r``-th usable drawing."""

    splits: dict[str, int]  # examples per class and split, in rand_key order
    shards: int  # shard files per split
    seed: int
    shard_id: np.ndarray  # int32 [rounds]: split index * shards + shard index
    layout: Layout = NOTEBOOK  # names the shard files

    @property
    def rounds(self) -> int:
        return len(self.shard_id)

    @property
    def shard_names(self) -> list[str]:
        """File name of every shard id, splits in order (a layout of one file per class has
        none: its shard ids are only the splits' places in the spool)."""
        return self.layout.shard_names(self.splits, self.shards)

    @property
    def shard_count(self) -> int:
        """Shard ids: splits * shards."""
        return len(self.splits) * self.shards

    def rounds_per_shard(self) -> np.ndarray:
        """int64 [splits * shards]: how many rounds each shard file gets."""
        return np.bincount(self.shard_id, minlength=self.shard_count)


def make_plan(splits: dict[str, int], shards: int, seed: int, layout: Layout = NOTEBOOK
              ) -> Plan:
    """The plan of ``make_sharded_files(..., splits, shards)`` run after ``random.seed(seed)``,
    its shard files named in ``layout``."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    if any(n < 0 for n in splits.values()) or sum(splits.values()) == 0:
        raise ValueError(f"splits must be non-negative and ask for some example, got {splits}")
    getrandbits = random.Random(seed).getrandbits
    left = list(splits.values())
    order = range(len(left))
    ids: list[int] = []
    for total in range(sum(left), 0, -1):
        # rand_key inlined (about a third of the time): CPython's randint(0, total) is this
        # rejection sampling of getrandbits; the tests hold it to rand_key.
        n = total + 1
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        for i in order:
            count = left[i]
            if r > count or count == 0:
                r -= count
            else:
                left[i] = count = count - 1
                ids.append(i * shards + count % shards)
                break
    shard_id = np.array(ids, dtype=np.int32)
    return Plan(splits=dict(splits), shards=shards, seed=seed, shard_id=shard_id, layout=layout)


MIN_RANGE = 2048  # fewest rounds worth a task of its own when classes are split into ranges


def class_ranges(needed: int, classes: int, workers: int) -> list[list[tuple[int, int]]]:
    """The round ranges of every class's encode tasks: one range a class, unless workers would
    idle beside the last tasks.  With fewer classes than workers every class is split; else
    the last ``classes % workers`` classes are, each into enough ranges to fill that last
    wave of tasks.  A range reads its file from the start, so ranges are never shorter than
    MIN_RANGE rounds."""

    def split(parts: int) -> list[tuple[int, int]]:
        parts = max(1, min(parts, needed // MIN_RANGE))
        return [(needed * p // parts, needed * (p + 1) // parts) for p in range(parts)]

    if classes < workers:
        return [split(math.ceil(workers / classes))] * classes
    left = classes % workers
    return [split(1)] * (classes - left) + [split(math.ceil(workers / max(1, left)))] * left
