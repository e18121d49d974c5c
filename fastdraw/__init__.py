"""fastdraw: Quick, Draw! drawings into TensorFlow datasets, fast and exact.

The notebook's functions, same names, same arguments, same results:
`convert`, `loaditer`, `loadn`, `json_to_img`, `json_to_stroke`,
`make_example_img`, `make_example_stroke`, `make_sharded_files`.
TensorFlow is imported only by the functions that return TensorFlow objects.
"""

from fastdraw.example import make_example_img, make_example_stroke
from fastdraw.ndjson import convert, loaditer, loadn
from fastdraw.raster import json_to_img
from fastdraw.sharded import make_sharded_files
from fastdraw.strokes import json_to_stroke

__version__ = "0.1.0"

__all__ = [
    "convert",
    "json_to_img",
    "json_to_stroke",
    "loaditer",
    "loadn",
    "make_example_img",
    "make_example_stroke",
    "make_sharded_files",
]
