"""A scan as one library object: `ScanJob(...).run()` -> `ScanResult`.

It does everything `imgcheck scan` does: opens the model and the engine, writes the verdict file (or stdout) with its
lock and sidecar, resumes, lists skipped files, scores labeled images (the metric document, `--metrics`, the CI
gates) and writes the `--report` folder; the result carries the counts, the metrics and the exit status. The
`scan` command parses options into a ScanJob and prints what a `ScanReporter` and the result tell it; the Python
API (`imgcheck.ScanJob`, `imgcheck.scan`), `calibrate` and `bench`'s scan stage run the same object.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from imgcheck.infer.errors import ExitCode, ImgcheckError
from imgcheck.infer.evaluate.gallery import Gallery
from imgcheck.infer.evaluate.gates import Gate, breaches, parse_gates
from imgcheck.infer.evaluate.labeled_scores import LabeledScores
from imgcheck.infer.evaluate.labels import LabelFile, Labeler
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.bundled import open_model_file
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.progress import NoProgress, ProgressHandle
from imgcheck.infer.runtime.outputs import no_class_scores_reason
from imgcheck.infer.scan.discover import Selection, SkipSink, missing_paths
from imgcheck.infer.scan.domain import DomainRule, SizeCheck, TrainingSizes, check_resume_abstain
from imgcheck.infer.scan.output import (ResumePlan, ScanInterrupted, check_folder_exists, check_resume_provenance,
                                        is_special_file, open_verdict_output, skip_list, write_rows, write_sidecar)
from imgcheck.infer.scan.pipeline import (LocalScan, ScanEngine, ScanRequest, ScanStats, run_scan, scan_batches,
                                          sidecar)
from imgcheck.infer.scan.provenance_counts import ProvenanceCounts
from imgcheck.infer.scan.verdict_formats import OUTPUT_FORMATS, OutputFormat
from imgcheck.infer.verdicts import ERROR, Row

ModelSource = str | os.PathLike | ModelFile | None


class ScanUsageError(ImgcheckError):
    """Options of a scan that contradict each other (the CLI shows it as a usage error, exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ScanStart:
    """What a scan says before its first row: the model, where it runs, and what it cannot check."""

    model_name: str
    arch: str
    engine: str  # "on CPUExecutionProvider, 2 runtime thread(s), ..."
    threshold: float
    c2pa_skipped: bool  # provenance is on, but c2pa-python is missing: C2PA manifests go unread
    int8_warning: str | None  # an int8 model whose weights this CPU runs slowly or wrongly


class ScanReporter:
    """What a running scan tells its caller; this one says nothing (the Python API's). The CLI's prints."""

    def started(self, start: ScanStart) -> None:
        """The scan is about to read its first file."""

    @contextlib.contextmanager
    def progress(self) -> Iterator[ProgressHandle]:
        """A progress display for the rows as they are written."""
        yield NoProgress()


@dataclass
class ScanResult:
    """What a finished scan did: its counts (`stats`), the threshold, the model, the metrics document of its
    labeled images (None when none were scored or none were wanted), the gates it failed, the report's index.html,
    and the exit status the CLI returns."""

    stats: ScanStats
    threshold: float
    model: dict[str, Any]
    inputs: list[str]
    scores: LabeledScores
    metrics: dict[str, Any] | None = None
    gates: tuple[Gate, ...] = ()
    gate_failures: list[str] = field(default_factory=list)
    report: str | None = None
    sidecar: str | None = None
    exit_code: int = ExitCode.OK
    dropped: int = 0  # rows --resume dropped from the file: not of a file this scan scans (torn, foreign), or repeated

    @property
    def nothing_scanned(self) -> bool:
        """True when the inputs held no file to scan (an empty folder, a glob that matches nothing): exit 5."""
        return self.stats.files + self.stats.resumed == 0


@dataclass
class ScanJob:
    """One scan, described as `imgcheck scan`'s options describe it (each field is the option of the same name;
    `out=None` writes no verdict file: the rows only feed the metrics and the report)."""

    paths: Iterable[str | os.PathLike] = ()
    model: ModelSource = None
    out: str | None = "verdicts.csv"
    output_format: str | None = None  # csv or jsonl [default: from out's suffix]
    files_from: Iterable[str] | None = None  # more paths, one per item (`--files-from`)
    files_from_name: str | None = None  # how the scan record names that list
    recursive: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    batch_size: int | None = None  # None: balance.default_batch_size of the model's input
    workers: int | None = None
    threads: int | None = None
    device: str = "auto"
    draft: bool = True
    engine: str = "local"  # or "ray"
    ray_address: str | None = None
    num_workers: int | None = None
    gpus_per_worker: float = 0.0
    threshold: float | None = None
    resume: bool = False
    force: bool = False  # replace an --out that already holds rows (without it, or resume, such a file is refused)
    formula_escape: bool = True
    strict: bool = False
    provenance: bool = True
    list_skipped: str | None = None
    labels: str | None = None
    metrics: str | None = None  # write the metrics document here
    report: str | None = None  # write the report folder here
    report_limit: int = 200
    fail_under: tuple[str, ...] = ()
    fail_over: tuple[str, ...] = ()
    evaluate: bool = True  # score labeled images (False: no metrics unless a file, a gate or labels ask for them)
    require_labels: bool = False  # fail when no labeled image was scored, as a metrics file or gate does
    scores_only: bool = False  # collect the labeled scores (result.scores) and nothing more (calibrate's use)
    quiet: bool = False  # keeps Ray's own logs to errors
    sidecar: bool = True  # write <out>.json (a regular output file only)
    keep_classes: bool = False  # one more column per class of a per-class model: its probability
    abstain_out_of_domain: bool = False  # verdict UNSURE (p_fake kept) for images far outside the training sizes

    def __post_init__(self) -> None:
        self.paths = tuple(os.fspath(p) for p in ([self.paths] if isinstance(self.paths, (str, os.PathLike))
                                                   else self.paths))
        self.include, self.exclude = tuple(self.include), tuple(self.exclude)
        self.gates: tuple[Gate, ...] = tuple(parse_gates(self.fail_under, "under", "--fail-under")
                                             + parse_gates(self.fail_over, "over", "--fail-over"))

    @property
    def stream_output(self) -> bool:
        """True for stdout, /dev/full, a FIFO: no lock, no sidecar, no resume."""
        return self.out is not None and (self.out == "-" or is_special_file(self.out))

    @property
    def needs_labels(self) -> bool:
        """True when something only labeled images can give was asked for (a report works without)."""
        return bool(self.labels or self.metrics or self.gates or self.require_labels)

    @property
    def scores_labels(self) -> bool:
        """True when the labeled rows are collected: metrics wanted, needed, or a report to draw."""
        return self.evaluate or self.needs_labels or self.report is not None or self.scores_only

    def writer_format(self, meta: ModelMeta | None = None) -> OutputFormat:
        """The verdict file's format: `output_format`, else by the suffix of `out` (.jsonl), else csv; with
        `keep_classes`, a column for each class of `meta`, whose domain rule fills the domain of rows kept from a
        file written before that column."""
        name = self.output_format or ("jsonl" if (self.out or "").endswith(".jsonl") else "csv")
        class_names = meta.class_names if self.keep_classes and meta is not None else ()
        fill = DomainRule.of(meta).domain if meta is not None else None
        return OUTPUT_FORMATS[name](self.formula_escape, class_names, fill)

    def check_model(self, meta: ModelMeta) -> None:
        """Refuse options the model cannot honour, before any work: --keep-classes with a single-output model."""
        reason = no_class_scores_reason(meta) if self.keep_classes else None
        if reason:
            raise ScanUsageError(f"--keep-classes: {reason}. Drop --keep-classes, or scan with a model that "
                                 "outputs one score per class.")

    def check(self) -> None:
        """Refuse contradictory options before any work, saying what to change."""
        if not self.paths and self.files_from is None:
            raise ScanUsageError("give PATH... to scan, or --files-from FILE")
        if self.resume and self.out in (None, "-"):
            raise ScanUsageError("--resume needs an output file, not stdout")
        if self.resume and self.stream_output:
            raise ScanUsageError(f"--resume needs a regular output file; {self.out} is not one")
        if self.resume and self.force:
            raise ScanUsageError("--resume keeps the rows already in --out and --force replaces them; give one")
        missing = missing_paths(self.paths)
        if missing:
            raise ScanUsageError(f"no such file or folder: {', '.join(missing)}; check the path (nothing was scanned)")
        if self.threads is not None and self.engine == "ray":
            raise ScanUsageError("--threads applies to the local engine; Ray's model actors take --num-workers")
        if self.engine != "ray":
            if self.ray_address or self.num_workers or self.gpus_per_worker:
                raise ScanUsageError("--ray-address, --num-workers and --gpus-per-worker need --engine ray")
            return
        if self.device == "cuda" and not self.gpus_per_worker:
            raise ScanUsageError("--engine ray --device cuda needs --gpus-per-worker above 0")
        if self.device == "cpu" and self.gpus_per_worker:
            raise ScanUsageError("--device cpu contradicts --gpus-per-worker; leave one out")

    def open_model(self) -> ModelFile:
        """The ModelFile to scan with (the bundled model when `model` is None), opened once."""
        return self.model if isinstance(self.model, ModelFile) else open_model_file(self.model)

    def make_engine(self, model_file: ModelFile) -> ScanEngine:
        """The local engine, or Ray's, for `model_file`."""
        if self.engine == "ray":
            from imgcheck.infer.scan.ray_engine import RayOptions, RayScan, import_ray

            import_ray()  # a clear error before any work when the extra is missing
            options = RayOptions(self.ray_address, self.num_workers, self.gpus_per_worker, self.workers, self.quiet)
            return RayScan.for_model(model_file, options, batch_size=self.batch_size, threshold=self.threshold,
                                     draft=self.draft, provenance=self.provenance, keep_classes=self.keep_classes,
                                     abstain_out_of_domain=self.abstain_out_of_domain)
        return LocalScan.for_model(model_file, device=self.device, workers=self.workers, threads=self.threads,
                                   batch_size=self.batch_size, threshold=self.threshold, draft=self.draft,
                                   provenance=self.provenance, keep_classes=self.keep_classes,
                                   abstain_out_of_domain=self.abstain_out_of_domain)

    def request(self, skip: frozenset[str] = frozenset()) -> ScanRequest:
        """What to scan, less the paths in `skip` (a resumed scan's kept rows)."""
        return ScanRequest(self.paths, Selection(self.recursive, self.include, self.exclude), self.files_from, skip)

    def rows(self) -> Iterator[Row]:
        """The rows this scan would write, one per file in order, written nowhere (the Python API's `scan`)."""
        self.check()
        model_file = self.open_model()
        self.check_model(model_file.meta)
        engine = self.make_engine(model_file)
        for rows in scan_batches(self.request(), engine):
            yield from rows

    def run(self, reporter: ScanReporter | None = None, engine: ScanEngine | None = None,
            model_file: ModelFile | None = None) -> ScanResult:
        """Scan, write everything asked for, and return what was done. `engine` (with the `model_file` it runs,
        when a sidecar is to be written) replaces the engine the options describe, as `bench` times one (it must
        keep the classes exactly when `keep_classes` asks for them)."""
        reporter = reporter or ScanReporter()
        self.check()
        scores = LabeledScores(Labeler(LabelFile(self.labels) if self.labels else None))  # a bad file fails now
        if self.out is not None and not self.stream_output:
            check_folder_exists(self.out)
        if self.resume:
            check_resume_provenance(self.out, self.provenance)
            check_resume_abstain(self.out, self.abstain_out_of_domain)
        if engine is None:
            model_file = self.open_model()
            self.check_model(model_file.meta)
            engine = self.make_engine(model_file)
        elif engine.keep_classes != self.keep_classes:
            raise ScanUsageError(f"the engine given has keep_classes={engine.keep_classes} and this job "
                                 f"keep_classes={self.keep_classes}; build the engine with the job's")
        elif getattr(engine, "abstain_out_of_domain", False) != self.abstain_out_of_domain:
            raise ScanUsageError(f"the engine given has abstain_out_of_domain={not self.abstain_out_of_domain} and "
                                 f"this job abstain_out_of_domain={self.abstain_out_of_domain}; build the engine "
                                 "with the job's")
        meta = model_file.meta if model_file is not None else engine.meta
        fmt = self.writer_format(meta)
        threshold = engine.threshold
        stats = ScanStats(provenance=ProvenanceCounts(checked=self.provenance, c2pa=_c2pa_installed()),
                          sizes=SizeCheck(TrainingSizes.of(meta), self.abstain_out_of_domain))
        gallery = Gallery(self.report_limit, _label_of(scores.labeler)) if self.report else None
        scoring = self.scores_labels
        kept_verdicts: collections.Counter = collections.Counter()
        sidecar_path = (f"{self.out}.json" if self.sidecar and model_file is not None and self.out is not None
                        and not self.stream_output else None)

        def record_scan() -> None:  # at the start (it records how the CSV is escaped, for --resume) and at the end
            if sidecar_path:
                write_sidecar(sidecar_path, sidecar(model_file, engine.provider, threshold, stats, self.out,
                                                    _version(), fmt, self.engine, getattr(engine, "split", None)))

        reporter.started(ScanStart(model_file.name if model_file else "model", meta.arch, engine.describe(),
                                   threshold, self.provenance and not stats.provenance.c2pa,
                                   self._int8_warning(model_file, engine)))
        plan = ResumePlan(lambda: self.request().files(engine, _counting(stats, on_skip))) if self.resume else None
        with skip_list(self.list_skipped) as on_skip, self._output(fmt, plan) as (sink, kept):
            record_scan()
            stats.resumed = len(kept)
            stats.dropped = plan.dropped if plan else 0
            stats.add_kept(kept)
            if scoring:
                scores.add(kept)
            if gallery is not None:
                gallery.add(kept)
            kept_verdicts.update(row.verdict for row in kept)
            kept_errors = any(row.verdict == ERROR for row in kept)
            request = ScanRequest(files_from=plan.rest) if plan else self.request()  # a resume has walked already
            del kept
            with reporter.progress() as progress:
                def write(rows: list[Row]) -> None:
                    if sink is not None:
                        write_rows(sink, rows, self.out)
                    if scoring:
                        scores.add(rows)
                    if gallery is not None:
                        gallery.add(rows)
                    progress.advance(len(rows))

                count = getattr(progress, "wants_total", False) and self.files_from is None
                run_scan(request, engine, write, stats, on_skip, progress.set_total if count else None)
        record_scan()
        model = {"name": model_file.name if model_file else "model",
                 "path": os.path.abspath(model_file.path) if model_file else "",
                 "sha256": model_file.sha256() if model_file else "", "arch": meta.arch}
        inputs = list(self.paths) + ([self.files_from_name or "-"] if self.files_from is not None else [])
        result = ScanResult(stats, threshold, model, inputs, scores, gates=self.gates, sidecar=sidecar_path,
                            dropped=plan.dropped if plan else 0)
        self._evaluate(result)
        if gallery is not None:
            from imgcheck.infer.scan.report import report_context, write_scan_report

            context = report_context(model, threshold, inputs, stats, kept_verdicts)
            result.report = write_scan_report(self.report, context, gallery, result.metrics, scores)
        result.exit_code = (ExitCode.NOTHING_TO_SCAN if result.nothing_scanned else
                            exit_code(kept_errors or bool(stats.verdicts.get(ERROR)), self.strict,
                                      not result.gate_failures))
        return result

    @contextlib.contextmanager
    def _output(self, fmt: OutputFormat, plan: ResumePlan | None) -> Iterator[tuple[Any, list[Row]]]:
        """The verdict file, open; Ctrl-C while it is written becomes ScanInterrupted, which says what it holds."""
        if self.out is None:
            yield None, []
            return
        with open_verdict_output(self.out, fmt, self.resume, self.stream_output, self.force, plan) as opened:
            try:
                yield opened
            except KeyboardInterrupt:
                raise ScanInterrupted(self.out, opened[0].rows, not self.stream_output) from None

    def _evaluate(self, result: ScanResult) -> None:
        """The metrics of the labeled rows, the metrics file and the gates."""
        scores = result.scores
        if self.scores_only or result.nothing_scanned:  # an empty scan says so (exit 5), not "no labels"
            return
        if not scores.scored:
            if self.needs_labels and scores.abstained:
                raise ImgcheckError(f"cannot compute metrics: none of the {scores.labeled:,} labeled file(s) has a "
                                    f"verdict ({scores.abstained:,} UNSURE: far outside the model's training sizes, "
                                    "the rest unreadable). Drop --abstain-out-of-domain to score them anyway.")
            if self.needs_labels:
                found = (f"{scores.labeled:,} labeled file(s), all unreadable" if scores.labeled
                         else "no scanned file has a label")
                raise ImgcheckError(f"cannot compute metrics: {found}. Put images under REAL/ and FAKE/ folders, or "
                                    "pass --labels FILE (CSV path,label).")
            return
        result.metrics = scores.document(result.threshold, model=result.model, inputs=result.inputs)
        if self.metrics:
            from imgcheck.infer.atomic_write import write_json

            try:
                write_json(self.metrics, result.metrics)
            except OSError as exc:
                raise ImgcheckError(f"cannot write {self.metrics}: {exc.strerror or exc}")
        result.gate_failures = breaches(self.gates, result.metrics["metrics"])

    def _int8_warning(self, model_file: ModelFile | None, engine: ScanEngine) -> str | None:
        """A local scan of an int8 ONNX model whose signed weights this CPU runs slowly (Ray's workers may run on
        other CPUs, so a Ray scan is not warned)."""
        if self.engine != "local" or model_file is None or model_file.format.name != "onnx-int8":
            return None
        from imgcheck.infer.int8_cpu import signed_int8_warning
        from imgcheck.infer.system import cpu_flags

        graph = model_file.graph()
        wide_signed = graph.signed_int8_weights and not graph.signed_int8_within_7_bits  # 7 bits cannot saturate
        return signed_int8_warning(wide_signed, engine.provider, cpu_flags())


def exit_code(scan_errors: bool, strict: bool, gates_passed: bool) -> int:
    """The documented precedence: 1 (ERROR rows with --strict), then 4 (gate breached), then 3 (ERROR rows)."""
    if scan_errors and strict:
        return ExitCode.ERROR
    if not gates_passed:
        return ExitCode.GATE_FAILED
    if scan_errors:
        return ExitCode.SCAN_ERRORS
    return ExitCode.OK


def _counting(stats: ScanStats, on_skip: SkipSink | None) -> SkipSink:
    """Count each file skipped inside a folder in `stats`, then hand it on (as `run_scan` does for its own walk)."""
    def skipped(path: str) -> None:
        stats.skip(path)
        if on_skip is not None:
            on_skip(path)

    return skipped


def _label_of(labeler: Labeler):  # noqa: ANN202 - (path) -> 1 FAKE, 0 REAL, None
    """The gallery's view of the labels: 1 for FAKE, 0 for REAL, None when unlabeled."""
    def label_of(path: str) -> int | None:
        label = labeler(path)
        return None if label is None else label.fake

    return label_of


def _c2pa_installed() -> bool:
    from imgcheck.infer.provenance.c2pa_manifest import c2pa_installed

    return c2pa_installed()


def _version() -> str:
    from imgcheck.infer.version import imgcheck_version

    return imgcheck_version()
