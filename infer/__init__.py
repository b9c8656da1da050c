"""imgcheck.infer: scanning, model metadata and preprocessing. Imports neither torch nor onnx."""
