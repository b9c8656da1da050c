"""One runtime per module behind one interface: `Backend(path)`, then `backend(batch) -> p_fake`.

A backend takes float32 (N, 3, H, W) inputs (made by imgcheck.infer.preprocess) and returns float32 (N,)
probabilities of the positive class.
"""
