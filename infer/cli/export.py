"""`imgcheck export CHECKPOINT`: TorchScript and ONNX files that carry their ModelMeta and passed the parity gate."""

from __future__ import annotations

from pathlib import Path

import click
from imgcheck.export.int8_schemes import CALIBRATION_METHODS, SCHEME_CHOICES

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.errors import DependencyMissingError
from imgcheck.infer.version import install_extra

FORMAT_CHOICES = ("onnx", "torchscript")


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "formats", type=click.Choice(FORMAT_CHOICES), multiple=True,
              help="Format to write (repeatable) [default: onnx and torchscript].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: the checkpoint's folder].")
@click.option("--name", default=None, help="File name stem [default: the model's arch].")
@click.option("--opset", type=click.IntRange(min=7), default=None, help="ONNX opset [default: the exporter's].")
@click.option("--fp16", is_flag=True, help="Also write an ONNX file with float16 weights (float32 input/output).")
@click.option("--int8", is_flag=True,
              help="Also write an int8 ONNX file (--int8-scheme); a static scheme needs --calibration.")
@click.option("--int8-scheme", type=click.Choice(SCHEME_CHOICES), default="auto", show_default=True,
              help="The int8 quantizer. Static (calibrated): u8u8 (unsigned weights), u8s8 (signed), "
                   "u8s8-reduce-range (signed, 7-bit); auto: u8s8 where the CPU has VNNI or AMX; other x86 CPUs "
                   "u8s8-reduce-range, then u8u8 if the parity gate refuses it; else u8u8. "
                   "dynamic, dynamic-reduce-range: the MatMuls only, no calibration (transformers).")
@click.option("--int8-calibration", type=click.Choice(CALIBRATION_METHODS), default="minmax", show_default=True,
              help="How a static int8 scheme sets activation ranges from --calibration: minmax (the extremes seen), "
                   "percentile (clips the rarest 0.001%), entropy (KL-optimal 128-bin range). Try another when the "
                   "parity gate refuses the int8 file.")
@click.option("--calibration", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Images to calibrate int8 on (through the shared preprocessing). Without --check-images, every "
                   "5th of them (by sorted path) is held out: the fp16/int8 parity gate compares on those instead.")
@click.option("--atol", type=float, default=1e-4, show_default=True, help="fp32 parity bound on |delta p_fake|.")
@click.option("--check-images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Real images the parity gate compares on (labelled when under REAL/FAKE folders), besides 64 "
                   "random-pixel inputs; --fp16/--int8 need them or --calibration.")
def export(checkpoint: Path, formats: tuple[str, ...], out: Path | None, name: str | None, opset: int | None,
           fp16: bool, int8: bool, int8_scheme: str, int8_calibration: str, calibration: Path | None, atol: float,
           check_images: Path | None) -> None:
    """Export CHECKPOINT (from `imgcheck train`) to ONNX and TorchScript with the sigmoid in the graph.

    Every file is compared with the PyTorch model on a seeded batch of random pixels and on real images
    (--check-images, or those held out of --calibration); fp16/int8 verdicts must agree on the real images. A file
    beyond the bound fails the export (exit 1) and nothing is written. Writes export_report.json beside the files.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        raise DependencyMissingError(f"imgcheck export needs torch and onnx: {install_extra('train')}")
    from imgcheck.export.pipeline import DEFAULT_FORMATS, export_checkpoint
    from imgcheck.export.export_report import gate_summary, int8_summary, report_table, write_report

    chosen = list(formats or DEFAULT_FORMATS) + ["onnx-fp16"] * fp16 + ["onnx-int8"] * int8
    console = stderr_console(width=150)  # logs: one row per file rather than folded cells
    out = out or checkpoint.parent
    with console.status(f"exporting {checkpoint} to {', '.join(chosen)}"):
        records = export_checkpoint(checkpoint, out, chosen, name=name, opset=opset, atol=atol,
                                    check_images=check_images, calibration=calibration,
                                    int8_scheme=int8_scheme, int8_calibration=int8_calibration)
    write_report(out / "export_report.json", checkpoint, records)
    console.print(report_table(records))
    console.print(gate_summary(records), soft_wrap=True, highlight=False)
    if (int8 := int8_summary(records)) is not None:
        console.print(int8, soft_wrap=True, highlight=False)
    console.print(f"wrote {', '.join(str(r.path) for r in records)} and {out / 'export_report.json'}")
