"""Complete a model file's ModelMeta before it ships: the whole chain of weights it was fine-tuned from, and the
test metrics of the file itself (an int8 file scores a little differently from the checkpoint it was exported from).

    python tools/complete_shipped_meta.py MODEL.onnx --metrics SCAN.json --weights-file CHECKPOINT

MODEL's ModelMeta gets provenance.extra["weights_file"] = the record `imgcheck train` makes of CHECKPOINT (with
"from": the weights file that checkpoint's run started from, and so on), provenance.test_metrics = SCAN.json's
"metrics" (from `imgcheck scan DIR --model MODEL --metrics SCAN.json`), and provenance.extra["test_metrics_of"]
saying so. Only the metadata changes; the file is rewritten in place, read back and checked first.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from imgcheck.infer.models.model_file import ModelFile
from imgcheck.infer.models.rewrite import write_model_with_meta
from imgcheck.trainer.weights_record import weights_file_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the ONNX or TorchScript file to complete (rewritten in place)")
    parser.add_argument("--metrics", required=True, help="`imgcheck scan --metrics` JSON of this very file")
    parser.add_argument("--weights-file", required=True, help="the --weights-file its training run started from")
    args = parser.parse_args()
    model_file = ModelFile.open(args.model)
    provenance = model_file.meta.provenance
    scan = json.loads(open(args.metrics).read())
    extra = {**provenance.extra, "weights_file": weights_file_record(args.weights_file),
             "test_metrics_of": f"this file: imgcheck scan {', '.join(scan['inputs'])} --metrics"}
    meta = model_file.meta.replace(provenance=replace(provenance, extra=extra, test_metrics=scan["metrics"]))
    write_model_with_meta(model_file, args.model, meta)


if __name__ == "__main__":
    main()
