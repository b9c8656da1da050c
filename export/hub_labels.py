"""A detector's class names (a Hugging Face `id2label`, or the names a user declares) read as REAL or FAKE.

A name is matched on its word tokens, case-insensitively (`AI-Generated`, `ai_generated` and `AiGenerated` are the
tokens ai, generated): FAKE words are fake, ai, artificial, generated, synthetic, deepfake and generator names
(stable diffusion / sd, midjourney, dall-e, gan, diffusion, firefly, flux, imagen, ...); REAL words are real, human,
natural, authentic, photo, genuine, nature. The model must then have exactly one REAL class and at least one FAKE
class, and every class must be one or the other: p_fake is the sum of the FAKE classes' probabilities, 1 - p(REAL).

Nothing is guessed: a name with no known word, with words of both sides (`real_or_fake`), or with a negation
(`not_ai`) is not mapped, and a model whose classes cannot all be mapped is refused with its label list and the
options that settle it: `--real-label NAME` (the real class; every other class then counts as FAKE) and
`--fake-label NAME` (repeatable; when one class is left over, it is the REAL one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imgcheck.infer.errors import ImgcheckError

REAL, FAKE = "REAL", "FAKE"
FAKE_WORDS = frozenset({
    "fake", "ai", "aigc", "aigenerated", "artificial", "generated", "synthetic", "synthesized", "deepfake",
    # generators and generator families
    "sd", "sdxl", "stable", "stablediffusion", "diffusion", "midjourney", "mj", "dalle", "gan", "stylegan",
    "biggan", "progan", "cyclegan", "gaugan", "firefly", "flux", "imagen", "glide", "kandinsky", "wukong", "vqdm",
    "adm", "pixart", "ideogram", "dreamstudio", "playground", "hunyuan", "sora", "unidiffuser",
})
REAL_WORDS = frozenset({"real", "human", "natural", "authentic", "photo", "photograph", "genuine", "nature"})
NEGATIONS = frozenset({"not", "non", "no"})


class LabelMapError(ImgcheckError):
    """Class names that cannot be read as one REAL class and one or more FAKE classes."""


@dataclass(frozen=True)
class LabelMap:
    """The classes in output order, the REAL one, and the FAKE ones (p_fake = the sum of their probabilities)."""

    class_names: tuple[str, ...]
    real: str
    fakes: tuple[str, ...]
    reasons: tuple[str, ...]  # per class, in order: why it is on its side ("word 'ai'", "--fake-label", ...)

    def side(self, name: str) -> str:
        return REAL if name == self.real else FAKE

    def describe(self) -> str:
        """`0 artificial -> FAKE (word 'artificial'), 1 human -> REAL (word 'human')`."""
        return ", ".join(f"{i} {name} -> {self.side(name)} ({why})"
                         for i, (name, why) in enumerate(zip(self.class_names, self.reasons)))


def tokens(name: str) -> list[str]:
    """The lower-case word tokens of a label: split at non-alphanumerics and camel case (`AiGenerated` -> ai,
    generated); a trailing version number goes (`sd15` -> sd, `stylegan2` -> stylegan)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    words = re.findall(r"[a-z]+[0-9]*|[0-9]+", spaced.lower())
    return [re.sub(r"(?<=[a-z])(v?[0-9]+)$", "", w) for w in words]


def classify(name: str) -> tuple[str | None, str]:
    """(REAL, FAKE or None, why) for one label by its words. None: no known word, words of both sides, or a
    negation."""
    words = tokens(name)
    candidates = words + ["".join(pair) for pair in zip(words, words[1:])]  # dall e -> dalle, ai generated
    candidates += [w[:-1] for w in candidates if w.endswith("s") and len(w) > 3]  # fakes, photos
    fake = [w for w in candidates if w in FAKE_WORDS]
    real = [w for w in candidates if w in REAL_WORDS]
    negated = [w for w in words if w in NEGATIONS]
    if negated and (fake or real):
        return None, f"negated ('{negated[0]}')"
    if fake and real:
        return None, f"words of both sides ('{fake[0]}', '{real[0]}')"
    if fake:
        return FAKE, f"word '{fake[0]}'"
    if real:
        return REAL, f"word '{real[0]}'"
    return None, "no known word"


def map_labels(names: Iterable[str], fake_labels: Iterable[str] = (), real_label: str | None = None,
               source: str = "the model") -> LabelMap:
    """Read class `names` (in output order) as one REAL class and the FAKE classes; `fake_labels` and
    `real_label` (names from the list, case-insensitive) settle what the words cannot."""
    names = tuple(names)
    listing = ", ".join(f"{i}: {name}" for i, name in enumerate(names))
    settle = ("settle it with --real-label NAME (the one real class; every other class then counts as FAKE) or "
              "--fake-label NAME (repeatable)")

    def refuse(problem: str) -> LabelMapError:
        return LabelMapError(f"{source}: its labels ({listing}) cannot be read as REAL/FAKE: {problem}; {settle}.")

    if len(names) < 2:
        raise refuse(f"{len(names)} class; a detector has at least two")
    if len({n.lower() for n in names}) != len(names) or not all(n.strip() for n in names):
        raise LabelMapError(f"{source}: its labels ({listing}) must be different, non-empty names.")
    fakes_given = [_find(names, label, "--fake-label", listing, source) for label in fake_labels]
    real_given = _find(names, real_label, "--real-label", listing, source) if real_label is not None else None
    if real_given is not None and real_given in fakes_given:
        raise LabelMapError(f"{source}: {real_given!r} is given as both --real-label and --fake-label.")
    sides: list[str | None] = []
    reasons: list[str] = []
    for name in names:
        if name in fakes_given:
            side, why = FAKE, "--fake-label"
        elif name == real_given:
            side, why = REAL, "--real-label"
        elif real_given is not None:
            side, why = FAKE, "not the --real-label"
        else:
            side, why = classify(name)
        sides.append(side)
        reasons.append(why)
    left = [i for i, side in enumerate(sides) if side != FAKE]
    if fakes_given and len(left) == 1 and sides[left[0]] is None:
        sides[left[0]], reasons[left[0]] = REAL, "the one class left by --fake-label"
    unmapped = [f"{names[i]} ({reasons[i]})" for i, side in enumerate(sides) if side is None]
    if unmapped:
        raise refuse(f"{', '.join(unmapped)} {'is' if len(unmapped) == 1 else 'are'} neither REAL nor FAKE")
    reals = [names[i] for i, side in enumerate(sides) if side == REAL]
    fakes = tuple(names[i] for i, side in enumerate(sides) if side == FAKE)
    if len(reals) != 1:
        raise refuse("no class is REAL" if not reals else f"{len(reals)} classes are REAL ({', '.join(reals)}), "
                     "imgcheck needs exactly one")
    if not fakes:
        raise refuse("no class is FAKE")
    return LabelMap(names, reals[0], fakes, tuple(reasons))


def labels_from_id2label(id2label: Mapping[object, object], source: str = "config.json") -> tuple[str, ...]:
    """The class names of a Hugging Face `id2label` in index order; its keys must be 0..N-1."""
    try:
        indexed = {int(key): str(value) for key, value in id2label.items()}
    except (TypeError, ValueError):
        raise LabelMapError(f"{source}: id2label keys must be class indices 0..N-1, got {list(id2label)}.")
    if sorted(indexed) != list(range(len(indexed))):
        raise LabelMapError(f"{source}: id2label keys must be class indices 0..N-1, got {sorted(indexed)}.")
    return tuple(indexed[i] for i in range(len(indexed)))


def _find(names: tuple[str, ...], label: str, option: str, listing: str, source: str) -> str:
    exact = [n for n in names if n == label]
    loose = [n for n in names if n.lower() == label.strip().lower()]
    found = exact or loose
    if len(found) != 1:
        raise LabelMapError(f"{source}: {option} {label!r} is not one of its labels ({listing}).")
    return found[0]
