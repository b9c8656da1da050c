from imgcheck.infer.int8_cpu import has_vnni, saturates_signed_int8, signed_int8_warning

AVX2 = {"sse2", "ssse3", "avx", "avx2", "fma"}


def test_x86_without_vnni_or_amx_saturates_signed_int8():
    assert saturates_signed_int8(AVX2)
    assert saturates_signed_int8({"ssse3"})  # PMADDUBSW on SSSE3 as well
    assert not saturates_signed_int8(AVX2 | {"avx512_vnni"})
    assert not saturates_signed_int8(AVX2 | {"avx_vnni"})
    assert not saturates_signed_int8(AVX2 | {"amx_int8", "amx_tile"})
    assert not saturates_signed_int8({"fp", "asimd", "asimddp"})  # ARM's Features line
    assert not saturates_signed_int8(set())  # flags unknown: no claim either way
    assert has_vnni({"avx512_vnni"}) and not has_vnni(AVX2)


def test_the_warning_needs_signed_weights_the_cpu_provider_and_a_saturating_cpu():
    assert "U8S8" in signed_int8_warning(True, "CPUExecutionProvider", AVX2)
    assert signed_int8_warning(False, "CPUExecutionProvider", AVX2) is None
    assert signed_int8_warning(True, "CUDAExecutionProvider", AVX2) is None
    assert signed_int8_warning(True, "CPUExecutionProvider", AVX2 | {"avx512_vnni"}) is None
