"""The Beam build's driver: the local build's checks and temporary directory before the
pipeline, its publish and summary after it, and the runner the pipeline runs on.

An ``--out`` path publishes as the local build does (fastdraw.build.publish: links into a
build directory, switched in one step; builds of one name take turns); an ``--out`` URL
publishes on its object store (fastdraw.beam.objects).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from fastdraw.beam.objects import name_leftovers, publish_objects
from fastdraw.beam.objects import target_problem as object_target_problem
from fastdraw.beam.pipeline import NAMESPACE, SCRATCH, WORKER_MIB, BuildDatasets, Job, read_failure
from fastdraw.beam.storage import BeamPath, StoragePath, delete, storage_path
from fastdraw.build.builder import check_out, check_targets, make_out
from fastdraw.build.checks import check_files_can_hold, checked_codecs
from fastdraw.build.finish import Built, summary
from fastdraw.build.finish import versions as manifest_versions
from fastdraw.build.options import BuildOptions
from fastdraw.build.publish import (
    new_workdir,
    publish,
    remove_leftovers,
    taking_turns,
)
from fastdraw.build.screen import Screen
from fastdraw.build.warmup import warmup
from fastdraw.codecs import Codec
from fastdraw.dataset import layout
from fastdraw.dataset.tfrecord import FRAME_HEAD, FRAME_TAIL
from fastdraw.errors import BuildError
from fastdraw.sources import open_source, remote

log = logging.getLogger(__name__)

WINDOW_BYTES = 32 << 20  # record bytes of a unit's window: what a worker holds per element
SAMPLE = 256  # drawings of the first class file whose records size the windows
UNSAMPLED = 16 << 10  # record bytes assumed when the first class file has no usable drawing
SDK_WORKER = b"apache_beam.runners.worker.sdk_worker_main"  # the local runner's worker processes
WORKERS_GONE = 10.0  # seconds an interrupt waits for the killed worker processes to go
REMOVE_PASSES = 5  # tries at removing the temporary directory that steps may still write in


def storage_options(opts: BuildOptions) -> BuildOptions:
    """``opts`` with its ``out`` and ``files`` as the Beam build takes them (given as text, Path
    or BeamPath): ``out`` a BeamPath for a URL, else a Path; the class files' URLs as text
    (as the sources read them), local files as Paths."""
    files = [str(f) if isinstance(f, (str, BeamPath)) and remote.is_url(str(f)) else Path(f)
             for f in opts.files]
    return replace(opts, out=storage_path(opts.out), files=files)


class BeamBuild:
    """One build of ``opts`` on Beam, around the pipeline that runs it::

        with BeamBuild(opts) as b:
            with beam.Pipeline(options=...) as pipeline:
                pipeline | b.transform()
        b.built  # what was published

    Entering checks what the local build checks before its work (options, targets, what the
    input files can hold), takes the build's turn (an ``--out`` path) and makes the temporary
    directory.  Leaving publishes the datasets when the pipeline succeeded; else it removes
    the temporary directory and raises the build's own error (BadInputError: a bad line
    under --strict; BuildError: a short class, a drawing in two classes, ...) when a step
    stopped the build, or a BuildError naming the pipeline's failure.
    """

    def __init__(self, opts: BuildOptions, window_bytes: int = WINDOW_BYTES) -> None:
        self.opts = storage_options(opts)
        self.codecs = checked_codecs(self.opts)
        self.window_bytes = window_bytes
        self.built: list[Built] = []
        self._job: Job | None = None
        self._stack = ExitStack()
        self._ending = threading.Event()  # set once the pipeline has ended, or is stopped
        self._ended = threading.Event()  # set once the build has ended

    @property
    def local(self) -> bool:
        """Whether ``--out`` is a local path (else a URL)."""
        return isinstance(self.opts.out, Path)

    @property
    def job(self) -> Job:
        if self._job is None:
            raise RuntimeError("a BeamBuild makes its job when its with block starts")
        return self._job

    def transform(self) -> BuildDatasets:
        """The build's PTransform, to apply to the pipeline's root."""
        return BuildDatasets(self.job)

    def __enter__(self) -> BeamBuild:
        opts = self.opts
        versions = manifest_versions()
        if self.local:
            check_out(opts)
        else:
            for kind in opts.splits:
                if problem := object_target_problem(opts.target(kind), opts.overwrite):
                    raise BuildError(problem)
        check_files_can_hold(opts)
        record_bytes = _record_bytes(opts, self.codecs)
        try:
            self._interrupt_ends_workers()
            work = self._workdir()
        except BaseException:
            self._stack.close()
            raise
        self._job = Job(opts, self.codecs, work, versions, self.window_bytes, record_bytes)
        return self

    def _interrupt_ends_workers(self) -> None:
        """Until the build ends, Ctrl-C and SIGTERM interrupt it (so that it cleans up) once the
        worker processes of Beam's local runner are killed: sent to this process alone, neither
        reaches them, and the runner, interrupted, waits for them for ever.  A worker process
        that ends before the pipeline does (killed while it started, say, which the runner
        would wait for, for ever) stops the build the same way, with a BuildError."""
        died: list[str] = []

        def interrupt(signum: int, frame: object) -> None:
            if died and self._ending.is_set():  # a worker's end, told once the build ended
                return
            if not self._ending.is_set():
                self._ending.set()
                # Workers the runner starts meanwhile go too, until the build has ended.
                threading.Thread(target=self._end_workers_until_ended, daemon=True).start()
            _end_local_workers()
            if died:
                raise BuildError(f"a worker process of Beam's local runner ended ({died[0]}) "
                                 "before the pipeline did: nothing was written (temporary "
                                 "files removed); run the build again, with fewer --workers "
                                 "if memory was short")
            raise KeyboardInterrupt

        def worker_ended(args: threading.ExceptHookArgs) -> None:
            # The runner waits for each worker process in a thread of this name, which raises
            # when the process ends with an error (killed by the build itself, once it ends).
            if args.thread is None or args.thread.name != "run_worker":
                previous_hook(args)
            elif not self._ending.is_set() and not died:
                died.append(str(args.exc_value))
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

        self._stack.callback(self._ended.set)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous = signal.signal(sig, interrupt)
            except ValueError:  # not the main thread: leave signals alone
                return
            self._stack.callback(signal.signal, sig, previous)
        previous_hook = threading.excepthook
        threading.excepthook = worker_ended
        self._stack.callback(setattr, threading, "excepthook", previous_hook)

    def _end_workers_until_ended(self) -> None:
        while not self._ended.wait(0.05):
            _end_local_workers()

    def _workdir(self) -> StoragePath:
        """The build's temporary directory, its turn taken (a local --out)."""
        opts = self.opts
        if not self.local:
            name_leftovers(opts.out, opts.name)
            return opts.out / f".{opts.name}.tmp-{secrets.token_hex(4)}"
        make_out(opts)
        locked = self._stack.enter_context(taking_turns(opts.out, opts.name))
        remove_leftovers(opts.out, opts.name, locked)
        check_targets(opts)  # again: the build that held the lock may have made them
        try:
            work = new_workdir(opts.out, opts.name)
        except OSError as e:
            raise BuildError(f"cannot write in --out {opts.out}: {e.strerror}: give a "
                             "directory you can write to") from None
        for kind in opts.splits:
            (work / kind).mkdir()
        (work / SCRATCH).mkdir()
        return work

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._ending.set()
        try:
            if exc is None:
                try:
                    self._publish()
                except BaseException:
                    self._remove_work()
                    raise
                return
            failure = read_failure(self.job)
            self._remove_work()
            if failure is not None:
                raise failure from None
            if isinstance(exc, Exception) and not isinstance(exc, BuildError):
                raise BuildError(f"the Beam pipeline failed: {_cause(exc)}; nothing was "
                                 "written (temporary files removed); -v shows the traceback"
                                 ) from exc
        finally:
            self._stack.close()

    def _publish(self) -> None:
        job, opts = self.job, self.opts
        targets = {kind: opts.target(kind) for kind in opts.splits}
        if isinstance(job.work, BeamPath):
            delete(job.scratch.objects())
            self.built = [self._built(kind) for kind in opts.splits]
            publish_objects(job.work, targets, opts.overwrite)
        else:
            shutil.rmtree(job.scratch)
            self.built = [self._built(kind) for kind in opts.splits]
            publish(job.work, opts.name, targets, opts.overwrite)

    def _built(self, kind: str) -> Built:
        """What the pipeline wrote of ``kind``, from its manifest (checked against its seal) and
        counts.json (which keeps the splits' order)."""
        path = self.job.dataset(kind) / layout.MANIFEST
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, ValueError) as e:
            raise BuildError(f"the pipeline ended without a whole {path} ({e}): nothing was "
                             "published (temporary files removed); run the build again") from None
        if manifest.get(layout.MANIFEST_SHA256) != layout.manifest_sha256(manifest):
            raise BuildError(f"{path} does not match its seal: nothing was published "
                             "(temporary files removed); run the build again")
        counts = json.loads((self.job.dataset(kind) / layout.COUNTS).read_bytes())
        return Built(kind, self.opts.target(kind), counts, manifest["rejected"])

    def _remove_work(self) -> None:
        if self._job is None:
            return
        work = self.job.work
        if isinstance(work, BeamPath):
            delete(work.objects())
            return
        # Steps may still be writing in it (an interrupt stops the driver, not the threads of
        # the in-memory runner): renamed, it is out of their paths' reach, and what a write
        # under way still made there goes on a later pass.
        gone = work.with_name(f".{self.opts.name}.old-{secrets.token_hex(4)}")
        try:
            work.rename(gone)
        except OSError:
            gone = work
        for _ in range(REMOVE_PASSES):
            shutil.rmtree(gone, ignore_errors=True)
            if not gone.exists():
                return
            time.sleep(0.1)


def _end_local_workers() -> None:
    """Kills the worker processes Beam's local runner started for this process (its children
    and grandchildren that run Beam's SDK worker) and waits, a while, until they are gone."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    me = os.getpid()
    workers = []
    for pid, parent in parents.items():
        if parent != me and parents.get(parent) != me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if SDK_WORKER not in f.read():
                    continue
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone already
            continue
        workers.append(pid)
    deadline = time.monotonic() + WORKERS_GONE
    while workers and time.monotonic() < deadline:
        workers = [pid for pid in workers if _running(pid)]
        time.sleep(0.01)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _cause(exc: BaseException) -> str:
    """What a pipeline's failure says of its cause: the last line of the message that names an
    exception (a runner quotes the worker's traceback), else its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"[\w.]+(Error|Exception|Interrupt)\b", line)]
    text = named[-1] if named else (lines[0] if lines else "")
    return text if re.match(r"[\w.]+(Error|Exception)", text) else f"{type(exc).__name__}: {text}"


def _record_bytes(opts: BuildOptions, codecs: dict[str, Codec]) -> dict[str, int]:
    """Framed bytes of a record of each kind, about (a quarter more than the mean of the first
    usable drawings of the first class file), to size the windows."""
    warmup(list(codecs.values()), [f for f in opts.files if isinstance(f, Path)])
    sample = None
    path = str(opts.files[0])
    try:
        for sample in open_source(path).read(  # noqa: B007 (the first chunk is the sample)
                chunk_size=SAMPLE, limit=SAMPLE, unrecognized=opts.include_unrecognized,
                on_reject=lambda _: None,
                screen=Screen(opts.classes[0], path, list(codecs.values()))):
            break
    except (OSError, ValueError):  # the build's Encode step names the problem
        sample = None
    if sample is None or not len(sample):
        return {kind: UNSAMPLED for kind in codecs}
    return {kind: int(codec.packed(0, sample, (FRAME_HEAD, FRAME_TAIL))[2].mean() * 1.25) + 1
            for kind, codec in codecs.items()}


# ---------------------------------------------------------------------------- the runner


def pipeline_options(args: Sequence[str], workers: int) -> PipelineOptions:
    """Beam's pipeline options of ``args`` (``--runner=DataflowRunner --project=...``).  Without
    ``--runner``, the build runs on this machine in Beam's local engine, in
    multi-processing mode with ``workers`` processes, unless ``args`` name another
    ``--direct_running_mode`` or ``--direct_num_workers``."""
    args = list(args)
    options = PipelineOptions(args)
    if options.view_as(StandardOptions).runner is None:
        direct = options.view_as(DirectOptions)
        if not any(a.startswith("--direct_running_mode") for a in args):
            direct.direct_running_mode = "multi_processing"
        if not any(a.startswith("--direct_num_workers") for a in args):
            direct.direct_num_workers = workers
    return options


def local_runner(options: PipelineOptions) -> beam.runners.PipelineRunner | None:
    """The runner of options without ``--runner``: the engine the DirectRunner runs batch
    pipelines on (the FnApiRunner, made as the DirectRunner makes it), so that its
    ``--direct_running_mode`` holds and no Prism runner is fetched from the network; None
    when the options name a runner.  A GroupByKey's values reach a worker from the runner's
    state as the worker iterates them (``use_state_iterables``), as on Dataflow, rather than
    all at once: a worker that writes a window holds that window, not its share of the
    stage's input."""
    if options.view_as(StandardOptions).runner is not None:
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(
        use_state_iterables=True,
        provision_info=fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def build(opts: BuildOptions, pipeline_args: Sequence[str] = (),
          window_bytes: int = WINDOW_BYTES) -> list[Built]:
    """Builds ``opts`` on Beam with the pipeline options ``pipeline_args``; publishes the
    datasets and logs the local build's summary.  See `BeamBuild`."""
    options = pipeline_options(pipeline_args, opts.workers)
    t0 = time.monotonic()
    with BeamBuild(opts, window_bytes) as b:
        pipeline = beam.Pipeline(runner=local_runner(options), options=options)
        _ = pipeline | "fastdraw" >> b.transform()
        result = pipeline.run()
        state = result.wait_until_finish()
        if state != beam.runners.runner.PipelineState.DONE:
            raise BuildError(f"the Beam pipeline ended {state}")
        _log_metrics(result)
    summary(b.opts, b.built, time.monotonic() - t0)
    return b.built


def _log_metrics(result: beam.runners.runner.PipelineResult) -> None:
    """The build's Beam counters, and the range of its workers' memory while they wrote
    windows, as the runner reports them."""
    try:
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    except NotImplementedError:
        return
    totals: dict[str, int] = {}
    for counter in found["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value)
    if totals:
        log.info("Beam counters: %s", ", ".join(f"{n} {name}" for name, n in totals.items()))
    lows, highs = [], []
    for d in found["distributions"]:
        value = d.committed if d.committed is not None else d.attempted
        if d.key.metric.name == WORKER_MIB and value is not None and value.count:
            lows.append(value.min)
            highs.append(value.max)
    if lows:
        log.info("a worker held %d-%d MiB while it wrote a window", min(lows), max(highs))
