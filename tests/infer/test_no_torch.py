"""imgcheck.infer must import and work with neither torch nor onnx installed (scanning needs neither)."""

import subprocess
import sys

_IMPORT_ALL_WITHOUT_TORCH = """
import importlib, pkgutil, sys
for blocked in ("torch", "torchvision", "onnx", "onnxscript"):
    sys.modules[blocked] = None
import imgcheck.infer as infer
names = [m.name for m in pkgutil.walk_packages(infer.__path__, "imgcheck.infer.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_infer_module_imports_without_torch_or_onnx():
    result = subprocess.run([sys.executable, "-c", _IMPORT_ALL_WITHOUT_TORCH], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 10  # it really walked the package
