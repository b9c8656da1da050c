"""Whether this CPU computes a quantized model's int8 arithmetic exactly, and the warning a scan gives when not.

Activations are unsigned 8-bit in every scheme imgcheck exports; weights are unsigned (U8U8) or signed (U8S8). On
x86, onnxruntime multiplies u8 x s8 with VPMADDUBSW on CPUs without VNNI, whose 16-bit intermediate sums saturate:
a U8S8 file exported on a VNNI machine can flip verdicts when it runs on one without (7% of a CIFAKE CNN's verdicts
in `benchmarks/results/int8_schemes.md`'s earlier measurement). VNNI (AVX512-VNNI, AVX-VNNI) and AMX accumulate in
32 bits. Signed weights within [-64, 64] (U8S8 with reduce_range) cannot saturate: a pair sums to at most
2 x 255 x 64 = 32,640 < 2^15. `imgcheck export --int8-scheme auto` picks the schemes it tries from the same flags.
"""

from __future__ import annotations

from collections.abc import Iterable

VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})  # 32-bit accumulation of u8 x s8 products
_SATURATING_FLAGS = frozenset({"ssse3", "avx2", "avx512bw"})  # x86 CPUs with VPMADDUBSW (PMADDUBSW on SSSE3)


def has_vnni(flags: Iterable[str]) -> bool:
    """Whether a CPU with these /proc/cpuinfo flags accumulates u8 x s8 products without 16-bit saturation."""
    return bool(VNNI_FLAGS & set(flags))


def saturates_signed_int8(flags: Iterable[str]) -> bool:
    """Whether a CPU with these flags computes u8 x s8 through saturating 16-bit sums: x86 without VNNI or AMX (other
    CPUs, e.g. ARM, are not flagged)."""
    flags = set(flags)
    return bool(_SATURATING_FLAGS & flags) and not has_vnni(flags)


def signed_int8_warning(signed_weights: bool, provider: str, flags: Iterable[str]) -> str | None:
    """The warning for a quantized ONNX model with signed 8-bit (U8S8) weights, wider than 7 bits, run by
    onnxruntime's CPU provider on a CPU whose kernels saturate them; None when there is nothing to warn about."""
    if not signed_weights or provider != "CPUExecutionProvider" or not saturates_signed_int8(flags):
        return None
    return ("this int8 model has signed 8-bit (U8S8) weights, and this CPU has no VNNI: onnxruntime's int8 kernels "
            "can saturate and change verdicts. Export the int8 file on this machine (imgcheck export --int8, whose "
            "--int8-scheme auto picks 7-bit signed or unsigned weights here) or scan the fp32 file.")
