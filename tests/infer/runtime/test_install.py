import types
from importlib import metadata

import pytest

from imgcheck.infer.errors import RuntimeSetupError
from imgcheck.infer.runtime.install import check_runtime_dists, import_onnxruntime, installed_runtime_dists


def _fake_module() -> types.ModuleType:
    module = types.ModuleType("onnxruntime")
    module.InferenceSession = object
    return module


def test_neither_runtime_says_which_extra_to_install():
    with pytest.raises(RuntimeSetupError) as caught:
        import_onnxruntime(dists={}, importer=lambda name: pytest.fail("must not import"))
    assert "No ONNX runtime is installed" in caught.value.message
    assert "pip install onnxruntime" in caught.value.message


def test_both_runtimes_say_exactly_what_to_run():
    with pytest.raises(RuntimeSetupError) as caught:
        import_onnxruntime(dists={"onnxruntime": "1.20.0", "onnxruntime-gpu": "1.20.0"},
                           importer=lambda name: pytest.fail("must not import"))
    message = caught.value.message
    assert "onnxruntime 1.20.0, onnxruntime-gpu 1.20.0" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in message
    assert "pip install onnxruntime " in message and "onnxruntime-gpu" in message


def test_exactly_one_runtime_is_imported():
    module = _fake_module()
    assert import_onnxruntime(dists={"onnxruntime-gpu": "1.20.0"}, importer=lambda name: module) is module
    assert check_runtime_dists({"onnxruntime": "1.20.0"}) == "onnxruntime"


def test_broken_module_after_a_partial_uninstall_names_the_fix():
    def broken(name):
        raise ImportError("cannot import name 'InferenceSession'")

    with pytest.raises(RuntimeSetupError, match=r"onnxruntime-gpu is installed but the `onnxruntime` module is broken") as caught:
        import_onnxruntime(dists={"onnxruntime-gpu": "1.20.0"}, importer=broken)
    assert "pip install --force-reinstall onnxruntime-gpu" in caught.value.message
    empty = types.ModuleType("onnxruntime")  # imports, but its files were overwritten away
    with pytest.raises(RuntimeSetupError, match="broken"):
        import_onnxruntime(dists={"onnxruntime": "1.20.0"}, importer=lambda name: empty)


def test_distribution_lookup_reads_package_metadata():
    versions = {"onnxruntime": "1.2", "onnxruntime-openvino": "1.3"}

    def version_of(name):
        if name not in versions:
            raise metadata.PackageNotFoundError(name)
        return versions[name]

    assert installed_runtime_dists(version_of) == versions


def test_this_environment_has_exactly_one_working_runtime():
    module = import_onnxruntime()
    assert "CPUExecutionProvider" in module.get_available_providers()
