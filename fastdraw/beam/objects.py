"""Publishing a Beam build's datasets on an object store (an ``--out`` URL), where there are
no links to switch and no directory to rename: the build wrote every object under its
temporary prefix ``<out>/.<name>.tmp-<id>/``, and publishing moves them into place.

What the move costs: an object store moves an object by copying it on its side and deleting
the original (GCS: a rewrite, S3: CopyObject), so two billed requests per object and no
byte through the driver; S3 copies at a speed in proportion to the object's size.  What it
cannot give is one atomic step: for each dataset, its old objects go (manifest.json first),
then the new ones come, manifest.json first and the data files (shards, or class files)
last.  A reader that starts meanwhile finds a manifest whose data files are not all there
yet, and fails, naming the missing one (so does `verify`); once the last one has moved, the
dataset is whole.  A
build interrupted during the move leaves it so: run the build again.  Builds on an object
store do not take turns (there is no lock), so two builds of one name into one ``--out`` at
once must be avoided; the temporaries a killed build left are named, not removed.
"""

from __future__ import annotations

import logging
import re

from fastdraw.beam.storage import BeamPath, delete, move
from fastdraw.dataset import layout
from fastdraw.errors import BuildError
from fastdraw.progress import size_text

log = logging.getLogger(__name__)


def target_problem(target: BeamPath, overwrite: bool) -> str | None:
    """Why a dataset cannot be published at ``target``, or None: without ``overwrite`` it
    must hold no object; with it, dataset files only."""
    found = target.objects()
    if not found:
        return None
    if not overwrite:
        return (f"{target} already exists: pass --overwrite to replace it (or choose another "
                "--name or --out)")
    foreign = [p.url[len(target.url) + 1:] for p in found
               if p.parent != target or not layout.is_dataset_file(p.name)]
    if not foreign:
        return None
    shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4
                                      else "")
    return (f"{target} is not a dataset (it holds {shown}): --overwrite replaces datasets "
            "only; move it away, or choose another --name or --out")


def name_leftovers(out: BeamPath, name: str) -> None:
    """Names what earlier builds of ``name`` left in ``out`` (killed ones, or ones still
    running: without a lock nothing tells them apart), for the user to remove."""
    pattern = re.compile(rf"\.{re.escape(name)}\.tmp-[0-9a-f]{{8}}")
    left: dict[str, int] = {}
    for p in out.objects():
        first = p.url[len(out.url) + 1:].split("/", 1)[0]
        if pattern.fullmatch(first):
            left[first] = left.get(first, 0) + p.size()
    for prefix, nbytes in sorted(left.items()):
        log.warning("%s (%s): left by an interrupted build of %r, or one still running; "
                    "remove it once no other build of %r runs", out / prefix,
                    size_text(nbytes), name, name)


def _in_turn(objects: list[BeamPath]) -> list[list[BeamPath]]:
    """The objects of a dataset in the groups a publish handles one after the other: the
    manifest, the other metadata files (the class-names file, counts, rejected lines, the
    TFDS metadata), the data files (shards, or a file per class); a group's requests may go
    together."""
    manifest = [p for p in objects if p.name == layout.MANIFEST]
    data = [p for p in objects if layout.is_data_file(p.name)]
    return [manifest, [p for p in objects if p not in manifest + data], data]


def publish_objects(work: BeamPath, targets: dict[str, BeamPath], overwrite: bool) -> None:
    """Moves every kind's dataset from ``work/<kind>/`` to its target (replacing what is
    there with ``overwrite``), then deletes ``work``."""
    for target in targets.values():
        if problem := target_problem(target, overwrite):
            raise BuildError(problem)
    for target in targets.values():
        for group in _in_turn(target.objects()):
            delete(group)
    for kind, target in targets.items():
        for group in _in_turn((work / kind).objects()):
            move(group, [target / p.name for p in group])
        log.debug("moved %s into %s", work / kind, target)
    delete(work.objects())
