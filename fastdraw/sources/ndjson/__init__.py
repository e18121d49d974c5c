"""The ndjson source (``<class>.ndjson``, ``<class>.ndjson.gz``), split by job: the line
checker (`check`), block I/O (`blocks`), the numba scanner (`scan`) and the reader."""
