"""The checks a build makes before and between its phases, whatever executes it: its
options (the kinds' codecs, compression, the splits each layout can write), what the input
files can hold, the splits that counted drawings give (and the plans made of them), classes
with too few drawings and a drawing in two classes.  Each error says what is wrong and what
to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from fastdraw.build.encode import EncodeResult
from fastdraw.build.options import BuildOptions
from fastdraw.build.plan import Plan, make_plan, resolve_splits
from fastdraw.codecs import Codec
from fastdraw.dataset import layout
from fastdraw.dataset.tfrecord import check_compression
from fastdraw.errors import BuildError, OptionError
from fastdraw.sources import open_source
from fastdraw.sources.classes import sample_dir

log = logging.getLogger(__name__)

BATCH = 100  # the workshop notebooks' batch size: a split with fewer examples gets a warning


def checked_codecs(opts: BuildOptions) -> dict[str, Codec]:
    """Every kind's codec, once the options a build of any executor needs are checked."""
    if len(opts.files) != len(opts.classes):
        raise ValueError("one input file per class")
    if not 1 <= opts.shards <= layout.MAX_SHARDS:
        raise OptionError(f"--shards must be 1 to {layout.MAX_SHARDS}, not {opts.shards} (shard "
                          "files are named <split>-NNNNN-of-NNNNN, five digits each)")
    if opts.seed < 0:  # random.seed(-n) is random.seed(n): another seed's plan, unsaid
        raise OptionError(f"--seed must be 0 or more, not {opts.seed} (Python's random would "
                         f"take it as {-opts.seed}, giving --seed {-opts.seed}'s plan)")
    try:
        check_compression(opts.compression)
        codecs = {kind: opts.codec(kind) for kind in opts.splits}
        for codec in codecs.values():
            codec.check_options()
    except ValueError as e:
        raise OptionError(str(e)) from None
    for kind, codec in codecs.items():
        lay = layout.layout_of(codec)
        if problem := lay.split_problem(opts.splits[kind]):
            raise OptionError(f"--kind {kind}: {problem}")
        if opts.compression != "none" and not lay.sharded:
            raise OptionError(f"--kind {kind}: --compression {opts.compression}: the "
                             f"{lay.name} layout's files are not TFRecord shards; build "
                             f"{kind} without --compression")
    return codecs


def needs_counts(opts: BuildOptions) -> bool:
    """Whether some kind's splits are fractions, which counting the usable drawings of every
    class resolves."""
    return any(isinstance(v, Fraction) for s in opts.splits.values() for v in s.values())


def check_files_can_hold(opts: BuildOptions) -> None:
    """Stops a build whose split counts ask for more drawings per class than some file's size
    allows (such as a typo in --splits) before the plan takes its time and memory."""
    counted = {kind: s for kind, s in opts.splits.items()
               if not any(isinstance(v, Fraction) for v in s.values())}
    if not counted:
        return
    kind, splits = max(counted.items(), key=lambda item: sum(item[1].values()))
    needed = sum(splits.values())
    small = [(path, most) for path in opts.files
             if (most := open_source(path).most_drawings()) < needed]
    if small:
        split_text = "+".join(f"{s}={n}" for s, n in splits.items())
        raise BuildError(
            f"{kind} asks for {needed} drawings per class ({split_text}), more than "
            + ", ".join(f"{path} can hold (at most {most}, from its size)" for path, most in small)
            + ". Nothing was written: ask for fewer examples per class with --splits (counts, "
            "or fractions such as train=0.7,eval=0.15,test=0.15)")


def warn_small_splits(opts: BuildOptions, plans: dict[str, Plan]) -> None:
    """Says which splits hold fewer examples than a batch: a training loop that takes
    ``steps_per_epoch = examples // batch_size`` takes no step at all on them."""
    sample = Path(sample_dir())
    what_to_do = ("for real volume leave out --sample, or ask for more examples with --splits"
                  if all(Path(str(f)).parent == sample for f in opts.files) else
                  "ask for more examples per class with --splits, if the class files hold them")
    for kind, plan in plans.items():
        small = [f"{name} {n * len(opts.classes)}" for name, n in plan.splits.items()
                 if 0 < n * len(opts.classes) < BATCH]
        if small:
            log.warning("%s: %s: fewer examples than a batch of %d (steps_per_epoch = "
                        "examples // batch_size would be 0); %s", opts.target(kind),
                        ", ".join(small), BATCH, what_to_do)


def resolved_splits(opts: BuildOptions, counts: Sequence[int]) -> dict[str, dict[str, int]]:
    """Every kind's examples per class and split: counts as given, fractions of the smallest
    of ``counts`` (every class's usable drawings, when `needs_counts`)."""
    if not needs_counts(opts):
        return {kind: resolve_splits(s, 0) for kind, s in opts.splits.items()}
    smallest = min(counts)
    j = list(counts).index(smallest)
    log.info("smallest class: %r with %d %s", opts.classes[j], smallest, opts.usable())
    out = {}
    for kind, spec in opts.splits.items():
        out[kind] = resolve_splits(spec, smallest)
        if sum(out[kind].values()) == 0:
            raise BuildError(f"the smallest class, {opts.classes[j]!r}, has {smallest} "
                             f"{opts.usable()}: the split fractions give no example; "
                             "give the splits as counts, or add drawings")
        empty = [f"{name}={float(spec[name]):g}" for name, n in out[kind].items()
                 if n == 0 and spec[name] > 0]
        if empty:
            raise BuildError(
                f"{kind}: {' and '.join(empty)} of the smallest class's {smallest} "
                f"{opts.usable()} ({opts.classes[j]!r}) rounds down to no example, so "
                f"{'those splits' if len(empty) > 1 else 'that split'} would be empty. Nothing "
                "was written: add drawings (the bundled sample is for trying the pipeline: "
                "leave out --sample and the class files are downloaded), give the splits as "
                "counts, or ask for =0 to mean an empty split")
    return out


def make_plans(opts: BuildOptions, codecs: Mapping[str, Codec],
               splits: Mapping[str, dict[str, int]]) -> dict[str, Plan]:
    """Every kind's seeded plan of its resolved ``splits``, its shards named in the kind's
    layout (a layout of one file per class has no shards: a split is one shard id, one place
    of the records between the phases)."""
    plans = {}
    for kind, s in splits.items():
        kind_layout = layout.layout_of(codecs[kind])
        plans[kind] = make_plan(s, opts.shards if kind_layout.sharded else 1, opts.seed,
                                kind_layout)
    return plans


def check_enough_drawings(opts: BuildOptions, plans: Mapping[str, Plan],
                          results: Mapping[int, EncodeResult]) -> None:
    """Stops the build, before any shard is written, when a class had fewer usable drawings
    than a kind's plan takes (``results``: every class's last range's, by label)."""
    short = []
    for kind, plan in plans.items():
        few = [(opts.classes[j], r) for j, r in sorted(results.items())
               if r.usable < plan.rounds]
        if few:
            split_text = "+".join(f"{s}={n}" for s, n in plan.splits.items())
            short.append(f"{kind} needs {plan.rounds} {opts.usable()} per class ({split_text}); "
                         "too few in " + ", ".join(
                             f"{c!r} ({r.usable}" + (f"; {r.rejected}" if r.rejected.count
                                                     else "") + ")" for c, r in few))
    if short:
        raise BuildError("not enough drawings: " + "; ".join(short) + ". Nothing was written: "
                         "ask for fewer examples per class with --splits (counts, or fractions "
                         "such as train=0.7,eval=0.15,test=0.15)"
                         + ("" if opts.include_unrecognized else
                            ", or add --include-unrecognized"))


def repeat_error(opts: BuildOptions, repeat: tuple[int, int, int, int, int]) -> BuildError:
    """The error that stops a build, before any shard is written, when two class files share a
    drawing: ``repeat`` is (key_id, label, line, other label, other line)."""
    key, a, line_a, b, line_b = repeat
    return BuildError(f"key_id {key} is in {opts.files[a]} line {line_a} and in "
                      f"{opts.files[b]} line {line_b}: one drawing in two classes would be "
                      "in two places of the dataset, maybe in two splits. Nothing was "
                      "written: delete it from one of the files")
