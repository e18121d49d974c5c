"""Building datasets: the seeded plan, the two phases on an executor, the spool between them,
the shard writer and the all-or-nothing publish."""

from fastdraw.build.builder import Built, build
from fastdraw.build.options import BuildOptions

__all__ = ["BuildOptions", "Built", "build"]
