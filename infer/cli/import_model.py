"""`imgcheck import SOURCE --out MODEL`: a detector made elsewhere becomes a model file that carries ModelMeta.

SOURCE is an ONNX or TorchScript file (its metadata is declared with --output and friends), a Hugging Face model
folder or Hub id `hf:org/name[@revision]`, or, with `--timm ARCH --weights FILE`, a timm classifier; `--timm` also
takes a timm model saved by timm, a folder or a Hub id `hf-hub:org/name[@revision]`. The work is in imgcheck.export
(`foreign`, `hub`, `timm_import`, `hub_import`); this command parses, calls and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from imgcheck.export.int8_schemes import SCHEME_CHOICES

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.cli.options import InputSizeType, quiet_option
from imgcheck.infer.meta import INTERPOLATIONS, OUTPUT_KINDS
from imgcheck.infer.version import install_extra

if TYPE_CHECKING:
    from imgcheck.export.hub_import import ImportedModel

HUB_PREFIX = "hf:"  # imgcheck.export.hub_source.HUB_PREFIX, without importing it for --help
TIMM_HUB_PREFIX = "hf-hub:"  # imgcheck.export.hub_source.TIMM_HUB_PREFIX
# Options that describe a foreign file, and options of Hugging Face and timm imports: each refused with the other.
FOREIGN_ONLY = ("output_kind", "input_size", "mean", "std", "interpolation", "fake_index", "dynamic_batch")
PYTORCH_ONLY = ("fake_labels", "real_label", "check_images", "fmt", "calibration", "int8_scheme")


def _floats(count: int):  # noqa: ANN202 - a click callback
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
        if value is None:
            return None
        try:
            numbers = tuple(float(v) for v in value.split(","))
        except ValueError:
            raise click.BadParameter(f"expected {count} comma-separated numbers, got {value!r}")
        if len(numbers) != count:
            raise click.BadParameter(f"expected {count} comma-separated numbers, got {len(numbers)}")
        return numbers
    return convert


@click.command("import")
@click.argument("source", required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the model file that carries ModelMeta (never the input itself).")
@click.option("--timm", "timm_arch", default=None, metavar="ARCH|hf-hub:ID|DIR",
              help="Import a timm classifier: an architecture name (e.g. resnet50.a1_in1k) with --weights, or a "
                   "model saved by timm (config.json + model.safetensors): a Hub id hf-hub:org/name[@revision] or a "
                   "folder; its pretrained_cfg gives the preprocessing, its label_names (if any) the classes.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --timm ARCH: its weights, a .safetensors file or a state dict torch loads with weights_only.")
@click.option("--fake-label", "fake_labels", multiple=True, metavar="NAME",
              help="Hugging Face or timm: a class that is AI-generated, when its name does not say (repeatable).")
@click.option("--real-label", default=None, metavar="NAME",
              help="Hugging Face or timm: the class of real images; every other class then counts as FAKE.")
@click.option("--check-images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Hugging Face or timm: real images on which the export must score as PyTorch does "
                   "[default: the repository's samples/ folder, where imgcheck runs from a clone].")
@click.option("--format", "fmt", type=click.Choice(("onnx", "onnx-fp16", "onnx-int8")), default="onnx",
              show_default=True, help="Hugging Face or timm: the file to write (float32, float16, or int8 by --int8-scheme).")
@click.option("--calibration", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="With --format onnx-int8 and a static scheme: images to calibrate on (through the model's "
                   "preprocessing).")
@click.option("--int8-scheme", type=click.Choice(SCHEME_CHOICES), default="auto", show_default=True,
              help="With --format onnx-int8: static (calibrated) u8u8, u8s8 or u8s8-reduce-range, auto picking by this "
                   "CPU (convolutional networks); dynamic or dynamic-reduce-range, the MatMuls only and no "
                   "calibration (transformers).")
@click.option("--output", "output_kind", type=click.Choice(OUTPUT_KINDS), default=None,
              help="ONNX/TorchScript (required there): what the model's last output is: one P(fake) (probability), "
                   "one logit (logit), or per-class probabilities (softmax) or raw scores (logits).")
@click.option("--input-size", type=InputSizeType(), default=None,
              help="ONNX/TorchScript: the size the model takes, N or HxW [default: the model's fixed input shape].")
@click.option("--mean", callback=_floats(3), default=None, metavar="R,G,B",
              help="ONNX/TorchScript: per-channel mean of pixels scaled to [0, 1] [default: ImageNet's].")
@click.option("--std", callback=_floats(3), default=None, metavar="R,G,B",
              help="ONNX/TorchScript: per-channel standard deviation [default: ImageNet's].")
@click.option("--interpolation", type=click.Choice(INTERPOLATIONS), default="bilinear", show_default=True,
              help="ONNX/TorchScript: how images are resized to the input size.")
@click.option("--fake-index", type=click.IntRange(min=0), default=None,
              help="ONNX/TorchScript with per-class outputs: the index of the AI-generated class [default: 1].")
@click.option("--class-names", default=None, metavar="A,B,...",
              help="ONNX/TorchScript or timm: the class names, in output order [default: REAL,FAKE].")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="FAKE when p_fake >= this (calibrate it later with `imgcheck calibrate`).")
@click.option("--arch", default=None,
              help="A name for the architecture [default: imported:<file stem>, hf:<model_type> or timm:<ARCH>].")
@click.option("--dynamic-batch", is_flag=True,
              help="ONNX: if the input has a fixed batch size, rewrite it to take any batch (checked).")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
@quiet_option
@click.pass_context
def import_model(ctx: click.Context, source: str | None, out: Path, timm_arch: str | None, weights: Path | None,
                 fake_labels: tuple[str, ...], real_label: str | None, check_images: Path | None, fmt: str,
                 calibration: Path | None, int8_scheme: str, output_kind: str | None,
                 input_size: tuple[int, int] | None, mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
                 interpolation: str, fake_index: int | None, class_names: str | None, threshold: float,
                 arch: str | None, dynamic_batch: bool, force: bool, quiet: bool) -> None:
    """Write a model file with imgcheck's metadata (ModelMeta) for a detector made elsewhere; scan, calibrate,
    bench and info then accept it. SOURCE is one of:

    \b
    * an ONNX or TorchScript file (exported from timm, torchvision, ...):
      declare what it takes and outputs with --output (required),
      --input-size, --mean, --std, ...; the file is copied with ModelMeta;
    * a Hugging Face image classifier: a local folder (config.json,
      model.safetensors, preprocessor_config.json) or a Hub id, written
      hf:org/name or hf:org/name@revision (only the hf: prefix makes a Hub
      id: anything else is a path). Labels come from id2label, the
      preprocessing from its image processor;
    * nothing, with --timm: a timm classifier with one logit or two
      classes, given as --timm ARCH --weights FILE (the architecture's
      preprocessing), or saved by timm (save_for_hf, push_to_hf_hub) as
      --timm hf-hub:org/name[@revision] or --timm FOLDER (config.json's
      pretrained_cfg and label_names, which may also name one REAL class
      and several FAKE ones). Without label_names, --class-names (default
      REAL,FAKE) names the two classes.

    A Hugging Face or timm model is exported to one ONNX file (dynamic batch) and written only if it scores the
    --check-images as the PyTorch model does (the export parity gate). Every refusal is one line, exit 1, and no
    file.
    """
    names = tuple(n.strip() for n in class_names.split(",")) if class_names else None
    given = {name for name in ctx.params if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    if timm_arch is not None or weights is not None:
        saved = timm_arch is not None and _is_saved_timm(timm_arch)
        if timm_arch is None or (weights is None and not saved):
            raise click.UsageError("--timm ARCH and --weights FILE go together (a timm model saved by timm, "
                                   f"--timm {TIMM_HUB_PREFIX}org/name or --timm FOLDER, needs no --weights).")
        if saved and weights is not None:
            raise click.UsageError(f"--weights: --timm {timm_arch} is a timm model saved by timm, which holds its own "
                                   "weights.")
        if source is not None:
            raise click.UsageError(f"give SOURCE or --timm ARCH --weights FILE, not both (got {source!r}).")
        _refuse_options(given, FOREIGN_ONLY, "--timm")
        def read_timm():  # noqa: ANN202
            from imgcheck.export.timm_import import read_timm_model, read_timm_repo

            if saved:
                return read_timm_repo(timm_arch, names, fake_labels, real_label, threshold, name=arch)
            return read_timm_model(timm_arch, weights, names, fake_labels, real_label, threshold, name=arch)

        _import_pytorch(read_timm, out, fmt, check_images, calibration, int8_scheme, force, quiet)
        return
    if source is None:
        raise click.UsageError("Missing argument 'SOURCE' (a model file, a Hugging Face folder or hf:org/name), "
                               f"or give --timm ARCH --weights FILE, --timm {TIMM_HUB_PREFIX}org/name or --timm "
                               "FOLDER.")
    path = Path(source)
    if source.startswith(HUB_PREFIX) or path.is_dir():
        _refuse_options(given, FOREIGN_ONLY, "a Hugging Face model")
        def read_hub():  # noqa: ANN202
            from imgcheck.export.saved_model import read_saved_model

            return read_saved_model(source, names, fake_labels, real_label, threshold, arch=arch)

        _import_pytorch(read_hub, out, fmt, check_images, calibration, int8_scheme, force, quiet)
        return
    if not path.exists():
        hint = f" (a Hub id is written {HUB_PREFIX}{source})" if source.count("/") == 1 else ""
        if source.startswith(TIMM_HUB_PREFIX):
            hint = f" (a timm Hub id is imported with --timm {source})"
        raise click.BadParameter(f"no such file or folder {source!r}{hint}.", param_hint="'SOURCE'")
    _refuse_options(given, PYTORCH_ONLY, "an ONNX or TorchScript file")
    if output_kind is None:
        raise click.UsageError("Missing option '--output': say what the model's last output is (probability, logit, "
                               "softmax or logits).")
    _import_foreign(path, out, output_kind, input_size, mean, std, interpolation, fake_index, names, threshold,
                    arch, dynamic_batch, force, quiet)


def _is_saved_timm(text: str) -> bool:
    """--timm names a model saved by timm (a Hub id or a folder), not an architecture (whose name holds no path
    separator)."""
    return text.startswith((HUB_PREFIX, TIMM_HUB_PREFIX)) or any(c in text for c in "/\\") or Path(text).is_dir()


def _refuse_options(given: set[str], names: tuple[str, ...], what: str) -> None:
    wrong = [name for name in names if name in given]
    if wrong:
        flags = ", ".join("--" + {"output_kind": "output", "fmt": "format", "fake_labels": "fake-label"}.get(
            name, name.replace("_", "-")) for name in wrong)
        raise click.UsageError(f"{flags} {'does' if len(wrong) == 1 else 'do'} not apply to {what}.")


def _import_pytorch(read: Callable[[], ImportedModel], out: Path, fmt: str, check_images: Path | None,
                    calibration: Path | None, int8_scheme: str, force: bool, quiet: bool) -> None:
    """Read a Hugging Face or timm model, print what was read, export it behind the parity gate, report."""
    from imgcheck.infer.errors import DependencyMissingError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise DependencyMissingError("importing a Hugging Face or timm model needs torch, onnx and transformers: "
                                     f"{install_extra('train,hub')}")
    from imgcheck.export.hub_import import write_import

    console = stderr_console(quiet)
    say = lambda text: console.print(text, soft_wrap=True, highlight=False, markup=False)  # noqa: E731
    with console.status("reading the model"):
        imported = read()
    for key, value in imported.read.items():
        say(f"{key}: {value}")
    with console.status(f"exporting {fmt} and comparing it with PyTorch"):
        outcome = write_import(imported, out, fmt, check_images=check_images, calibration=calibration, force=force,
                               int8_scheme=int8_scheme)
    parity = outcome.parity
    seeded = parity.n - outcome.image_count
    agreement = (f"verdicts agree on {parity.verdict_agreement:.2%} of the {outcome.image_count} images from "
                 f"{outcome.check_images} and the {seeded} random-pixel inputs" if parity.seeded_agreement is None
                 else f"verdicts agree on {parity.verdict_agreement:.2%} of the {outcome.image_count} images from "
                 f"{outcome.check_images} (and on {parity.seeded_agreement:.2%} of {seeded} random-pixel inputs)")
    say(f"parity ({parity.format} vs PyTorch): max |dp_fake| {parity.max_abs_diff:.2g}, {agreement} (bound: "
        f"{parity.bound}): passed")
    meta = outcome.meta
    fakes = meta.positive_classes or (meta.positive_class,)
    p_fake = " + ".join(f"P({name})" for name in fakes) if meta.output != "logit" else \
        f"sigmoid(logit of {meta.positive_class})"
    say(f"wrote {outcome.path}: {meta.arch}, input {meta.input_size[1]}x{meta.input_size[2]}, {meta.output} output "
        f"(p_fake = {p_fake}), threshold {meta.threshold:g}")


def _import_foreign(path: Path, out: Path, output_kind: str, input_size: tuple[int, int] | None,
                    mean: tuple[float, ...] | None, std: tuple[float, ...] | None, interpolation: str,
                    fake_index: int | None, names: tuple[str, ...] | None, threshold: float, arch: str | None,
                    dynamic_batch: bool, force: bool, quiet: bool) -> None:
    """An ONNX or TorchScript file: a copy with the declared ModelMeta (imgcheck.export.foreign)."""
    from imgcheck.infer.meta import IMAGENET_MEAN, IMAGENET_STD
    from imgcheck.export.foreign import ForeignSpec, import_model as run_import

    spec = ForeignSpec(output=output_kind, input_size=input_size, mean=mean or IMAGENET_MEAN,
                       std=std or IMAGENET_STD, interpolation=interpolation, fake_index=fake_index, class_names=names,
                       threshold=threshold, arch=arch, dynamic_batch=dynamic_batch)
    result = run_import(path, out, spec, force=force)
    console = stderr_console(quiet)
    meta = result.meta
    console.print(f"wrote {result.path}: {meta.arch}, input {meta.input_size[1]}x{meta.input_size[2]}, "
                  f"{meta.output} output (p_fake = {meta.positive_class}), threshold {meta.threshold:g}",
                  soft_wrap=True, highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True, highlight=False)
