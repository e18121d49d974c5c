"""fastdraw's build on Apache Beam: the same plan, codecs, checks and shard writer as the local
build, the same bytes, on any Beam runner (Dataflow, Flink, Spark, or this machine).

    import fastdraw.beam
    fastdraw.beam.build(opts, ["--runner=DataflowRunner", "--project=...", ...])

or, in a pipeline of one's own::

    with fastdraw.beam.BeamBuild(opts) as b:
        with beam.Pipeline(options=...) as pipeline:
            pipeline | b.transform()

``pip install "fastdraw[beam]"`` installs Apache Beam; docs/beam.md has worked commands.
apache_beam is imported by this package only.
"""

from fastdraw.beam.driver import BeamBuild, build, pipeline_options, storage_options
from fastdraw.beam.pipeline import BuildDatasets
from fastdraw.beam.storage import BeamPath, class_files, storage_path

__all__ = ["BeamBuild", "BeamPath", "BuildDatasets", "build", "class_files", "pipeline_options",
           "storage_options", "storage_path"]
