"""imgcheck.export: write models (TorchScript, ONNX) that carry their ModelMeta."""
