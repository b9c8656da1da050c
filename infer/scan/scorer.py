"""The one batch scorer: decoded uint8 model inputs -> normalised batch -> the model -> tiles combined -> p_fake
(and, when asked, each class's probability) -> verdict rows, each with its domain (and, when asked, UNSURE for an
out-of-domain image). The local engine, the Ray engine's model actors and `imgcheck.Detector` all score through it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from imgcheck.infer.meta import ModelMeta
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.runtime.outputs import class_probabilities, combine_class_tiles, combine_tiles, to_p_fake
from imgcheck.infer.scan.domain import DomainRule
from imgcheck.infer.scan.image_facts import ImageFacts
from imgcheck.infer.verdicts import ERROR, Row, verdict_of


@dataclass(frozen=True)
class BatchScorer:
    """A model (a runtime backend: float32 NCHW -> per-input p_fake, and its raw output through `raw`) with the
    preprocessing its ModelMeta names."""

    model: Callable[[np.ndarray], np.ndarray]
    meta: ModelMeta
    pre: Preprocessor

    @classmethod
    def for_backend(cls, model: Callable[[np.ndarray], np.ndarray], meta: ModelMeta, draft: bool = True
                    ) -> BatchScorer:
        """The scorer of `model`, with the one Preprocessor this process makes for it."""
        return cls(model, meta, Preprocessor.from_meta(meta, draft=draft))

    @property
    def provider(self) -> str:
        """Where the model runs (onnxruntime's provider, or torch's device)."""
        return getattr(self.model, "provider", "unknown")

    def p_fake(self, pixels: np.ndarray) -> np.ndarray:
        """p_fake per image for uint8 model inputs (N * K, H, W, 3), K tiles an image (1 for resize models)."""
        if not len(pixels):
            return np.empty(0, np.float32)
        return combine_tiles(self.model(self.pre.normalize(pixels)), self.meta)

    def scores(self, pixels: np.ndarray, classes: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """p_fake per image, as `p_fake` gives it, and with `classes` the probability of each class per image
        (float32 (N, classes); the mean over an image's tiles), read from the same model output; else None."""
        if not classes:
            return self.p_fake(pixels), None
        if not len(pixels):
            return np.empty(0, np.float32), np.empty((0, len(self.meta.class_names)), np.float32)
        raw = self.model.raw(self.pre.normalize(pixels))
        return (combine_tiles(to_p_fake(raw, self.meta), self.meta),
                combine_class_tiles(class_probabilities(raw, self.meta), self.meta))

    def rows(self, paths: list[str], pixels: np.ndarray, errors: list[str], threshold: float,
             facts: Iterable[ImageFacts | None] | None = None, classes: bool = False, abstain: bool = False
             ) -> list[Row]:
        """The verdict rows of one decoded batch (`pixels` holds the readable paths' inputs, in order), with each
        class's probability when `classes` is set, each image's domain, and UNSURE for an out-of-domain image when
        `abstain` is set."""
        p_fake, probabilities = self.scores(pixels, classes)
        named = None if probabilities is None else class_dicts(probabilities, self.meta.class_names)
        return verdict_rows(paths, p_fake.tolist(), errors, threshold, facts, named, DomainRule.of(self.meta, abstain))


def class_dicts(probabilities: np.ndarray, class_names: tuple[str, ...]) -> list[dict[str, float]]:
    """One {class name: probability} per row of (N, classes) `probabilities` (a Row's `classes`)."""
    return [dict(zip(class_names, row)) for row in probabilities.tolist()]


def verdict_rows(paths: list[str], scores: Iterable[float], errors: list[str], threshold: float,
                 facts: Iterable[ImageFacts | None] | None = None,
                 classes: Iterable[dict[str, float]] | None = None, domain: DomainRule | None = None) -> list[Row]:
    """One row per path: ERROR with its reason, else the next score and its verdict (`verdict_of`) with the file's
    facts and, when `classes` is given, the next class probabilities. With `domain` (the model's `DomainRule`) a
    row with a size gets its domain, and its verdict is UNSURE when the rule abstains and the image is out of the
    domain. `scores` and `classes` hold one value per readable path, in order; `facts` one entry per path; every
    engine builds its rows here."""
    scores = iter(scores)
    facts = iter(facts) if facts is not None else itertools.repeat(None)
    named = iter(classes) if classes is not None else itertools.repeat(None)
    rows = []
    for path, error, fact in zip(paths, errors, facts):
        if error:  # no size, but the provenance an unreadable file's metadata still gives (FactsProbe.unreadable)
            rows.append(Row(path, None, ERROR, error, provenance=fact.provenance if fact is not None else ""))
            continue
        p = next(scores)
        verdict = verdict_of(p, threshold)
        probabilities = next(named)
        if fact is None:
            rows.append(Row(path, p, verdict, "", None, None, "", probabilities))
            continue
        judged = None if domain is None else domain.domain(fact.width, fact.height)
        if judged is not None:
            verdict = domain.verdict(verdict, judged)
        rows.append(Row(path, p, verdict, "", fact.width, fact.height, fact.provenance, probabilities, judged))
    return rows
