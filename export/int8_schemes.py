"""The int8 schemes of onnxruntime's quantizer that imgcheck offers, and which one a CPU gets by default.

Static schemes (calibrated, QDQ, every layer but the first convolution) suit convolutional networks. Activations are
always unsigned 8-bit; the weights are unsigned (U8U8) or signed (U8S8), the latter optionally with `reduce_range`
(7-bit weights). The dynamic schemes quantize only the MatMuls, with activation ranges computed per batch at run
time and no calibration: the scheme for transformers (ViT, Swin), whose time is in MatMuls and whose activations a
static calibration fits badly. Which CPUs compute U8S8 exactly is `imgcheck.infer.int8_cpu`'s to say (VNNI
and AMX do; x86 without them saturates), and a scan warns when a U8S8 file meets a CPU that does not.
`benchmarks/results/int8_schemes.md` measures parity and speed of each on the machine it ran on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imgcheck.infer.int8_cpu import has_vnni


@dataclass(frozen=True)
class Int8Scheme:
    """One quantizer setting: static or dynamic, signed or unsigned weights, with or without reduce_range."""

    name: str
    signed_weights: bool
    reduce_range: bool
    description: str
    dynamic: bool = False  # onnxruntime's quantize_dynamic of the MatMuls; no calibration images



SCHEMES = {
    "u8u8": Int8Scheme("u8u8", False, False, "unsigned activations and weights"),
    "u8s8": Int8Scheme("u8s8", True, False, "unsigned activations, signed weights"),
    "u8s8-reduce-range": Int8Scheme("u8s8-reduce-range", True, True,
                                    "unsigned activations, signed 7-bit weights (reduce_range)"),
    "dynamic": Int8Scheme("dynamic", True, False, "MatMuls only, activations quantized at run time, signed weights",
                          dynamic=True),
    "dynamic-reduce-range": Int8Scheme("dynamic-reduce-range", True, True,
                                       "MatMuls only, activations quantized at run time, signed 7-bit weights",
                                       dynamic=True),
}
SCHEME_CHOICES = ("auto", *SCHEMES)
# How a static scheme sets each activation's range from the calibration images (onnxruntime's calibrators): minmax,
# the extremes seen; percentile, the 99.999th percentile of |values| (clips rare outliers for finer steps); entropy,
# the range whose 128-bin histogram keeps most information (KL divergence).
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


def default_scheme(flags: Iterable[str]) -> Int8Scheme:
    """The static scheme for a CPU with `flags`: U8S8 where VNNI or AMX computes it exactly, U8U8 elsewhere
    (without VNNI, U8S8 flipped 7% of a CIFAKE CNN's verdicts through saturation; U8U8 under 1%)."""
    return SCHEMES["u8s8" if has_vnni(flags) else "u8u8"]


def resolve_scheme(name: str, flags: Iterable[str] | None = None) -> Int8Scheme:
    """The scheme called `name`; `auto` is `default_scheme` of `flags` (default: this machine's CPU)."""
    if name == "auto":
        if flags is None:
            from imgcheck.infer.system import cpu_flags

            flags = cpu_flags()
        return default_scheme(flags)
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown int8 scheme {name!r}; choose from {', '.join(SCHEME_CHOICES)}") from None
