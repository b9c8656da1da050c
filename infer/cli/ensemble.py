"""`imgcheck ensemble MODEL MODEL... --out FILE`: several detectors as one ONNX file (imgcheck.export.ensemble)."""

from __future__ import annotations

from pathlib import Path

import click

from imgcheck.infer.cli.console import stderr_console
from imgcheck.infer.cli.options import quiet_option
from imgcheck.infer.errors import DependencyMissingError
from imgcheck.infer.version import install_extra


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The ONNX file to write (never one of the members).")
@click.option("--weight", "weights", type=float, multiple=True, metavar="W",
              help="A member's weight in the mean, one per MODEL in order [default: equal weights].")
@click.option("--check-images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Real images (labelled when under REAL/FAKE folders) the gates compare the ensemble with its "
                   "members on [default: the repository's samples/ folder, where imgcheck runs from a clone].")
@click.option("--atol", type=float, default=1e-4, show_default=True,
              help="Wiring bound on |delta p_fake| against the members run one by one.")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
@quiet_option
def ensemble(models: tuple[Path, ...], out: Path, weights: tuple[float, ...], check_images: Path | None, atol: float,
             force: bool, quiet: bool) -> None:
    """Combine ONNX detectors (from `imgcheck export` or `imgcheck import`, or shipped models by name: `imgcheck
    info --list`) into one model file.

    The ensemble takes the smallest member's input; larger members get it upsampled inside the model. Its score is
    the weighted mean of the members' logits, each shifted by the member's own threshold, so FAKE means the
    members lean FAKE on average (threshold 0.5; recalibrate with `imgcheck calibrate`). It is written only if it
    scores the check images and 64 random-pixel inputs as its members do, run one by one (max |dp| <= --atol; with an
    int8 member, export's int8 bound), and
    agrees on >= 99.5% of the check images' verdicts with the members fed by their own preprocessing. Every refusal
    is one line, exit 1, and no file.
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise DependencyMissingError(f"imgcheck ensemble writes ONNX graphs with onnx: {install_extra('train')}")
    from imgcheck.export.ensemble import build_ensemble

    console = stderr_console(quiet)
    say = lambda text: console.print(text, soft_wrap=True, highlight=False, markup=False)  # noqa: E731
    with console.status(f"combining {len(models)} models and comparing the result with them"):
        outcome = build_ensemble(list(models), out, check_images=check_images, weights=list(weights) or None,
                                 force=force, atol=atol)
    shares = outcome.meta.provenance.extra["ensemble"]["weights"]
    for member, share in zip(outcome.members, shares):
        height, width = member.size
        say(f"member {member.path}: {member.meta.arch}, input {height}x{width}, threshold {member.meta.threshold:.4g}, "
            f"weight {share:.3g}")
    for note in outcome.notes:
        say(f"note: {note}")
    wiring, faithful = outcome.wiring, outcome.faithfulness
    say(f"wiring ({wiring.precision}): max |dp_fake| {wiring.max_abs_diff:.2g}, verdicts agree on "
        f"{wiring.verdict_agreement:.2%}, against the members run one by one on {wiring.n} inputs "
        f"({wiring.real_images} images from {outcome.check_images}; bound: {wiring.bound}): passed")
    say(f"faithfulness: verdicts agree on {faithful.verdict_agreement:.2%} of {faithful.n} images with the members "
        f"fed by their own preprocessing (max |dp_fake| {faithful.max_abs_diff:.2g}): passed")
    say(f"wrote {outcome.path}: {outcome.meta.arch}, input {outcome.meta.input_size[1]}x{outcome.meta.input_size[2]}, "
        "logit output, threshold 0.5")
