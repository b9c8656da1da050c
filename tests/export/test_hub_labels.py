"""Class names read as REAL or FAKE by their words, never guessed: what the words cannot settle is refused with the
label list and the options that settle it."""

from __future__ import annotations

import pytest

from imgcheck.export.hub_labels import FAKE, REAL, LabelMapError, classify, labels_from_id2label, map_labels, tokens


@pytest.mark.parametrize("name, words", [
    ("AI-Generated", ["ai", "generated"]), ("ai_generated", ["ai", "generated"]), ("AiGenerated", ["ai", "generated"]),
    ("StableDiffusionXL", ["stable", "diffusion", "xl"]), ("SDXL", ["sdxl"]), ("sd15", ["sd"]),
    ("stylegan2", ["stylegan"]), ("DALL-E 3", ["dall", "e", "3"]), ("LABEL_0", ["label", "0"]),
])
def test_tokens_split_case_separators_and_versions(name, words):
    assert tokens(name) == words


@pytest.mark.parametrize("name, side", [
    ("fake", FAKE), ("FAKE", FAKE), ("AI", FAKE), ("ai-generated", FAKE), ("Artificial", FAKE), ("generated", FAKE),
    ("synthetic", FAKE), ("Deepfake", FAKE), ("stable_diffusion", FAKE), ("SD", FAKE), ("sdxl", FAKE),
    ("Midjourney", FAKE), ("DALL-E 3", FAKE), ("dalle", FAKE), ("GAN", FAKE), ("StyleGAN2", FAKE), ("diffusion", FAKE),
    ("Adobe Firefly", FAKE), ("FLUX.1", FAKE), ("imagen", FAKE), ("fakes", FAKE),
    ("real", REAL), ("REAL", REAL), ("Human", REAL), ("natural", REAL), ("authentic", REAL), ("photo", REAL),
    ("Photos", REAL), ("genuine", REAL), ("nature", REAL), ("real_photo", REAL),
])
def test_names_are_matched_on_their_words(name, side):
    assert classify(name)[0] == side


@pytest.mark.parametrize("name, why", [
    ("LABEL_0", "no known word"), ("cat", "no known word"), ("unreal_engine", "no known word"),
    ("real_or_fake", "words of both sides"), ("ai vs human", "words of both sides"),
    ("not_ai", "negated"), ("non-real", "negated"),
])
def test_names_the_words_cannot_settle_are_not_mapped(name, why):
    side, reason = classify(name)
    assert side is None and why in reason


@pytest.mark.parametrize("names, real, fakes", [
    (["artificial", "human"], "human", ("artificial",)),
    (["FAKE", "REAL"], "REAL", ("FAKE",)),
    (["Real", "AI"], "Real", ("AI",)),
    (["real", "stable_diffusion", "midjourney", "dalle"], "real", ("stable_diffusion", "midjourney", "dalle")),
    (["Artificial", "Deepfake", "Real"], "Real", ("Artificial", "Deepfake")),
])
def test_one_real_class_and_the_fake_classes(names, real, fakes):
    labels = map_labels(names)
    assert (labels.class_names, labels.real, labels.fakes) == (tuple(names), real, fakes)


@pytest.mark.parametrize("names, problem", [
    (["LABEL_0", "LABEL_1"], "LABEL_0 (no known word), LABEL_1 (no known word) are neither REAL nor FAKE"),
    (["real", "human", "ai"], "2 classes are REAL (real, human), imgcheck needs exactly one"),
    (["ai", "gan"], "no class is REAL"),
    (["real", "photo"], "2 classes are REAL"),
    (["real", "ai", "cat"], "cat (no known word) is neither REAL nor FAKE"),
    (["real_or_fake", "real"], "real_or_fake (words of both sides ('fake', 'real')) is neither REAL nor FAKE"),
])
def test_ambiguous_labels_are_refused_with_the_list_and_the_options(names, problem):
    with pytest.raises(LabelMapError) as caught:
        map_labels(names, source="org/model")
    message = caught.value.message
    listing = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    assert message.startswith(f"org/model: its labels ({listing}) cannot be read as REAL/FAKE: {problem}")
    assert "--real-label NAME" in message and "--fake-label NAME (repeatable)" in message and "\n" not in message


def test_the_options_settle_what_the_words_cannot():
    assert map_labels(["LABEL_0", "LABEL_1"], fake_labels=["LABEL_1"]).real == "LABEL_0"  # the one left is REAL
    assert map_labels(["LABEL_0", "LABEL_1"], real_label="label_0").fakes == ("LABEL_1",)  # case-insensitive
    several = map_labels(["c0", "c1", "c2"], real_label="c2")  # every other class counts as FAKE
    assert several.fakes == ("c0", "c1") and "not the --real-label" in several.describe()
    assert map_labels(["real", "human", "ai"], real_label="human").fakes == ("real", "ai")
    mixed = map_labels(["real", "ai", "cat"], fake_labels=["cat"])
    assert mixed.fakes == ("ai", "cat") and mixed.real == "real"
    assert map_labels(["c0", "c1", "c2"], fake_labels=["c1", "c2"]).real == "c0"
    with pytest.raises(LabelMapError, match="neither REAL nor FAKE"):  # without an option, cat is never made REAL
        map_labels(["cat", "ai"])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"fake_labels": ["dog"]}, "--fake-label 'dog' is not one of its labels (0: real, 1: ai)"),
    ({"real_label": "dog"}, "--real-label 'dog' is not one of its labels"),
    ({"real_label": "ai", "fake_labels": ["ai"]}, "'ai' is given as both --real-label and --fake-label"),
])
def test_options_must_name_labels_of_the_model(kwargs, fragment):
    with pytest.raises(LabelMapError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        map_labels(["real", "ai"], **kwargs)


def test_describe_says_each_class_side_and_why():
    assert map_labels(["artificial", "human"]).describe() == (
        "0 artificial -> FAKE (word 'artificial'), 1 human -> REAL (word 'human')")


def test_id2label_in_index_order():
    assert labels_from_id2label({"1": "human", "0": "artificial"}) == ("artificial", "human")
    assert labels_from_id2label({0: "a", 1: "b", 2: "c"}) == ("a", "b", "c")
    with pytest.raises(LabelMapError, match="must be class indices 0..N-1"):
        labels_from_id2label({"0": "a", "2": "b"})
    with pytest.raises(LabelMapError, match="must be class indices 0..N-1"):
        labels_from_id2label({"x": "a"})
    with pytest.raises(LabelMapError, match="must be different, non-empty names"):
        map_labels(["Real", "real"])
