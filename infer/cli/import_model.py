"""`imgcheck import FOREIGN --out MODEL`: give a foreign ONNX or TorchScript classifier a ModelMeta."""

from __future__ import annotations

from pathlib import Path

import click

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.cli.options import InputSizeType, quiet_option
from imgcheck.infer.meta import INTERPOLATIONS, OUTPUT_KINDS


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
@click.argument("foreign", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the copy that carries ModelMeta (never the input itself).")
@click.option("--output", "output_kind", type=click.Choice(OUTPUT_KINDS), required=True,
              help="What the model's last output is: one P(fake) (probability), one logit (logit), or per-class "
                   "probabilities (softmax) or raw scores (logits).")
@click.option("--input-size", type=InputSizeType(), default=None,
              help="The size the model takes, N or HxW [default: the model's fixed input shape].")
@click.option("--mean", callback=_floats(3), default=None, metavar="R,G,B",
              help="Per-channel mean of pixels scaled to [0, 1] [default: ImageNet's].")
@click.option("--std", callback=_floats(3), default=None, metavar="R,G,B",
              help="Per-channel standard deviation [default: ImageNet's].")
@click.option("--interpolation", type=click.Choice(INTERPOLATIONS), default="bilinear", show_default=True,
              help="How images are resized to the input size.")
@click.option("--fake-index", type=click.IntRange(min=0), default=None,
              help="With per-class outputs: the index of the AI-generated class [default: 1].")
@click.option("--class-names", default=None, metavar="A,B,...",
              help="The class names, in output order [default: REAL,FAKE].")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="FAKE when p_fake >= this (calibrate it later with `imgcheck calibrate`).")
@click.option("--arch", default=None, help="A name for the architecture [default: imported:<file stem>].")
@click.option("--dynamic-batch", is_flag=True,
              help="If the input has a fixed batch size, rewrite it to take any batch (checked; ONNX only).")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
@quiet_option
def import_model(foreign: Path, out: Path, output_kind: str, input_size: tuple[int, int] | None,
                 mean: tuple[float, ...] | None, std: tuple[float, ...] | None, interpolation: str,
                 fake_index: int | None, class_names: str | None, threshold: float, arch: str | None,
                 dynamic_batch: bool, force: bool, quiet: bool) -> None:
    """Write a copy of FOREIGN, an ONNX or TorchScript image classifier without imgcheck metadata (exported from
    timm, torchvision, Hugging Face, ...), that carries a ModelMeta describing its preprocessing and output;
    scan, calibrate, bench and info then accept the copy.

    What is declared is checked against the model before anything is written (its inputs and outputs, then a
    probe batch): a mismatch is one line naming it, exit 1, and no file.
    """
    from imgcheck.infer.meta import IMAGENET_MEAN, IMAGENET_STD
    from imgcheck.export.foreign import ForeignSpec, import_model as run_import

    names = tuple(n.strip() for n in class_names.split(",")) if class_names else None
    spec = ForeignSpec(output=output_kind, input_size=input_size, mean=mean or IMAGENET_MEAN,
                       std=std or IMAGENET_STD, interpolation=interpolation, fake_index=fake_index, class_names=names,
                       threshold=threshold, arch=arch, dynamic_batch=dynamic_batch)
    result = run_import(foreign, out, spec, force=force)
    console = stderr_console(quiet)
    meta = result.meta
    console.print(f"wrote {result.path}: {meta.arch}, input {meta.input_size[1]}x{meta.input_size[2]}, "
                  f"{meta.output} output (p_fake = {meta.positive_class}), threshold {meta.threshold:g}",
                  soft_wrap=True, highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True, highlight=False)
