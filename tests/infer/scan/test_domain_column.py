"""The domain rule read three ways: each row's `domain` token, the abstention it may call for (UNSURE), and the
warning's counts; the verdict formats that carry it, files written before it, and metrics that leave UNSURE out."""

import json

import pytest

from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.evaluate.labeled_scores import LabeledScores
from imgcheck.infer.evaluate.labels import Labeler
from imgcheck.infer.evaluate.metrics import binary_metrics
from imgcheck.infer.meta import Provenance
from imgcheck.infer.scan.domain import DomainRule, SizeCheck, TrainingSizes, check_resume_abstain
from imgcheck.infer.scan.image_facts import ImageFacts
from imgcheck.infer.scan.scorer import verdict_rows
from imgcheck.infer.scan.verdict_formats import CsvFormat, JsonlFormat, Row
from tiny_models import tiny_meta

RULE = DomainRule.of(tiny_meta())  # a 32×32 model that records no training sizes: judged by its input size
SIZES = {"in.png": (32, 32), "wide.png": (128, 40), "big.jpg": (4032, 3024), "tall.png": (32, 129),
         "small.png": (7, 32), "edge.png": (8, 8), "strip.png": (1, 200)}
TOKENS = {"in.png": "ok", "wide.png": "ok", "big.jpg": "out:larger-than-4x-training",
          "tall.png": "out:larger-than-4x-training", "small.png": "out:smaller-than-1/4-training", "edge.png": "ok",
          "strip.png": "out:larger-than-4x-training+smaller-than-1/4-training"}


def test_each_size_gets_its_token_and_the_warning_counts_the_same_rows():
    assert {name: RULE.domain(*size) for name, size in SIZES.items()} == TOKENS
    assert RULE.domain(None, None) is None  # an ERROR row has no size, and no domain
    assert DomainRule(None).domain(9000, 9000) == "unknown"  # a crop model without a record: nothing to judge by
    assert DomainRule.of(tiny_meta(fit="crop", tiles=4)).sizes is None
    recorded = DomainRule.of(tiny_meta(provenance=Provenance(train_image_sizes=((200, 300), (1024, 768)))))
    assert recorded.domain(3072, 4096) == "ok" and recorded.domain(3073, 100) == "out:larger-than-4x-training"
    check = SizeCheck(RULE.sizes)
    rows = [Row(name, 0.5, "FAKE", "", w, h) for name, (w, h) in SIZES.items()] + [Row("x", None, "ERROR", "e")]
    check.add(rows)
    out = [name for name, token in TOKENS.items() if token.startswith("out:")]
    assert (check.sized, check.out, check.larger, check.smaller) == (7, len(out), 3, 2)


def _facts():
    names = list(SIZES) + ["bad.png"]
    facts = [ImageFacts(*SIZES[n]) if n in SIZES else None for n in names]
    errors = ["" if n in SIZES else "not an image format Pillow can read" for n in names]
    return names, facts, errors


def test_verdict_rows_fill_the_domain_and_abstain_only_when_asked():
    names, facts, errors = _facts()
    scores = [0.9, 0.1, 0.999, 0.2, 0.7, 0.4, 0.6]
    plain = verdict_rows(names, scores, errors, 0.5, facts, domain=RULE)
    assert [r.domain for r in plain] == [*TOKENS.values(), None]
    assert [r.verdict for r in plain] == ["FAKE", "REAL", "FAKE", "REAL", "FAKE", "REAL", "FAKE", "ERROR"]
    assert plain == verdict_rows(names, scores, errors, 0.5, facts, domain=DomainRule(RULE.sizes, False))
    abstained = verdict_rows(names, scores, errors, 0.5, facts, domain=DomainRule(RULE.sizes, abstain=True))
    assert [r.verdict for r in abstained] == ["FAKE", "REAL", "UNSURE", "UNSURE", "UNSURE", "REAL", "UNSURE", "ERROR"]
    assert [r.p_fake for r in abstained] == [r.p_fake for r in plain]  # p_fake is still there
    assert [r._replace(verdict="") for r in abstained] == [r._replace(verdict="") for r in plain]
    unknown = verdict_rows(names, scores, errors, 0.5, facts, domain=DomainRule(None, abstain=True))
    assert [r.verdict for r in unknown] == [r.verdict for r in plain]  # nothing to judge by: nothing to abstain on
    assert verdict_rows(names, scores, errors, 0.5, facts)[2].domain is None  # without a rule, rows carry none


def test_rows_keep_their_positional_fields():
    row = Row("a.png", 0.5, "FAKE", "", 4, 4, "", None, "ok")
    assert row[:8] == Row("a.png", 0.5, "FAKE", "", 4, 4, "")[:8] and row.domain == "ok" and len(row) == 9
    assert Row("a.png", 0.5, "FAKE").domain is None


ROWS = [Row("big.jpg", 0.999, "UNSURE", "", 4032, 3024, "exif:camera(X)", None, "out:larger-than-4x-training"),
        Row("in.png", 0.25, "REAL", "", 32, 32, "", None, "ok"),
        Row("crop.png", 0.75, "FAKE", "", 32, 32, "", None, "unknown"),
        Row("bad.png", None, "ERROR", "empty file (0 bytes)")]


def test_the_domain_column_comes_after_provenance_and_is_empty_on_error_rows():
    fmt = CsvFormat()
    assert fmt.header() == "path,p_fake,verdict,error,width,height,provenance,domain\n"
    assert fmt.encode(ROWS) == ("big.jpg,0.999000,UNSURE,,4032,3024,exif:camera(X),out:larger-than-4x-training\n"
                                "in.png,0.250000,REAL,,32,32,,ok\n"
                                "crop.png,0.750000,FAKE,,32,32,,unknown\n"
                                "bad.png,,ERROR,empty file (0 bytes),,,,\n")
    assert CsvFormat(class_names=("REAL", "FAKE")).header().startswith(
        "path,p_fake,verdict,error,width,height,provenance,domain,p:REAL,p:FAKE\n")
    lines = [json.loads(line) for line in JsonlFormat().encode(ROWS).splitlines()]
    assert [line["domain"] for line in lines] == ["out:larger-than-4x-training", "ok", "unknown", None]
    assert list(lines[0]) == ["path", "p_fake", "verdict", "error", "width", "height", "provenance", "domain"]
    for fmt in (CsvFormat(), CsvFormat(False), JsonlFormat()):
        assert fmt.decode(fmt.header() + fmt.encode(ROWS)) == ROWS


def test_a_file_from_before_the_domain_column_gets_the_rules_domain_when_read_back():
    names, facts, errors = _facts()
    scores = [0.9, 0.1, 0.999, 0.2, 0.7, 0.4, 0.6]
    rows = verdict_rows(names, scores, errors, 0.5, facts, domain=RULE)
    new = CsvFormat(fill_domain=RULE.domain)
    old_csv = "".join(line.rsplit(",", 1)[0] + "\n" for line in (new.header() + new.encode(rows)).splitlines())
    assert old_csv.startswith("path,p_fake,verdict,error,width,height,provenance\nin.png,0.900000,FAKE,,32,32,\n")
    assert new.decode(old_csv) == rows  # read back as the rule would have written it
    assert CsvFormat().decode(old_csv) == [r._replace(domain=None) for r in rows]  # without a rule: no domain
    jsonl = JsonlFormat(fill_domain=RULE.domain)
    old_jsonl = "".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "domain"}) + "\n"
                        for line in jsonl.encode(rows).splitlines())
    assert "domain" not in old_jsonl and jsonl.decode(old_jsonl) == rows
    classes = CsvFormat(class_names=("REAL", "FAKE"), fill_domain=RULE.domain)
    old_classes = ("path,p_fake,verdict,error,width,height,provenance,p:REAL,p:FAKE\n"
                   "big.jpg,0.750000,FAKE,,4032,3024,,0.250000,0.750000\nbad.png,,ERROR,x,,,,,\n")
    assert classes.decode(old_classes) == [
        Row("big.jpg", 0.75, "FAKE", "", 4032, 3024, "", {"REAL": 0.25, "FAKE": 0.75}, "out:larger-than-4x-training"),
        Row("bad.png", None, "ERROR", "x")]
    with pytest.raises(ValueError, match="header differs"):
        new.decode("path,p_fake,verdict,error,width,height,provenance,domain,extra\n")


def test_unsure_rows_are_left_out_of_the_metrics_and_counted():
    rows = [Row("s/REAL/1.jpg", 0.1, "REAL", "", 32, 32, "", None, "ok"),
            Row("s/REAL/2.jpg", 0.99, "UNSURE", "", 4000, 3000, "", None, "out:larger-than-4x-training"),
            Row("s/FAKE/gen/1.jpg", 0.9, "FAKE", "", 32, 32, "", None, "ok"),
            Row("s/FAKE/gen/2.jpg", 0.2, "UNSURE", "", 2, 2, "", None, "out:smaller-than-1/4-training"),
            Row("s/FAKE/gen/3.jpg", None, "ERROR", "x"),
            Row("elsewhere/4.jpg", 0.5, "UNSURE", "", 2, 2, "", None, "out:smaller-than-1/4-training")]
    scores = LabeledScores(Labeler())
    scores.add(rows)
    assert (scores.labeled, scores.scored, scores.abstained, scores.unlabeled) == (5, 2, 2, 1)
    doc = scores.document(0.5)
    assert doc["metrics"] == binary_metrics([0, 1], [0.1, 0.9], 0.5, n_errors=1, n_abstained=2)
    assert doc["metrics"]["n_abstained"] == 2 and doc["metrics"]["n"] == 2 and doc["metrics"]["accuracy"] == 1.0
    assert doc["groups"]["folder"]["gen"]["n_abstained"] == 1 and doc["groups"]["folder"]["gen"]["n_errors"] == 1
    only_unsure = LabeledScores(Labeler())
    only_unsure.add(rows[1:2])
    assert only_unsure.scored == 0 and only_unsure.abstained == 1


def test_the_counts_summary_and_record_say_what_abstained():
    check = SizeCheck(RULE.sizes, abstain=True)
    check.add([Row("a", 0.9, "UNSURE", "", 4032, 3024, "", None, "out:larger-than-4x-training"),
               Row("b", 0.2, "UNSURE", "", 2, 2, "", None, "out:smaller-than-1/4-training"),
               Row("c", 0.2, "REAL", "", 32, 32, "", None, "ok"), Row("d", None, "ERROR", "x")])
    assert check.summary() == "2 of 3 (1 larger than 4×, 1 smaller than 1/4 the training sizes); 2 abstained (UNSURE)"
    assert check.record()["out_of_domain"] == 2 and check.record()["abstain"] is True
    assert check.record()["abstained"] == 2
    assert check.warnings()[0].endswith("1 of 3 images here are larger than 4× that: their verdicts are UNSURE "
                                        "(--abstain-out-of-domain), see MODEL_CARD.md")
    assert SizeCheck(RULE.sizes).summary() == "0 of 0"
    assert SizeCheck(None).summary() == "not judged (the model records no training sizes)"


def test_resume_refuses_to_mix_abstention_settings(tmp_path):
    out = tmp_path / "v.csv"
    check_resume_abstain(str(out), True)  # no sidecar: nothing to check
    record = {"domain": SizeCheck(RULE.sizes, abstain=True).record()}
    (tmp_path / "v.csv.json").write_text(json.dumps(record))
    check_resume_abstain(str(out), True)
    with pytest.raises(ImgcheckError, match="its rows were scanned with --abstain-out-of-domain; add "
                                            "--abstain-out-of-domain to finish it, or scan without --resume"):
        check_resume_abstain(str(out), False)
    del record["domain"]["abstain"]  # a sidecar from before the option: scanned without it
    (tmp_path / "v.csv.json").write_text(json.dumps(record))
    check_resume_abstain(str(out), False)
    with pytest.raises(ImgcheckError, match="scanned without --abstain-out-of-domain; drop --abstain-out-of-domain"):
        check_resume_abstain(str(out), True)
