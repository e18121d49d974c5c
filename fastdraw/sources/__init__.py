"""Where drawings come from: class names and groups, the public bucket, and the readers of
class files behind one interface (`open_source`)."""

from fastdraw.sources.base import (
    CLASS_FILE_SUFFIXES,
    FORMATS,
    Rejection,
    Source,
    class_file,
    open_source,
    read_drawings,
)

__all__ = ["CLASS_FILE_SUFFIXES", "FORMATS", "Rejection", "Source", "class_file", "open_source",
           "read_drawings"]
