"""The split/shard plan replays the notebook's make_sharded_files draws exactly."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from fastdraw.build.plan import (
    MIN_RANGE,
    class_ranges,
    make_plan,
    parse_splits,
    rand_key,
    resolve_splits,
)
from fastdraw.notebook import reference


def notebook_shard_ids(splits: dict[str, int], shards: int, seed: int) -> list[int]:
    """The (split index, shard) of every round of the notebook's loop, as split * shards + shard."""
    random.seed(seed)
    counts = dict(splits)
    names = list(splits)
    out = []
    for _ in range(sum(splits.values())):
        split = reference.rand_key(counts)
        out.append(names.index(split) * shards + counts[split] % shards)
    return out


@pytest.mark.parametrize("splits,shards,seed", [
    ({"train": 5000, "eval": 1000, "test": 1000}, 10, 0),
    ({"train": 50000, "eval": 10000, "test": 10000}, 10, 3),  # draws past 2**16
    ({"train": 70, "eval": 15, "test": 15}, 10, 1),
    ({"train": 7, "eval": 1, "test": 1}, 3, 12345),
    ({"eval": 3, "train": 0, "test": 40}, 1, 7),
    ({"a": 1}, 4, 0),
])
def test_plan_replays_the_notebooks_rand_key_draws(splits, shards, seed):
    plan = make_plan(splits, shards, seed)
    assert plan.shard_id.tolist() == notebook_shard_ids(splits, shards, seed)
    assert plan.rounds == sum(splits.values())
    per_split = np.bincount(plan.shard_id // shards, minlength=len(splits))
    assert per_split.tolist() == list(splits.values())
    assert plan.rounds_per_shard().sum() == plan.rounds
    assert len(plan.shard_names) == len(splits) * shards


def test_plan_does_not_touch_the_global_random_state():
    random.seed(99)
    before = random.getstate()
    make_plan({"train": 50, "eval": 10}, 5, 0)
    assert random.getstate() == before


def test_plan_shard_names_follow_the_notebook():
    plan = make_plan({"train": 3, "eval": 1, "test": 1}, 2, 0)
    assert plan.shard_names == [
        "train-00000-of-00002", "train-00001-of-00002", "eval-00000-of-00002",
        "eval-00001-of-00002", "test-00000-of-00002", "test-00001-of-00002",
    ]


def test_rand_key_matches_the_reference_and_mutates_counts():
    rng = random.Random(5)
    random.seed(5)
    ours = {"train": 10, "eval": 0, "test": 3}
    theirs = dict(ours)
    for _ in range(13):
        assert rand_key(ours, rng) == reference.rand_key(theirs)
        assert ours == theirs
    assert ours == {"train": 0, "eval": 0, "test": 0}
    assert rand_key(ours, rng) is None and reference.rand_key(theirs) is None


def test_rand_key_defaults_to_the_global_random():
    random.seed(3)
    first = [rand_key({"a": 5, "b": 5}) for _ in range(20)]
    random.seed(3)
    assert first == [reference.rand_key({"a": 5, "b": 5}) for _ in range(20)]


def test_parse_splits_counts_keep_their_order():
    splits = parse_splits("test=1000, train=5000,eval=1000")
    assert splits == {"test": 1000, "train": 5000, "eval": 1000}
    assert list(splits) == ["test", "train", "eval"]


def test_parse_splits_fractions_are_exact_and_resolve_downwards():
    splits = parse_splits("train=0.7,eval=0.15,test=0.15")
    assert splits == {"train": Fraction(7, 10), "eval": Fraction(3, 20), "test": Fraction(3, 20)}
    assert resolve_splits(splits, 11) == {"train": 7, "eval": 1, "test": 1}
    assert resolve_splits(parse_splits("a=0.29,b=0"), 100) == {"a": 29, "b": 0}
    assert resolve_splits(parse_splits("a=5,b=2"), 1) == {"a": 5, "b": 2}


@pytest.mark.parametrize("text,words", [
    ("train", "NAME=VALUE"),
    ("train=", "NAME=VALUE"),
    ("train=5,train=3", "twice"),
    ("tr/ain=5", "letters"),
    ("train=5000,eval=0.1", "fraction in [0, 1]"),
    ("train=-3", "train=-3 is negative"),
    ("train=5,eval=-1", "eval=-1 is negative"),
    ("train=0.5,eval=-0.1", "eval=-0.1 is negative"),
    ("train=x", "neither a count nor a fraction"),
    ("train=0.7,eval=0.4", "more than 1"),
    ("train=0,eval=0", "no example"),
    ("train=0.0", "no example"),
])
def test_parse_splits_says_what_is_wrong(text, words):
    with pytest.raises(ValueError) as e:
        parse_splits(text)
    assert words in str(e.value)
    assert text in str(e.value)


@pytest.mark.parametrize("splits,shards", [({"a": 0}, 1), ({"a": 1}, 0), ({"a": -1, "b": 2}, 1)])
def test_make_plan_refuses_impossible_plans(splits, shards):
    with pytest.raises(ValueError):
        make_plan(splits, shards, 0)


@pytest.mark.parametrize(("classes", "workers", "parts"), [
    (3, 1, [1, 1, 1]),  # one worker: never split
    (3, 2, [1, 1, 2]),  # the last wave holds one class: split it for the idle worker
    (4, 2, [1, 1, 1, 1]),  # full waves
    (3, 4, [2, 2, 2]),  # fewer classes than workers: every class
    (43, 32, [1] * 32 + [3] * 11),  # 11 classes left for 32 workers: 3 ranges each
])
def test_classes_are_split_into_ranges_where_workers_would_idle(classes, workers, parts):
    ranges = class_ranges(10_000, classes, workers)
    assert [len(r) for r in ranges] == parts
    for r in ranges:  # consecutive ranges covering every round
        assert r[0][0] == 0 and r[-1][1] == 10_000
        assert all(a[1] == b[0] for a, b in zip(r, r[1:]))
    # Never shorter than MIN_RANGE rounds: too few rounds to split, one range each.
    assert class_ranges(MIN_RANGE, classes, workers) == [[(0, MIN_RANGE)]] * classes
