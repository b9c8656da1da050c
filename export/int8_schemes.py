"""The int8 schemes of onnxruntime's quantizer that imgcheck offers, and which one a CPU gets by default.

Static schemes (calibrated, QDQ, every layer but the first convolution) suit convolutional networks. Activations are
always unsigned 8-bit; the weights are unsigned (U8U8) or signed (U8S8), the latter optionally with `reduce_range`
(7-bit weights). The dynamic schemes quantize only the MatMuls, with activation ranges computed per batch at run
time and no calibration: the scheme for transformers (ViT, Swin), whose time is in MatMuls and whose activations a
static calibration fits badly. Which CPUs compute U8S8 exactly is `imgcheck.infer.int8_cpu`'s to say (VNNI
and AMX do; x86 without them saturates), and a scan warns when a U8S8 file with 8-bit weights meets a CPU that does
not. `benchmarks/results/int8_schemes*.md` measure parity and speed of each on the machines they ran on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imgcheck.infer.int8_cpu import has_vnni, saturates_signed_int8


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
    """The first static scheme `auto` tries on a CPU with `flags` (see `auto_schemes`)."""
    return auto_schemes(flags)[0]


def auto_schemes(flags: Iterable[str]) -> tuple[Int8Scheme, ...]:
    """The static schemes `--int8-scheme auto` tries in turn on a CPU with `flags`, keeping the first whose file
    passes the parity gate: U8S8 where VNNI or AMX computes it exactly; on other x86 CPUs, whose kernels sum u8 x s8
    pairs in saturating 16 bits, U8S8 with 7-bit weights (reduce_range: 255 x 64 x 2 < 2^15, so it cannot saturate,
    and runs at U8S8's speed), then U8U8 (exact, but often no faster than float32 there:
    benchmarks/results/int8_schemes_avx2.md); U8U8 on other CPUs."""
    flags = set(flags)
    if has_vnni(flags):
        return (SCHEMES["u8s8"],)
    if saturates_signed_int8(flags):
        return SCHEMES["u8s8-reduce-range"], SCHEMES["u8u8"]
    return (SCHEMES["u8u8"],)


def candidate_schemes(name: str, flags: Iterable[str] | None = None) -> tuple[Int8Scheme, ...]:
    """The schemes an export called `name` tries in turn: `auto_schemes` of `flags` (default: this machine's CPU)
    for auto, else the one named."""
    if name != "auto":
        return (resolve_scheme(name),)
    if flags is None:
        from imgcheck.infer.system import cpu_flags

        flags = cpu_flags()
    return auto_schemes(flags)


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
