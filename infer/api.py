"""The Python API beside the CLI: `imgcheck.Detector`, `imgcheck.scan` and `imgcheck.ScanJob` (re-exported by the
package root).

The same code paths as the commands: a `ModelFile`, a runtime from `load_backend`, the scan's one decode loop and one
batch scorer, and for folders the `ScanJob` that `imgcheck scan` runs. Importing it imports neither torch nor
onnxruntime; a Detector loads its runtime when it is made.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.models.bundled import open_model_file
from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.preprocess import PixelSource
from imgcheck.infer.runtime.outputs import no_class_scores_reason
from imgcheck.infer.scan.domain import DomainRule
from imgcheck.infer.scan.job import ModelSource, ScanJob, ScanResult
from imgcheck.infer.scan.pipeline import batched, decode_chunk
from imgcheck.infer.scan.scorer import BatchScorer, class_dicts
from imgcheck.infer.verdicts import ERROR, Row, verdict_of

__all__ = ["Detector", "Prediction", "ScanJob", "ScanResult", "scan"]


class Prediction(NamedTuple):
    """One input's result: p_fake (NaN when the input could not be read), the verdict (REAL, FAKE or ERROR; UNSURE
    with `abstain_out_of_domain`), the reason for an ERROR ("" otherwise), when asked for (`keep_classes`) each
    class's probability by name (None otherwise, and on ERROR), and the image's domain as the scan's `domain`
    column has it (`ok`, `out:<reason>`, `unknown`; None on ERROR)."""

    p_fake: float
    verdict: str
    error: str = ""
    classes: dict[str, float] | None = None
    domain: str | None = None


class Detector:
    """A model ready to score images in this process.

        detector = imgcheck.Detector()                   # the bundled model
        detector = imgcheck.Detector("resnet.onnx", device="cuda")
        detector.predict(["a.jpg", Image.open("b.png"), pixels])   # -> [Prediction(p_fake, verdict, error), ...]

    `model` is a model file (ONNX, TorchScript, a training checkpoint, or an imported foreign model) or None for the
    bundled model; `device` is auto, cpu or cuda; `threshold` overrides the model's own.
    """

    def __init__(self, model: ModelSource = None, device: str = "auto", threshold: float | None = None,
                 threads: int | None = None, draft: bool = True) -> None:
        from imgcheck.infer.runtime import load_backend

        self.model_file = model if isinstance(model, ModelFile) else open_model_file(model)
        self.backend = load_backend(self.model_file, device=device, threads=threads)
        self.threshold = self.meta.threshold if threshold is None else float(threshold)
        self._scorer = BatchScorer.for_backend(self.backend, self.meta, draft)

    @property
    def meta(self) -> ModelMeta:
        """The model's ModelMeta (preprocessing, classes, threshold, provenance)."""
        return self.model_file.meta

    @property
    def provider(self) -> str:
        """Where the model runs (onnxruntime's execution provider, or torch's device)."""
        return self.backend.provider

    def predict(self, inputs: Iterable[PixelSource], batch_size: int = 64, keep_classes: bool = False,
                abstain_out_of_domain: bool = False) -> list[Prediction]:
        """One Prediction per input, in order. An input is a path, an image file's bytes, a binary stream, a PIL
        image or a uint8 array (H, W), (H, W, 3) or (H, W, 4); one that cannot be read gets p_fake NaN, verdict
        ERROR and its reason, and never stops the others. `keep_classes` adds each class's probability (a model
        with one score per class only; others raise ImgcheckError), p_fake unchanged. Each Prediction carries its
        image's domain; `abstain_out_of_domain` makes an out-of-domain image UNSURE, as the scan's option does."""
        reason = no_class_scores_reason(self.meta) if keep_classes else None
        if reason:
            raise ImgcheckError(f"keep_classes: {reason}.")
        if isinstance(inputs, (str, os.PathLike, bytes, np.ndarray)) or hasattr(inputs, "load") or hasattr(
                inputs, "read"):
            inputs = [inputs]  # one input given alone: a path, bytes, an array, a PIL image or a binary stream
        rule = DomainRule.of(self.meta, abstain_out_of_domain)
        results: list[Prediction] = []
        for items in batched(inputs, batch_size):
            chunk = decode_chunk(items, self._scorer.pre, provenance=False)
            p_fake, probabilities = self._scorer.scores(chunk.pixels, keep_classes)
            scores = iter(p_fake.tolist())
            named = (iter(class_dicts(probabilities, self.meta.class_names)) if probabilities is not None
                     else itertools.repeat(None))
            for item, error, fact in zip(items, chunk.errors, chunk.facts):
                if error:
                    results.append(Prediction(math.nan, ERROR, error))
                else:
                    p = next(scores)
                    domain = rule.domain(*(_in_memory_size(item) if fact is None else (fact.width, fact.height)))
                    results.append(Prediction(p, rule.verdict(verdict_of(p, self.threshold), domain), "",
                                              next(named), domain))
        return results

    def __repr__(self) -> str:
        return f"Detector({str(self.model_file.path)!r}, arch={self.meta.arch!r}, provider={self.provider!r})"


def scan(paths: Iterable[str | os.PathLike] | str | os.PathLike, model: ModelSource = None, *,
         device: str = "auto", workers: int | None = None, threads: int | None = None,
         batch_size: int | None = None, threshold: float | None = None, recursive: bool = True, include: Iterable[str] = (),
         exclude: Iterable[str] = (), draft: bool = True, provenance: bool = True,
         keep_classes: bool = False, abstain_out_of_domain: bool = False) -> Iterator[Row]:
    """The rows `imgcheck scan` writes, one per file under `paths` (files, folders, globs), in the same order:
    `Row(path, p_fake, verdict, error, width, height, provenance, classes, domain)`, written nowhere. Options mean
    what the CLI's do (`provenance=False` is --no-provenance, `keep_classes=True` --keep-classes: `classes` is then
    each class's probability by name, else None; `abstain_out_of_domain=True` --abstain-out-of-domain, UNSURE for
    rows whose `domain` is out); `workers=0` decodes in this process, `workers=None` sizes the
    decoding processes from the first batch, and `threads` is the runtime's (default: every core). To write the
    files the CLI writes (verdicts, sidecar, metrics, report) run a `ScanJob`."""
    job = ScanJob(paths, model, out=None, device=device, workers=workers, threads=threads, batch_size=batch_size,
                  threshold=threshold, recursive=recursive, include=tuple(include), exclude=tuple(exclude),
                  draft=draft, provenance=provenance, keep_classes=keep_classes,
                  abstain_out_of_domain=abstain_out_of_domain)
    yield from job.rows()


def _in_memory_size(image: object) -> tuple[int | None, int | None]:
    """(width, height) of a PIL image or a pixel array (the decoder reports a file's own); (None, None) else."""
    if isinstance(image, np.ndarray) and image.ndim >= 2:
        return image.shape[1], image.shape[0]
    size = getattr(image, "size", None)
    return size if isinstance(size, tuple) and len(size) == 2 else (None, None)
