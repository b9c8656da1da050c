"""The README's quick start and Python snippet run as written.

The README marks them with HTML comments (`<!-- quickstart -->` ... `<!-- /quickstart -->`, `<!-- python-api -->`
... `<!-- /python-api -->`). They are run unchanged in a scratch folder laid out like the repository root after
`make demo`: a copy of `samples/` and `.venv` (the virtual environment running these tests). The venv's bin folder
is taken off PATH, so the quick start must find `imgcheck` through its own `source .venv/bin/activate`.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIELDS = ["path", "p_fake", "verdict", "error", "width", "height", "provenance", "domain"]


def marked_block(name: str, language: str) -> str:
    """The fenced `language` block between <!-- name --> and <!-- /name --> in the README."""
    text = README.read_text(encoding="utf-8")
    marked = re.search(rf"<!--\s*{name}\s*-->(.*?)<!--\s*/{name}\s*-->", text, re.S)
    assert marked, f"README.md has no <!-- {name} --> ... <!-- /{name} --> block"
    fenced = re.search(rf"```{language}\n(.*?)```", marked.group(1), re.S)
    assert fenced, f"the {name} block of README.md holds no ```{language} code"
    return fenced.group(1)


def test_readme_is_short_and_marks_its_runnable_blocks():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 250
    assert "source .venv/bin/activate" in marked_block("quickstart", "bash")
    assert "import imgcheck" in marked_block("python-api", "python")


def test_no_page_tells_users_to_install_another_projects_package():
    """PyPI's `imgcheck` is someone else's project; ours is `imgcheck-detector`. A line may name the other one only
    to warn against it."""
    install = re.compile(r"pip install (?:-\S+ )*['\"]?imgcheck(?![\w-])")
    pages = [README, ROOT / "CONTRIBUTING.md", ROOT / "MODEL_CARD.md", ROOT / "Makefile",
             *(ROOT / "docs").glob("*.md"), *(ROOT / ".github").rglob("*.yml")]
    offending = [f"{page.relative_to(ROOT)}: {line.strip()}" for page in pages if page.is_file()
                 for line in page.read_text(encoding="utf-8").splitlines()
                 if install.search(line) and "unrelated" not in line]
    assert not offending, "\n".join(offending)


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder with `samples/` and `.venv`, as the repository root is after `make demo`."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "samples", folder / "samples")
    (folder / "demo").mkdir()  # make demo's verdicts, which the quick start scans over
    (folder / "demo" / "verdicts.csv").write_text(",".join(FIELDS) + "\nsamples/FAKE/x.jpg,0.9,FAKE,,32,32,,ok\n")
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "activate").is_file():
        (folder / ".venv").symlink_to(bin_dir.parent, target_is_directory=True)
    else:  # tests run outside a virtual environment: an activate script that does what a venv's does for PATH
        (folder / ".venv" / "bin").mkdir(parents=True)
        (folder / ".venv" / "bin" / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    assert (bin_dir / "imgcheck").is_file(), f"no imgcheck command beside {sys.executable}: pip install -e '.[cpu]'"
    return folder


@pytest.fixture(scope="module")
def quickstart(demo_folder: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir) \
        or "/usr/bin:/bin"
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", marked_block("quickstart", "bash")],
                          cwd=demo_folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_quickstart_runs_as_written(demo_folder: Path, quickstart: subprocess.CompletedProcess):
    assert quickstart.returncode == 0, f"stdout:\n{quickstart.stdout}\nstderr:\n{quickstart.stderr}"
    with open(demo_folder / "demo" / "verdicts.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == FIELDS
    assert len(rows) > 80 and {row[2] for row in rows[1:]} <= {"REAL", "FAKE"}
    assert quickstart.stdout.splitlines()[0] == ",".join(FIELDS)  # `head -4` shows the header first
    assert (demo_folder / "demo" / "report" / "index.html").is_file()
    assert (demo_folder / "demo" / "verdicts.csv.json").is_file()
    # the camera photos: the README says one of the three real photos comes out FAKE, with a warning
    with open(demo_folder / "demo" / "photos.csv", newline="", encoding="utf-8") as handle:
        photos = list(csv.DictReader(handle))
    assert len(photos) == 3 and [row["verdict"] for row in photos].count("FAKE") == 1
    assert "trained on 32×32 images; 3 of 3 images here are larger than 4× that" in quickstart.stderr


@pytest.mark.slow
def test_python_snippet_runs_as_written(demo_folder: Path, quickstart: subprocess.CompletedProcess):
    assert quickstart.returncode == 0, "the quick start failed; the snippet runs after it"
    snippet = marked_block("python-api", "python")
    result = subprocess.run([sys.executable, "-c", snippet], cwd=demo_folder, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAKE ") and lines[1].startswith("REAL ")  # samples/FAKE/0.jpg, samples/REAL/0000.jpg
    assert any(line.startswith("samples/REAL/photos/city_3.jpg ") for line in lines)
    # ScanJob writes what `imgcheck scan` writes: the same verdicts, byte for byte, and the report
    assert (demo_folder / "demo" / "api.csv").read_bytes() == (demo_folder / "demo" / "verdicts.csv").read_bytes()
    assert (demo_folder / "demo" / "api-report" / "index.html").is_file()
    assert lines[-1].endswith(" 0")  # exit status 0: every file scanned
