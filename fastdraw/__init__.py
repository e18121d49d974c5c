"""fastdraw: Quick, Draw! drawings into TensorFlow datasets, fast and exact.

The notebook's functions, same names, same arguments, same results: all twelve of them,
`list_bucket`, `retrieve`, `convert`, `loaditer`, `loadn`, `json_to_img`, `showimg`,
`json_to_stroke`, `make_example_img`, `make_example_stroke`, `rand_key`,
`make_sharded_files`; and the official ``numpy_bitmap`` rendering: `official_bitmaps` (a
`Drawings` batch) and `official_bitmap` (one drawing dict).
They are imported on first use, so `import fastdraw` stays light (and `python -m fastdraw`
reaches the code that takes Ctrl-C quickly); TensorFlow is imported only by the functions
that return TensorFlow objects.  `__version__` is read from the package metadata on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_DROP_INS = {
    "list_bucket": "fastdraw.notebook.bucket",
    "retrieve": "fastdraw.notebook.bucket",
    "convert": "fastdraw.notebook.dropins",
    "json_to_img": "fastdraw.notebook.dropins",
    "json_to_stroke": "fastdraw.notebook.dropins",
    "loaditer": "fastdraw.notebook.dropins",
    "loadn": "fastdraw.notebook.dropins",
    "make_example_img": "fastdraw.notebook.dropins",
    "make_example_stroke": "fastdraw.notebook.dropins",
    "make_sharded_files": "fastdraw.notebook.sharded",
    "rand_key": "fastdraw.notebook.dropins",
    "showimg": "fastdraw.notebook.dropins",
    # The official numpy_bitmap rendering (cairo's pixels): a batch, and one drawing.
    "official_bitmaps": "fastdraw.kernels.bitmap",
    "official_bitmap": "fastdraw.kernels.bitmap",
}

__all__ = sorted(_DROP_INS)


def __getattr__(name: str) -> Any:
    if name in _DROP_INS:
        return getattr(importlib.import_module(_DROP_INS[name]), name)
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("fastdraw")
        except metadata.PackageNotFoundError:  # run from a source tree that is not installed
            return "unknown"
    raise AttributeError(f"module 'fastdraw' has no attribute {name!r}")
