"""imgcheck.infer must import and work with neither torch nor onnx installed (scanning needs neither)."""

import subprocess
import sys

_IMPORT_ALL_WITHOUT_TORCH = """
import importlib, pkgutil, sys
for blocked in ("torch", "torchvision", "onnx", "onnxscript"):
    sys.modules[blocked] = None
import imgcheck.infer as infer
# The network definitions are torch modules themselves; every other module imports them inside functions only (so
# this walk fails if one imports them at its top).
NEEDS_TORCH = {"imgcheck.infer.models.architectures", "imgcheck.infer.models.backbones",
               "imgcheck.infer.models.stage_features"}
names = [m.name for m in pkgutil.walk_packages(infer.__path__, "imgcheck.infer.")
         if not m.name.endswith("__main__") and m.name not in NEEDS_TORCH]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_infer_module_imports_without_torch_or_onnx():
    result = subprocess.run([sys.executable, "-c", _IMPORT_ALL_WITHOUT_TORCH], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 10  # it really walked the package


_API_WITHOUT_TORCH = """
import sys
for blocked in ("torch", "torchvision", "onnx", "onnxscript"):
    sys.modules[blocked] = None
import numpy as np
import imgcheck
detector = imgcheck.Detector()  # the bundled ONNX model, through onnxruntime
result = detector.predict([np.zeros((32, 32, 3), np.uint8)])
assert result[0].verdict in ("REAL", "FAKE"), result
from imgcheck.infer.cli.root import cli
try:
    cli(["--help"], prog_name="imgcheck")
except SystemExit as exit:
    assert exit.code == 0
print("OK", sorted(name for name in ("torch", "onnx", "sklearn") if sys.modules.get(name) is not None))
"""


def test_the_package_root_the_api_and_help_need_no_torch():
    result = subprocess.run([sys.executable, "-c", _API_WITHOUT_TORCH], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK []"  # nor scikit-learn: predicting needs no metrics


def test_importing_the_package_root_loads_nothing_but_itself():
    code = ("import sys, imgcheck; print(sorted(m for m in sys.modules if m.startswith('imgcheck'))); "
            "imgcheck.Detector; print('numpy' in sys.modules, 'onnxruntime' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "['imgcheck']"  # the API's modules load on first use
    assert lines[1] == "True False"  # imgcheck.Detector brings numpy, not the runtime
