"""imgcheck.trainer: datasets, models and checkpoints for training detectors (needs torch)."""
