"""What machine a measurement ran on: CPU, GPU and library versions (no torch import needed)."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("onnxruntime", "onnxruntime-gpu", "torch", "numpy", "pillow", "scikit-learn")


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux) and its logical core count."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} logical cores"


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs nvidia-smi lists (empty without a GPU or a driver)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        result = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that decide speed (read from package metadata, nothing imported)."""
    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def system_info() -> dict[str, Any]:
    """CPU, cores, GPUs, Python and library versions."""
    from imgcheck.infer.version import imgcheck_version

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "gpus": gpu_names(), "python": platform.python_version(),
            "platform": platform.platform(), "imgcheck": imgcheck_version(), **library_versions()}


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them (avx2, avx512_vnni, ...); empty where it cannot be read."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    return frozenset()
