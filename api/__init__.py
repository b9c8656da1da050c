"""imgcheck: tell real photographs from AI-generated images, at batch scale.

The Python API beside the `imgcheck` command line (imports neither torch nor onnxruntime until it runs a model):

    import imgcheck
    detector = imgcheck.Detector()                      # the bundled model; or Detector("model.onnx")
    results = detector.predict(["a.jpg", pil_image, uint8_array])
    for row in imgcheck.scan(["photos/"]):              # the rows `imgcheck scan` writes
        print(row.path, row.p_fake, row.verdict)
    result = imgcheck.ScanJob(["photos/"], out="verdicts.csv", report="report").run()   # what the CLI writes
"""

from __future__ import annotations

from typing import Any

__all__ = ["Detector", "Prediction", "ScanJob", "ScanResult", "scan"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from imgcheck.infer import api

        return getattr(api, name)
    raise AttributeError(f"module 'imgcheck' has no attribute {name!r}")
