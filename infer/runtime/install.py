"""Import onnxruntime, after checking that exactly one distribution of it is installed.

`onnxruntime` (extra `cpu`) and `onnxruntime-gpu` (extra `gpu`) install the same `onnxruntime` module.
pip installs both without complaint, the second overwrites the first's files, and uninstalling one
leaves a broken module. So commands that need the runtime call `import_onnxruntime()`, which names
the problem and the exact commands that fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module, metadata
from types import ModuleType

from imgcheck.infer.errors import RuntimeSetupError

CPU_DIST, GPU_DIST = "onnxruntime", "onnxruntime-gpu"
# Other builds that also ship the `onnxruntime` module.
OTHER_DISTS = ("onnxruntime-directml", "onnxruntime-openvino", "onnxruntime-silicon", "onnxruntime-qnn")
INSTALL_HINT = f"pip install {CPU_DIST}   (or {GPU_DIST} for NVIDIA CUDA; imgcheck's cpu and gpu extras bring them)"


def installed_runtime_dists(
    version_of: Callable[[str], str] = metadata.version,
) -> dict[str, str]:
    """The installed distributions that provide the `onnxruntime` module, name -> version."""
    found = {}
    for name in (CPU_DIST, GPU_DIST, *OTHER_DISTS):
        try:
            found[name] = version_of(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def check_runtime_dists(dists: dict[str, str]) -> str:
    """Return the one runtime distribution in `dists`, or raise RuntimeSetupError saying what to run."""
    if not dists:
        raise RuntimeSetupError(f"No ONNX runtime is installed. Install one: {INSTALL_HINT}")
    if len(dists) > 1:
        names = sorted(dists)
        listed = ", ".join(f"{n} {dists[n]}" for n in names)
        raise RuntimeSetupError(
            f"Several ONNX runtimes are installed ({listed}); they overwrite each other's files and break the "
            f"`onnxruntime` module. Keep exactly one:\n  pip uninstall -y {' '.join(names)}\n"
            f"  pip install {CPU_DIST}   (or {GPU_DIST} on a machine with an NVIDIA GPU)"
        )
    return next(iter(dists))


def import_onnxruntime(
    dists: dict[str, str] | None = None,
    importer: Callable[[str], ModuleType] = import_module,
) -> ModuleType:
    """Check the installed runtime distributions, then import and return the `onnxruntime` module.

    `dists` and `importer` exist so that tests can simulate any installation.
    """
    dist = check_runtime_dists(installed_runtime_dists() if dists is None else dists)
    try:
        module = importer("onnxruntime")
        module.InferenceSession  # noqa: B018 - a half-uninstalled package imports but lacks its API
    except (ImportError, AttributeError) as exc:
        raise RuntimeSetupError(
            f"{dist} is installed but the `onnxruntime` module is broken ({exc}). Reinstall it:\n"
            f"  pip uninstall -y {dist}\n  pip install --force-reinstall {dist}"
        )
    return module


def runtime_summary() -> str:
    """The installed runtime distribution(s) as one line, for version banners."""
    found = installed_runtime_dists()
    return ", ".join(f"{name} {version}" for name, version in sorted(found.items())) or "no ONNX runtime"
