"""The built wheel maps the repository's folders under `imgcheck.` and never installs them top-level."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, cwd=out,
    )
    (built,) = out.glob("imgcheck_detector-*.whl")
    return zipfile.ZipFile(built)


def test_packages_live_under_the_imgcheck_namespace(wheel):
    names = wheel.namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"imgcheck"}
    for sub in ("infer", "export", "trainer"):
        assert f"imgcheck/{sub}/__init__.py" in names
    assert "imgcheck/__init__.py" in names  # the package root: the Python API (api/ in the repository)
    for room in ("models", "runtime", "scan", "evaluate", "bench", "cli"):
        assert f"imgcheck/infer/{room}/__init__.py" in names
    assert "imgcheck/infer/cli/info.py" in names
    assert "imgcheck/infer/models/cnn_bn_wide-cifake.onnx" in names  # the bundled default model ships as package data
    from imgcheck.infer.models.shipped import SHIPPED

    assert all(f"imgcheck/infer/models/{m.file}" in names for m in SHIPPED.values())  # every shipped model
    assert "imgcheck/infer/models/licenses/open_nsfw-BSD-2-Clause.txt" in names  # its weights' licence with it
    assert not any(name.startswith("imgcheck/tests") or "/tests/" in name for name in names)


def test_console_script_and_extras(wheel):
    dist_info = next(n.split("/")[0] for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "imgcheck = imgcheck.infer.cli.root:main" in entry_points
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    for extra in ("cpu", "gpu", "train", "hub", "dev"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "onnxruntime>=" in metadata and "onnxruntime-gpu>=" in metadata
    base = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not any("torch" in line or "onnxruntime" in line for line in base)  # scanning base install has neither
    assert not any(name in line for line in base for name in ("transformers", "safetensors", "huggingface"))
    for extra in ("cpu", "gpu"):  # provenance is on by default: whoever installs a runtime gets C2PA too
        assert f'Requires-Dist: c2pa-python>=0.38; extra == "{extra}"' in metadata
    assert any("defusedxml" in line for line in base)


def test_every_source_package_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    for folder in ("infer", "export", "trainer"):
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.relative_to(ROOT).as_posix()
            assert f"imgcheck/{relative}" in names, f"{relative}: add its package to [tool.setuptools] packages"
