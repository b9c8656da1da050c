"""The `imgcheck` command line: the root group and its lazily imported commands."""

from __future__ import annotations

import click

from imgcheck.infer.cli.lazy_group import LazyCommand, LazyGroup
from imgcheck.infer.version import imgcheck_version

# name -> where the command lives and its one-line help. Modules are imported only when the command runs.
COMMANDS: dict[str, LazyCommand] = {
    "info": LazyCommand("imgcheck.infer.cli.info:info", "Show the metadata (ModelMeta) a model file carries."),
    "export": LazyCommand("imgcheck.infer.cli.export:export",
                          "Export a checkpoint to ONNX and TorchScript, gated on parity with PyTorch."),
    "scan": LazyCommand("imgcheck.infer.cli.scan:scan", "Scan images and write a REAL/FAKE verdict per file."),
    "bench": LazyCommand("imgcheck.infer.cli.bench:bench",
                         "Measure images/s and latency of models, formats and devices side by side."),
    "calibrate": LazyCommand("imgcheck.infer.cli.calibrate:calibrate",
                             "Choose a model's decision threshold on a labeled validation set."),
    "compare": LazyCommand("imgcheck.infer.cli.compare:compare",
                           "Print models side by side from metrics files (the report's Table 4 shape)."),
    "import": LazyCommand("imgcheck.infer.cli.import_model:import_model",
                          "Give a foreign ONNX or TorchScript detector the metadata imgcheck needs."),
    "ensemble": LazyCommand("imgcheck.infer.cli.ensemble:ensemble",
                            "Combine ONNX detectors into one model file, gated on scoring as its members do."),
    "train": LazyCommand("imgcheck.infer.cli.train:train", "Train the report's CNN or a ResNet on a REAL/FAKE dataset."),
}


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from imgcheck.infer.runtime.install import runtime_summary

    click.echo(f"imgcheck {imgcheck_version()} ({runtime_summary()})")
    ctx.exit()


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version (and the installed ONNX runtime) and exit.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Tell real photographs from AI-generated images, at batch scale.

    \b
    Exit codes: 0 success, 1 error, 2 usage error, 3 scan finished with ERROR rows, 4 a gate failed,
    5 nothing to scan, 130 interrupted (Ctrl-C), 141 the reader of the output went away (| head).
    """
    ctx.meta["imgcheck.debug"] = debug


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="imgcheck")
