"""benchmarks/paired_verdicts.py: two scans of one labeled folder compared image by image."""

import csv
import json
from pathlib import Path

import pytest

from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def paired_verdicts():
    return load_benchmark("paired_verdicts")


def _scan(folder: Path, name: str, threshold: float, scores: dict[str, float | None]) -> tuple[Path, Path]:
    verdicts, metrics = folder / f"{name}.csv", folder / f"{name}.json"
    with verdicts.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "p_fake", "verdict", "error"])
        for path, p in scores.items():
            writer.writerow([path, "" if p is None else p, "", "" if p is not None else "unreadable"])
    metrics.write_text(json.dumps({"model": {"name": name}, "threshold": threshold}))
    return verdicts, metrics


def test_discordant_images_mcnemar_and_the_pair(paired_verdicts, tmp_path):
    # A (threshold 0.5) is wrong on f2 and r2; B (threshold 0.7) on f1 (0.6 < 0.7) and r2; unreadable x is skipped
    a = _scan(tmp_path, "a", 0.5, {"d/FAKE/f1.png": 0.9, "d/FAKE/f2.png": 0.4, "d/REAL/r1.png": 0.1,
                                   "d/REAL/r2.png": 0.8, "d/REAL/x.png": None})
    b = _scan(tmp_path, "b", 0.7, {"d/FAKE/f1.png": 0.6, "d/FAKE/f2.png": 0.95, "d/REAL/r1.png": 0.2,
                                   "d/REAL/r2.png": 0.75, "other/n.png": 0.3})
    result = paired_verdicts.paired(paired_verdicts.read_scan(*a), paired_verdicts.read_scan(*b))
    assert result["n"] == 4 and result["accuracy_a"] == result["accuracy_b"] == 0.5
    assert (result["only_a_wrong"], result["only_b_wrong"], result["both_wrong"]) == (1, 1, 1)
    assert result["mcnemar_p"] == pytest.approx(1.0)
    # the pair shifts each logit by its own threshold: f1 (+2.20 - 0.85)/2 > 0 and f2 (-0.41 + 2.10)/2 > 0 are FAKE,
    # r1 REAL, r2 (1.39 + 0.25)/2 > 0 still FAKE: 3 of 4 right
    assert result["pair_accuracy"] == 0.75


def test_scans_of_different_folders_are_refused(paired_verdicts, tmp_path):
    a = _scan(tmp_path, "a", 0.5, {"one/FAKE/f.png": 0.9})
    b = _scan(tmp_path, "b", 0.5, {"two/FAKE/f.png": 0.9})
    with pytest.raises(SystemExit, match="share no labeled image"):
        paired_verdicts.paired(paired_verdicts.read_scan(*a), paired_verdicts.read_scan(*b))
