"""`scan --report DIR` for every scan: an unlabeled folder gets a gallery ranked by p_fake with a histogram, a
labeled one also the metric plots and the most confident mistakes; bounded by --report-limit, self-contained, and
(slow) rendered by headless Chromium with every image loaded."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from imgcheck.infer.cli.root import cli
from provenance_fixtures import jpeg_with_exif
from synthetic_data import gray_image

PLOTS = ("roc.png", "precision_recall.png", "confusion_matrix.png", "reliability.png", "scores.png")


def _labeled_set(root):
    """7 REAL and 5 FAKE gray images; the BrightnessDetector calls r140 and r150 FAKE, and f120 REAL."""
    for level in (20, 40, 60, 80, 100, 140, 150):
        gray_image(root / "REAL" / f"r{level}.png", level)
    for level in (120, 170, 190, 210, 230):
        gray_image(root / "FAKE" / f"f{level}.png", level)
    return root


def _unlabeled(root, count=12):
    for i in range(count):
        gray_image(root / f"photo_{i:02d}.png", 20 * i, size=(300, 200))
    jpeg_with_exif(root / "camera.jpg", make="Canon", model="Canon EOS R5")
    (root / "broken.png").write_bytes(b"not a png")
    return root


def _scan(runner, model, folder, tmp_path, *extra):
    return runner.invoke(cli, ["scan", str(folder), "--model", str(model), "--out", str(tmp_path / "v.csv"),
                               "--workers", "0", "--report", str(tmp_path / "report"), *extra])


def _local_references(page):
    return re.findall(r'src="([^"]+)"', page) + re.findall(r'href="([^"#]+)"', page)


def test_an_unlabeled_folder_gets_a_ranked_gallery(runner, brightness_model, tmp_path):
    result = _scan(runner, brightness_model, _unlabeled(tmp_path / "photos"), tmp_path, "--report-limit", "5")
    assert result.exit_code == 3, result.output  # the broken file is an ERROR row; the report is still written
    report = tmp_path / "report"
    assert f"report: {report}/index.html" in " ".join(result.stderr.split())
    page = (report / "index.html").read_text()
    assert not any((report / name).exists() for name in PLOTS) and "Labeled images" not in page
    assert (report / "histogram.png").stat().st_size > 5000
    assert len(list((report / "thumbs").iterdir())) == 5  # --report-limit
    assert "the 5 with the highest p_fake of 13 scored images" in page and "1 ERROR" in page
    shown = [float(p) for p in re.findall(r"p_fake (\d\.\d{4})</b>", page)]
    assert len(shown) == 5 and shown == sorted(shown, reverse=True)  # brighter is more FAKE: photo_11 first
    assert page.index("photo_11.png") < page.index("photo_10.png") and "photo_06.png" not in page
    assert "300×200" in page and "provenance" in page.lower()
    for ref in _local_references(page):  # self-contained: every reference is a file inside the folder
        assert "://" not in ref and (report / ref).is_file(), ref


def test_a_labeled_folder_adds_the_plots_and_the_most_confident_mistakes(runner, brightness_model, tmp_path):
    result = _scan(runner, brightness_model, _labeled_set(tmp_path / "set"), tmp_path)
    assert result.exit_code == 0, result.output
    report = tmp_path / "report"
    page = (report / "index.html").read_text()
    assert all((report / name).stat().st_size > 5000 for name in PLOTS) and "Labeled images" in page
    mistakes = page[page.index("Most confident mistakes"):page.index("Metrics (FAKE")]
    fake_called_real = mistakes[mistakes.index("FAKE images called REAL"):]
    real_called_fake = mistakes[:mistakes.index("FAKE images called REAL")]
    assert "r150.png" in real_called_fake and real_called_fake.index("r150.png") < real_called_fake.index("r140.png")
    assert "f120.png" in fake_called_real and "labeled FAKE" in fake_called_real
    assert len(list((report / "thumbs").iterdir())) == 12  # each image once, though a mistake is shown twice


def test_a_resumed_scan_reports_the_whole_output_file(runner, brightness_model, tmp_path):
    folder = _unlabeled(tmp_path / "photos")
    first = runner.invoke(cli, ["scan", str(folder), "--model", str(brightness_model), "--out", str(tmp_path / "v.csv"),
                                "--workers", "0", "--quiet"])
    assert first.exit_code == 3, first.output
    resumed = _scan(runner, brightness_model, folder, tmp_path, "--resume")
    assert resumed.exit_code == 3, resumed.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "all 13 scored images" in page and "14 files: " in page and "camera 1" in page  # kept rows included


def test_the_report_folder_must_be_writable(runner, brightness_model, tmp_path):
    gray_image(tmp_path / "photos" / "a.png", 90)
    (tmp_path / "report").write_text("a file where the folder should be")
    assert _scan(runner, brightness_model, tmp_path / "photos", tmp_path).exit_code == 2  # click: not a folder
    (tmp_path / "afile").write_text("x")
    result = runner.invoke(cli, ["scan", str(tmp_path / "photos"), "--model", str(brightness_model), "--out",
                                 str(tmp_path / "v.csv"), "--workers", "0", "--report", str(tmp_path / "afile" / "r")])
    assert result.exit_code == 1 and "cannot write the report into" in result.output
    assert "Traceback" not in result.output


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


# Injected into a copy of the page: after every image has loaded or failed, the body says how many did.
_PROBE = ('<script>window.addEventListener("load", () => { const images = [...document.images];'
          ' document.body.dataset.images = images.length; document.body.dataset.broken ='
          ' images.filter(i => !i.complete || i.naturalWidth === 0).length; });</script></body>')


def _render(page: Path) -> tuple[int, int]:
    """(images on the page, images that failed to load), as headless Chromium saw them."""
    probe = page.with_name("browser_check.html")
    probe.write_text(page.read_text().replace("</body>", _PROBE))
    try:
        done = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                               "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    body = re.search(r'<body data-images="(\d+)" data-broken="(\d+)"', done.stdout)
    assert body, f"the page did not load in Chromium: {done.stderr[-2000:]}"
    return int(body.group(1)), int(body.group(2))


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no Chromium or Chrome installed (CI installs chromium)")
def test_chromium_renders_both_reports_with_every_image_loaded(runner, brightness_model, tmp_path):
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    assert _scan(runner, brightness_model, _unlabeled(tmp_path / "photos"), unlabeled).exit_code == 3
    labeled = tmp_path / "labeled"
    labeled.mkdir()
    assert _scan(runner, brightness_model, _labeled_set(tmp_path / "set"), labeled).exit_code == 0
    for folder, expected in ((unlabeled, 1 + 13), (labeled, 1 + len(PLOTS) + 12 + 3)):
        images, broken = _render(folder / "report" / "index.html")
        assert (images, broken) == (expected, 0), folder  # histogram, plots, ranked thumbnails, mistakes again
    os.remove(unlabeled / "report" / "thumbs" / "00000.jpg")  # the check can fail: a missing image is seen
    assert _render(unlabeled / "report" / "index.html") == (14, 1)
