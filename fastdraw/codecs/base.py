"""What a record is: `Codec`, one subclass per dataset kind.

A codec knows everything about its kind's records and nothing about where they go: its
feature keys and types, the batch encoder (`Drawings` to serialized Examples), the packed
form the builder's spool keeps and its unpacker, the parse spec and decoder of the tf.data
readers, the checks `verify` runs on every record, and how `preview` draws one.  A new
kind or encoding is one new codec, registered in `fastdraw.codecs.CODECS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from fastdraw.codecs import tfds
from fastdraw.drawings import Drawings, timestamps
from fastdraw.sources.base import MAX_ITEM, MAX_POINTS

RECORD_POINT_BYTES = 16  # the most a point costs any record (three float32 values: 12)
RECORD_MARGIN = 1 << 20  # feature names, lengths and the fields of fixed size

# The notebook's metadata features, the same in every kind, and their types.
METADATA = {"label": "int", "countrycode": "bytes", "recognized": "int", "word": "bytes",
            "timestamp": "int", "key_id": "int"}


class RecordChecks(Protocol):
    """What a codec's `Codec.check` is given by verify: a window of records scanned into a
    feature table (one row per feature of every record, the columns of
    `fastdraw.codecs.proto.scan_examples`)."""

    buf: np.ndarray  # the window's records' bytes (the table's offsets are into it)
    table: np.ndarray
    columns: dict[str, np.ndarray]  # feature name -> its table row per record, -1: none

    def column(self, name: str, column: int) -> tuple[np.ndarray, np.ndarray]:
        """(records that have feature ``name``, its ``column`` there)."""

    def add(self, what: str, records: np.ndarray, detail: Callable[[int], str]) -> None:
        """Records (window indices, ascending) that have problem ``what``; ``detail`` says
        more of one of them."""


@dataclass(frozen=True)
class Codec(ABC):
    """How drawings become records of one kind, and how those records are read back.

    Instances are small and picklable: the builder sends them to its workers.
    """

    kind: ClassVar[str]
    default_splits: ClassVar[str]  # examples per class of a build that names no --splits
    sample_splits: ClassVar[str] = "train=0.7,eval=0.15,test=0.15"  # the same with --sample
    layout: ClassVar[str] = "notebook"  # its files' names: fastdraw.dataset.layout.LAYOUTS
    label_feature: ClassVar[str] = "label"  # the feature holding a record's label
    # The build options its manifests record (beside splits, shards, seed and
    # include_unrecognized), by the names of `BuildOptions.record_options`.
    recorded_options: ClassVar[tuple[str, ...]] = ("img_size", "line_width", "maximize",
                                                   "notebook_time")
    notebook_time: bool = False  # timestamps as the notebook's local-time mktime, not UTC

    # -------------------------------------------------------------------------- naming

    @classmethod
    @abstractmethod
    def from_options(cls, options: Mapping[str, Any]) -> Codec:
        """The codec a build with these options uses (the build's options, or a manifest's
        ``options``: the same names)."""

    @classmethod
    @abstractmethod
    def from_features(cls, names: Collection[str]) -> Codec | None:
        """The codec whose records have these feature names, or None: for datasets without
        a manifest (the notebook's own)."""

    @abstractmethod
    def features(self) -> dict[str, str]:
        """Every feature of a record, by name: "int", "float" or "bytes"."""

    def metadata(self) -> dict[str, str]:
        """The features of `features` that describe the drawing rather than hold it (verify
        checks their values: one each, the label in range, the word its class's, key_ids
        not repeated): the notebook's six, in the notebook's kinds."""
        return dict(METADATA)
    def made_with(self) -> dict[str, Any]:
        """What decides the records' bytes beyond the options and versions a manifest records
        (an encoder's library and settings), for the manifest's ``made_with``."""
        return {}

    def check_options(self) -> None:  # noqa: B027 (most codecs have no option to check)
        """Raises ValueError, naming the option, when the codec's options cannot work."""

    @property
    def working_bytes(self) -> int:
        """Bytes of working memory a drawing takes while it is encoded (beyond its points):
        a worker encodes fewer drawings at a time where this is large."""
        return 0

    def max_record_bytes(self) -> int:
        """The most bytes a record of one drawing can take: text fields as long as the longest
        item a reader passes on, RECORD_POINT_BYTES for each of its points and a margin (an
        image codec adds its pixels).  The readers of a build's files refuse a longer record
        before they hold it, so a hostile length costs no memory."""
        return RECORD_MARGIN + 2 * MAX_ITEM + RECORD_POINT_BYTES * MAX_POINTS

    # -------------------------------------------------------------------------- writing

    @abstractmethod
    def unusable(self, drawings: Drawings) -> dict[int, str]:
        """The drawings of the batch this codec cannot encode exactly, by index, each with
        the reason (said of "the drawing", with what to do): a build rejects them as it
        rejects bad lines, so that what it writes is what the notebook would have written."""

    def examples(self, label: int, drawings: Drawings, gaps: tuple[int, int] = (0, 0)
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The batch's serialized Examples: (buf uint8, slots int64 (N + 1,)), slot i
        (``buf[slots[i]:slots[i + 1]]``) holding ``gaps[0]`` unwritten bytes, Example i and
        ``gaps[1]`` unwritten bytes (room for a frame around it)."""
        return self.encode(self._labels(label, drawings),
                           timestamps(drawings, self.notebook_time), drawings, gaps)

    def packed(self, label: int, drawings: Drawings, gaps: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch's records as the builder's spool keeps them until a shard is written:
        (buf uint8, offsets int64 (N + 1,), each record's size once unpacked, gaps
        included).  `unpack` gives back the bytes of ``examples(label, drawings, gaps)``."""
        return self.pack(self._labels(label, drawings),
                         timestamps(drawings, self.notebook_time), drawings, gaps)

    @abstractmethod
    def encode(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
               gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """`examples` with a label and a timestamp per drawing."""

    @abstractmethod
    def pack(self, labels: np.ndarray, stamps: np.ndarray, drawings: Drawings,
             gaps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`packed` with a label and a timestamp per drawing."""

    @abstractmethod
    def unpack(self, src: np.ndarray, starts: np.ndarray, sizes: np.ndarray, out: np.ndarray,
               at: np.ndarray) -> None:
        """Unpacks record ``src[starts[i]:starts[i] + sizes[i]]`` into ``out[at[i]:]`` for
        every i (``out`` has room for their unpacked sizes)."""

    @staticmethod
    def _labels(label: int, drawings: Drawings) -> np.ndarray:
        return np.full(len(drawings), label, dtype=np.int64)

    # -------------------------------------------------------------------------- reading

    @abstractmethod
    def tf_decoder(self, **options: Any) -> tuple[dict, Callable]:
        """(spec for ``tf.io.parse_example``, decode: parsed batch -> the reader's tuple)."""

    def tfds_features(self, classes: int) -> dict[str, dict[str, Any]]:
        """Every feature as a TFDS feature connector's JSON (fastdraw.codecs.tfds), for the
        features.json with which ``tfds.builder_from_directory`` reads the records: the
        label a ClassLabel of ``classes`` names, the other metadata tensors and texts.  A
        kind adds its own."""
        scalar = tfds.tensor((), "int64")
        return {"label": tfds.class_label(classes), "countrycode": tfds.text(),
                "recognized": scalar, "word": tfds.text(), "timestamp": scalar,
                "key_id": scalar}

    def supervised_keys(self) -> tuple[str, str] | None:
        """(input, target) features of TFDS's ``as_supervised``, or None."""
        return None

    @abstractmethod
    def check(self, records: RecordChecks) -> None:
        """The kind's checks of a window of records, beyond the metadata's (verify)."""

    @abstractmethod
    def picture(self, features: Mapping[str, Any], size: int) -> np.ndarray:
        """One record (parsed features) drawn back as a square uint8 picture of about
        ``size`` pixels a side (preview).  Raises ValueError when it cannot be drawn."""

    # -------------------------------------------------------------------------- kernels

    @abstractmethod
    def warmup_drawing(self) -> None:
        """Compiles (or loads) the kernels that turn drawings into this kind's values."""

    @abstractmethod
    def warmup_records(self) -> None:
        """Compiles (or loads) the kernels that encode, pack and unpack records."""

    @staticmethod
    def warmup_batch() -> Drawings:
        """A batch of one small drawing with a fractional point, for the warmups: it takes
        the kernels' every type of input."""
        return Drawings.from_dicts([{"drawing": [[[0, 1], [0, 1]], [[2.5], [3]]], "key_id": "1",
                                     "word": "w", "countrycode": "XX", "recognized": True,
                                     "timestamp": "2017-01-01 00:00:00.0 UTC"}])

    @abstractmethod
    def record_kernels(self) -> list:
        """The numba dispatchers `warmup_records` compiles (to ask numba's cache for)."""
