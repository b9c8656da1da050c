"""`imgcheck scan` writes each row's domain (CSV column after provenance, JSONL key), and with
--abstain-out-of-domain gives out-of-domain rows the verdict UNSURE, left out of the metrics and gates and counted
in the summary, the metrics, the sidecar and the report; --resume finishes files written before the column, and
refuses to mix abstention settings.

The BrightnessDetector (32×32 inputs, no recorded training sizes, so judged by its input size: far larger is a side
over 128, far smaller one under 8) scores a uniform image by its gray level: p_fake >= 0.5 above 127.5.
"""

import csv
import json

import numpy as np
import pytest
from PIL import Image

import imgcheck
from imgcheck.infer.cli.root import cli
from imgcheck.infer.scan.verdict_formats import CsvFormat
from synthetic_data import gray_image

# name: (size, gray level); FAKE/ sorts before REAL/, so this is the scan's order
IMAGES = {"FAKE/a_in_bright.png": ((32, 32), 220), "FAKE/b_small_dark.png": ((4, 4), 30),
          "FAKE/c_in_bright.png": ((40, 40), 200), "REAL/a_in_dark.png": ((32, 32), 30),
          "REAL/b_big_bright.png": ((400, 300), 220), "REAL/c_in_dark.png": ((64, 48), 60)}
DOMAINS = ["ok", "out:smaller-than-1/4-training", "ok", "ok", "out:larger-than-4x-training", "ok", ""]
PLAIN = ["FAKE", "REAL", "FAKE", "REAL", "FAKE", "REAL", "ERROR"]  # the two out-of-domain images are wrong
ABSTAINED = ["FAKE", "UNSURE", "FAKE", "REAL", "UNSURE", "REAL", "ERROR"]
ABSTAIN = "--abstain-out-of-domain"


@pytest.fixture
def labeled(tmp_path):
    root = tmp_path / "set"
    for name, (size, level) in IMAGES.items():
        gray_image(root / name, level, size=size)
    (root / "REAL" / "d_broken.png").write_bytes(b"not a png")
    return root


def _scan(runner, model, folder, out, *extra):
    return runner.invoke(cli, ["scan", str(folder), "--model", str(model), "--out", str(out), "--workers", "0",
                               *extra])


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _said(result):
    return " ".join(result.stderr.split())


def test_by_default_verdicts_stay_real_or_fake_and_the_domain_column_marks_the_rest(runner, brightness_model,
                                                                                      labeled, tmp_path):
    out = tmp_path / "v.csv"
    result = _scan(runner, brightness_model, labeled, out, "--fail-under", "accuracy=0.9")
    assert result.exit_code == 4, result.output  # the out-of-domain mistakes count: accuracy 4/6
    assert out.read_text().startswith("path,p_fake,verdict,error,width,height,provenance,domain\n")
    rows = _rows(out)
    assert [r["domain"] for r in rows] == DOMAINS and [r["verdict"] for r in rows] == PLAIN
    said = _said(result)
    assert "out of domain 2 of 6 (1 larger than 4×, 1 smaller than 1/4 the training sizes)" in said
    assert "UNSURE" not in said and "their verdicts are unreliable" in said
    assert "accuracy = 0.6667 is below the bound 0.9" in said
    side = json.loads((tmp_path / "v.csv.json").read_text())
    assert "UNSURE" not in side["counts"]
    assert side["domain"] == {
        "train_image_sizes": [[32, 32], [32, 32]], "recorded": False, "factor": 4, "sized": 6, "larger": 1,
        "smaller": 1, "out_of_domain": 2, "abstain": False, "abstained": 0}


def test_abstaining_gives_unsure_and_the_metrics_and_gates_judge_the_rest(runner, brightness_model, labeled,
                                                                           tmp_path):
    plain, out = tmp_path / "plain.csv", tmp_path / "v.csv"
    _scan(runner, brightness_model, labeled, plain, "--quiet")
    result = _scan(runner, brightness_model, labeled, out, ABSTAIN, "--fail-under", "accuracy=0.9", "--metrics",
                   str(tmp_path / "m.json"), "--report", str(tmp_path / "report"))
    assert result.exit_code == 3, result.output  # the gate passes on the rows with verdicts; the broken file: 3
    rows, before = _rows(out), _rows(plain)
    assert [r["verdict"] for r in rows] == ABSTAINED and [r["domain"] for r in rows] == DOMAINS
    assert [r["p_fake"] for r in rows] == [r["p_fake"] for r in before]  # p_fake is still written
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert (metrics["n"], metrics["n_errors"], metrics["n_abstained"], metrics["accuracy"]) == (4, 1, 2, 1.0)
    said = _said(result)
    assert "UNSURE 2" in said and "2 of 6 (1 larger than 4×, 1 smaller than 1/4 the training sizes); 2 abstained " \
                                  "(UNSURE)" in said
    assert "2 labeled file(s) are UNSURE" in said and "n_abstained 2" in said and "all 1 gate(s) passed" in said
    assert "their verdicts are UNSURE (--abstain-out-of-domain)" in said
    side = json.loads((tmp_path / "v.csv.json").read_text())
    assert side["counts"]["UNSURE"] == 2 and side["counts"]["FAKE"] == 2 and side["counts"]["REAL"] == 2
    assert side["domain"]["abstain"] is True and side["domain"]["abstained"] == 2
    page = " ".join((tmp_path / "report" / "index.html").read_text().split())
    assert "1 ERROR, 2 UNSURE (abstained: out of domain)" in page
    assert "Out of domain (far from the training sizes): 2 of 6" in page
    assert "2 UNSURE (out of the model's domain; not scored)" in page and "domain out:larger-than-4x-training" in page


def test_jsonl_lines_carry_the_domain(runner, brightness_model, labeled, tmp_path):
    out = tmp_path / "v.jsonl"
    assert _scan(runner, brightness_model, labeled, out, ABSTAIN, "--quiet").exit_code == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["domain"] for line in lines] == [d or None for d in DOMAINS]
    assert [line["verdict"] for line in lines] == ABSTAINED and lines[1]["p_fake"] < 0.5


def _old_layout(path, cut_after):
    """`path` as an imgcheck before the domain column wrote it, killed while writing row `cut_after` + 1."""
    lines = [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]
    return "\n".join(lines[:cut_after + 1]) + "\n" + lines[cut_after + 1][:6]


def test_resume_finishes_a_file_written_before_the_domain_column_as_one_scanned_whole(runner, brightness_model,
                                                                                       labeled, tmp_path):
    whole, old = tmp_path / "whole.csv", tmp_path / "old.csv"
    assert _scan(runner, brightness_model, labeled, whole, "--quiet").exit_code == 3
    old.write_text(_old_layout(whole, 4))  # four rows kept, one of them out of domain
    assert old.read_text().startswith("path,p_fake,verdict,error,width,height,provenance\n")
    side = json.loads((tmp_path / "whole.csv.json").read_text())
    for key in ("out_of_domain", "abstain", "abstained"):
        del side["domain"][key]  # the sidecar of that imgcheck
    (tmp_path / "old.csv.json").write_text(json.dumps(side))
    refused = _scan(runner, brightness_model, labeled, old, "--resume", ABSTAIN)
    assert refused.exit_code == 1 and old.read_text() == _old_layout(whole, 4)  # untouched
    assert (f"cannot resume {old}: its rows were scanned without --abstain-out-of-domain; drop "
            "--abstain-out-of-domain to finish it, or scan without --resume to start afresh.") in _said(refused)
    resumed = _scan(runner, brightness_model, labeled, old, "--resume", "--quiet")
    assert resumed.exit_code == 3, resumed.output
    assert old.read_bytes() == whole.read_bytes()  # kept rows got their domain from the same rule
    assert json.loads((tmp_path / "old.csv.json").read_text())["counts"]["resumed_rows"] == 4


def test_resume_refuses_to_mix_abstention_settings_and_finishes_with_the_same(runner, brightness_model, labeled,
                                                                               tmp_path):
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    assert _scan(runner, brightness_model, labeled, whole, ABSTAIN, "--quiet").exit_code == 3
    assert _scan(runner, brightness_model, labeled, cut, ABSTAIN, "--quiet").exit_code == 3
    lines = whole.read_bytes().split(b"\n")
    cut.write_bytes(b"\n".join(lines[:4]) + b"\n" + lines[4][:7])
    refused = _scan(runner, brightness_model, labeled, cut, "--resume")
    assert refused.exit_code == 1 and "its rows were scanned with --abstain-out-of-domain; add " \
                                      "--abstain-out-of-domain to finish it" in _said(refused)
    resumed = _scan(runner, brightness_model, labeled, cut, "--resume", ABSTAIN, "--quiet")
    assert resumed.exit_code == 3 and cut.read_bytes() == whole.read_bytes()


def test_the_python_api_carries_the_domain(runner, brightness_model, labeled, tmp_path):
    out = tmp_path / "v.csv"
    assert _scan(runner, brightness_model, labeled, out, ABSTAIN, "--quiet").exit_code == 3
    rows = list(imgcheck.scan(labeled, brightness_model, workers=0, abstain_out_of_domain=True))
    assert CsvFormat().header() + CsvFormat().encode(rows) == out.read_text()  # every column, byte for byte
    assert [r.domain for r in rows] == [d or None for d in DOMAINS]
    assert [r.verdict for r in imgcheck.scan(labeled, brightness_model, workers=0)] == PLAIN
    detector = imgcheck.Detector(brightness_model, device="cpu")
    inputs = [str(labeled / "REAL" / "b_big_bright.png"), Image.new("RGB", (400, 300), (220, 220, 220)),
              np.full((4, 4, 3), 30, np.uint8), np.full((32, 32), 220, np.uint8), b"not an image"]
    plain = detector.predict(inputs)
    assert [p.domain for p in plain] == ["out:larger-than-4x-training", "out:larger-than-4x-training",
                                         "out:smaller-than-1/4-training", "ok", None]
    assert [p.verdict for p in plain] == ["FAKE", "FAKE", "REAL", "FAKE", "ERROR"]
    abstained = detector.predict(inputs, abstain_out_of_domain=True)
    assert [p.verdict for p in abstained] == ["UNSURE", "UNSURE", "UNSURE", "FAKE", "ERROR"]
    assert [p.p_fake for p in abstained[:4]] == [p.p_fake for p in plain[:4]]


@pytest.mark.slow
def test_the_ray_engine_writes_the_same_domain_and_verdicts(runner, brightness_model, labeled, tmp_path, local_ray):
    for index, extra in enumerate(((), (ABSTAIN,))):
        local, on_ray = tmp_path / f"local{index}.csv", tmp_path / f"ray{index}.csv"
        assert _scan(runner, brightness_model, labeled, local, "--quiet", *extra).exit_code == 3
        result = runner.invoke(cli, ["scan", str(labeled), "--model", str(brightness_model), "--out", str(on_ray),
                                     "--quiet", "--engine", "ray", "--num-workers", "1", *extra])
        assert result.exit_code == 3, result.output
        assert on_ray.read_bytes() == local.read_bytes()
        assert [r["domain"] for r in _rows(on_ray)] == DOMAINS
