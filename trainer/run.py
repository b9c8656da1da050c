"""A whole training run: the untrained baseline, epochs, selection, early stopping, resume, outputs. Its data comes
from `trainer.splits`; its learning rate, stopping and selection rules from `trainer.schedule`.

What a run leaves in its folder:
  config.json           the run's settings (what --resume reads back)
  history.json/.csv     one row per epoch; epoch 0 is the untrained model
  curves.png            risk and accuracy per epoch, shaped like the report's figures
  best.pt, last.pt      checkpoints (plain dicts: state_dict, optimizer, epoch, history, config, meta)
  epochs/epoch_NN.pt    with keep_epochs: every epoch's weights (state_dict, epoch, config, meta)
  summary.json          best epoch, stop reason, the test metric suite of the selected model, speed

Under torchrun (`trainer.distributed`) every rank runs this same code on its share of each epoch; metrics are
gathered from all ranks, and only rank 0 writes files or prints. With `freeze` (`trainer.probe`) the same loop trains
a linear head on features the frozen backbone computed once; the files are the same.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgcheck.infer.atomic_write import write_json
from imgcheck.infer.errors import ImgcheckError
from imgcheck.infer.meta import ModelMeta, Provenance
from imgcheck.infer.evaluate.metrics import binary_metrics
from imgcheck.infer.preprocess import Preprocessor
from imgcheck.infer.system import cpu_name
from imgcheck.infer.version import imgcheck_version
from imgcheck.trainer import distributed
from imgcheck.trainer.checkpoint import load_checkpoint, save_checkpoint
from imgcheck.trainer.config import TrainConfig
from imgcheck.trainer.data import Sample
from imgcheck.trainer.augment import parse_augment
from imgcheck.infer.runtime.outputs import combine_tiles
from imgcheck.trainer.loop import Evaluation, Trainer, resolve_device
from imgcheck.infer.models.architectures import build_model, count_parameters, default_meta
from imgcheck.trainer.probe import HeadTrainer, cached_features, feature_dim, split_head
from imgcheck.trainer.distributed import Ranks
from imgcheck.trainer.run_lock import run_folder_lock
from imgcheck.trainer.run_reporter import RunReporter
from imgcheck.trainer.schedule import best_epoch, learning_rate, stop_reason
from imgcheck.trainer.splits import Split, disk_cache_dir, load_splits
from imgcheck.trainer.weights_record import weights_file_record

OPTIMISTIC_NOTE = (
    "selected and stopped on the test set (the report's protocol): test metrics are optimistic, since the test "
    "set chose the epoch"
)


EpochCallback = Callable[[int, dict[str, Any]], None]


def run_training(cfg: TrainConfig, *, resume: bool = False, quiet: bool = False,
                 on_epoch_end: EpochCallback | None = None) -> dict[str, Any]:
    """Train (or, with `resume`, continue) the run in `cfg.out`; returns the summary that summary.json holds.
    Started by torchrun, this process trains its share beside the others (`trainer.distributed`)."""
    cfg.check()
    if cfg.freeze and distributed.environment_ranks().distributed:
        raise ImgcheckError("--freeze under torchrun: a probe trains in seconds on one process once its features are "
                            "computed; run `imgcheck train --freeze ...` without torchrun.")
    ranks, device = distributed.start(resolve_device(cfg.device))
    try:
        distributed.check_sync_batchnorm(cfg.sync_batchnorm, ranks, device)
        with distributed.stop_on_sigterm(ranks):
            return _run(cfg, device, resume, RunReporter(quiet or not ranks.is_writer), on_epoch_end, ranks)
    except ImgcheckError:
        raise
    except Exception as exc:
        if not ranks.distributed:
            raise
        raise ImgcheckError(rank_stopped_message(cfg, ranks, exc)) from exc
    finally:
        distributed.stop(ranks)


def rank_stopped_message(cfg: TrainConfig, ranks: Ranks, exc: BaseException) -> str:
    """What a rank says when the run stops under it (its own error, or another rank that died): what happened, and
    how to continue from the last epoch rank 0 saved."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    first_line = re.sub(r"\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*", "", first_line)  # gloo's source location
    first_line = first_line.split(". This is typically")[0][:200]
    lost = type(exc).__name__ in ("DistBackendError", "DistNetworkError") or re.search(
        r"Connection (reset|closed)|Broken pipe", first_line) is not None
    if isinstance(exc, distributed.StoppedByLauncher):
        what = f"{first_line}; its report names the one that ended first"
    elif lost:
        what = f"lost contact with another process ({first_line}); torchrun's report names the one that ended first"
    else:
        what = f"{type(exc).__name__}: {first_line}"
    last = Path(cfg.out) / "last.pt"
    resume = (f"The run in {cfg.out} keeps its last finished epoch: continue it with `torchrun --nproc-per-node N "
              f"-m imgcheck train --resume {cfg.out}` (any N), or `imgcheck train --resume {cfg.out}`."
              if last.exists() else f"No epoch of {cfg.out} was saved yet; start it again.")
    return f"training stopped on rank {ranks.rank} of {ranks.world}: {what}. {resume}"


def _run(cfg: TrainConfig, device: torch.device, resume: bool, reporter: RunReporter,
         on_epoch_end: EpochCallback | None, ranks: Ranks = Ranks()) -> dict[str, Any]:
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    # On resume the weights come from last.pt: no ImageNet download, no weights file.
    model = build_model(cfg.model_arch, pretrained=cfg.pretrained and not resume,
                        weights_file=None if resume else cfg.weights_file)
    if cfg.freeze:
        split_head(model)  # an arch without a pooled feature is refused here, before anything is written
    weights = None if resume else _weights_record(cfg)  # so is a weights file whose sidecar describes another file
    with run_folder_lock(Path(cfg.out), ranks):  # before the folder is read or written
        return _train(cfg, model, weights, device, resume, reporter, on_epoch_end, ranks, started)


def _train(cfg: TrainConfig, model: torch.nn.Module, weights: dict[str, Any] | None, device: torch.device,
           resume: bool, reporter: RunReporter, on_epoch_end: EpochCallback | None, ranks: Ranks,
           started: float) -> dict[str, Any]:
    """The run itself, from the checkpoint it resumes (or the untrained model) to summary.json."""
    out = Path(cfg.out)
    checkpoint, saved_meta = load_checkpoint(out / "last.pt") if resume else (None, None)
    meta = default_meta(cfg.model_arch, input_size=tuple(cfg.input_size)).replace(
        fit=cfg.fit, tiles=cfg.tiles, tile_combine=cfg.tile_combine,
        provenance=Provenance(extra=_origin(cfg, model, weights, saved_meta)))
    pre = Preprocessor.from_meta(meta)
    history: list[dict[str, Any]] = []
    if checkpoint is not None:
        model.load_state_dict(checkpoint["state_dict"])
        history = checkpoint["history"]
        saved_by = checkpoint.get("world_size", 1)
        changed = (f" (saved by {saved_by} process(es), continued by {ranks.world}: the effective batch is now "
                   f"{cfg.batch_size * ranks.world}, was {cfg.batch_size * saved_by})" if saved_by != ranks.world else "")
        reporter.status(f"resuming {out} after epoch {checkpoint['epoch']}{changed}")
    else:
        _check_out_dir(out)  # every rank, before any rank writes
        ranks.barrier()
        if ranks.is_writer:
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    # moves the model before the optimizer sees it; a probe's optimizer sees its head alone
    trainer = (HeadTrainer(model, pre, device) if cfg.freeze else
               Trainer(model, pre, device, cfg.compile, ranks.distributed, cfg.sync_batchnorm))
    optimizer = torch.optim.Adam((trainer.head if cfg.freeze else trainer.model).parameters(), lr=cfg.lr)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])  # moves the saved state to the model's device

    disk_cache = ranks.distributed and cfg.cache == "disk"
    if disk_cache and not ranks.is_writer:
        ranks.barrier()  # rank 0 decodes into the disk cache first; the others then read it
    data_info, train, val, test = load_splits(cfg, pre, reporter)
    if disk_cache and ranks.is_writer:
        ranks.barrier()
    meta = meta.replace(provenance=_run_provenance(cfg, data_info, meta.provenance.extra))
    reporter.status(f"{cfg.model_arch}: {count_parameters(model):,} parameters on {device}; train "
                    f"{len(train.samples):,}, val {len(val.samples):,}, test {len(test.samples):,} images")
    if ranks.distributed:
        reporter.status(f"{ranks.describe()}: {_batch_words(cfg, ranks)}")
    probe_info = None
    if cfg.freeze:  # from here on the splits hold features, and the epochs train the head alone
        random_backbone = not (resume or cfg.pretrained or cfg.weights_file)
        (train, val, test), probe_info = _probe_features(cfg, trainer, (train, val, test), reporter, random_backbone)

    combine = (lambda p: combine_tiles(p, meta)) if cfg.fit == "crop" and cfg.tiles > 1 else None

    def evaluate(split: Split) -> Evaluation | None:
        return evaluate_split(trainer, split, cfg, combine, ranks)

    if not history:  # epoch 0: the untrained model (the report's "Untrained CNN" row)
        row = _history_row(0, None, evaluate(train), evaluate(val), evaluate(test), val, test)
        history.append(row)
        reporter.epoch_line(row)
        _save_progress(out, cfg, trainer, optimizer, meta, history, is_best=False, ranks=ranks)

    while (stop := stop_reason(history, cfg)) is None:
        epoch = history[-1]["epoch"] + 1
        # The epoch's order is every rank's and the single-process run's; dropout and augmentation are each rank's.
        generator = torch.Generator().manual_seed(distributed.epoch_seed(cfg.seed, epoch))
        torch.manual_seed(distributed.epoch_seed(cfg.seed, epoch, ranks.rank))  # same stream whether resumed or not
        order = torch.randperm(len(train.samples), generator=generator).numpy()
        mine = distributed.rank_order(order, cfg.batch_size, ranks.rank, ranks.world)
        if ranks.rank:
            generator = torch.Generator().manual_seed(distributed.epoch_seed(cfg.seed, epoch, ranks.rank))
        steps_per_epoch = distributed.steps_per_epoch(len(train.samples), cfg.batch_size, ranks.world)
        with reporter.epoch_progress(epoch, cfg.epochs, len(mine) * ranks.world) as on_batch:
            stats = trainer.train_epoch(optimizer, train.batches(cfg, pre, mine, cfg.batch_size, generator),
                                        parse_augment(cfg.augment),
                                        generator, lambda count, loss: on_batch(count * ranks.world, loss),
                                        lr_at=lambda step: learning_rate(cfg, (epoch - 1) * steps_per_epoch + step,
                                                                         steps_per_epoch),
                                        augment_p=cfg.augment_p)
        row = _history_row(epoch, reduce_train_stats(stats, ranks), None, evaluate(val), evaluate(test), val, test)
        history.append(row)
        reporter.epoch_line(row)
        _save_progress(out, cfg, trainer, optimizer, meta, history, is_best=best_epoch(history, cfg) == epoch,
                       ranks=ranks)
        if on_epoch_end:
            on_epoch_end(epoch, row)

    summary = _finish(cfg, out, trainer, val, test, meta, history, stop, data_info, device, started, ranks,
                      probe_info)
    reporter.summary(summary)
    return summary


def evaluate_split(trainer: Trainer, split: Split, cfg: TrainConfig,
                   combine: Callable[[np.ndarray], np.ndarray] | None, ranks: Ranks) -> Evaluation | None:
    """The model's evaluation on every sample of `split`, in sample order: each rank scores its block
    (`distributed.eval_share`) and the blocks are gathered, so every rank gets the whole split's metrics."""
    if not split.samples:
        return None
    share = distributed.eval_share(len(split.samples), ranks.rank, ranks.world)
    local = trainer.evaluate(split.in_order(cfg, trainer.preprocessor, share), combine) if len(share) else None
    return merge_evaluations(distributed.gather(local, ranks))


def merge_evaluations(parts: list[Evaluation | None]) -> Evaluation:
    """One Evaluation of consecutive blocks of samples (None: an empty block)."""
    parts = [part for part in parts if part is not None]
    if len(parts) == 1:
        return parts[0]
    counts = [len(part.targets) for part in parts]
    probabilities = np.concatenate([part.probabilities for part in parts])
    targets = np.concatenate([part.targets for part in parts])
    loss = sum(part.loss * count for part, count in zip(parts, counts)) / sum(counts)
    return Evaluation.of(loss, probabilities, targets)


def reduce_train_stats(stats: dict[str, float], ranks: Ranks) -> dict[str, float]:
    """An epoch's training loss, accuracy and speed over every rank's images (the epoch's time is the slowest
    rank's)."""
    if not ranks.distributed:
        return stats
    loss_sum, correct, images = distributed.sum_over_ranks([stats["loss_sum"], stats["correct"], stats["images"]],
                                                           ranks)
    seconds = distributed.max_over_ranks(stats["seconds"], ranks)
    return {"loss": loss_sum / images, "accuracy": correct / images, "seconds": seconds,
            "images_per_s": images / seconds, "loss_sum": loss_sum, "correct": correct, "images": images}


def _batch_words(cfg: TrainConfig, ranks: Ranks) -> str:
    return (f"batch {cfg.batch_size} per process x {ranks.world} = effective batch {cfg.batch_size * ranks.world}, "
            f"Adam learning rate {cfg.lr:g} (not scaled with the batch)")


def _probe_features(cfg: TrainConfig, trainer: HeadTrainer, splits: tuple[Split, Split, Split], reporter: RunReporter,
                    random_backbone: bool) -> tuple[list[Split], dict[str, Any]]:
    """--freeze: each split with its images' pooled features, computed once by the frozen backbone (kept in the
    disk cache with --cache disk), in place of its pixels; and what the summary says of the probe."""
    started = time.perf_counter()
    result = []
    for name, split in zip(("train", "val", "test"), splits):
        with reporter.decode_progress(f"{name} into features", len(split.samples)) as on_batch:
            batches = functools.partial(split.in_order, cfg, trainer.preprocessor)
            features = cached_features(trainer, split.samples, batches, disk_cache_dir(cfg), on_batch)
        result.append(Split(split.samples, split.targets, features))
    dim = trainer.head.in_features
    head_parameters = sum(p.numel() for p in trainer.head.parameters())
    info = {"freeze": True, "feature_dim": dim, "head_parameters": head_parameters,
            "backbone_parameters": count_parameters(trainer.model) - head_parameters,
            "feature_seconds": time.perf_counter() - started,
            "feature_cache": "disk" if disk_cache_dir(cfg) else "memory",
            "speed_note": "train_images_per_s (here and in history) counts cached feature vectors through the linear "
                          "head; the backbone ran once over every image, before epoch 1 (feature_seconds)"}
    reporter.status(f"--freeze: {dim}-dimensional features of {sum(len(s.samples) for s in splits):,} images in "
                    f"{info['feature_seconds']:.1f} s; only the linear head ({head_parameters:,} parameters) trains")
    if random_backbone:
        reporter.status("note: --freeze without --weights-file or --pretrained probes a backbone of random weights")
    return result, info


def _run_provenance(cfg: TrainConfig, data_info: dict[str, Any], origin: dict[str, Any]) -> Provenance:
    """What every checkpoint of the run records from its first save (last.pt, best.pt, each epoch's file): the data
    drawn, the training images' sizes, the seed and the recipe, with `origin` (_origin). The epoch is each file's
    own; the selection and the test metrics are added to the selected model's at the end (_finish)."""
    return Provenance(
        dataset="+".join(data_info["sources"]), train_size=data_info["train"], val_size=data_info["val"],
        test_size=data_info["test"], seed=cfg.seed, train_image_sizes=data_info["image_sizes"],
        extra={**origin, "select_on": cfg.select_on, "lr": cfg.lr, "schedule": cfg.schedule,
               "batch_size": cfg.batch_size, "augment": cfg.augment, "augment_p": cfg.augment_p,
               "pretrained": cfg.pretrained, "dedupe_removed": data_info["dedupe_removed"]})


def _weights_record(cfg: TrainConfig) -> dict[str, Any] | None:
    """The record of the run's --weights-file (path, sha256, licence), or a record without a sha256 when the file
    is gone (a resumed run whose weights came from it); None without one."""
    if not cfg.weights_file:
        return None
    if Path(cfg.weights_file).is_file():
        return weights_file_record(cfg.weights_file)
    return {"path": cfg.weights_file, "sha256": None}


def _origin(cfg: TrainConfig, model: torch.nn.Module, weights: dict[str, Any] | None,
            saved: ModelMeta | None) -> dict[str, Any]:
    """The provenance a run knows when it starts: its --weights-file's record `weights` (a resumed run keeps the one
    its last.pt holds), and with --freeze the probe's feature dimension."""
    extra: dict[str, Any] = {}
    if cfg.weights_file:
        kept = saved.provenance.extra.get("weights_file") if saved is not None else None
        extra["weights_file"] = kept or weights or _weights_record(cfg)
    if cfg.freeze:
        extra.update(freeze=True, feature_dim=feature_dim(model))
    return extra


def per_source(samples: list[Sample], evaluation: Evaluation, threshold: float = 0.5,
               full: bool = True) -> dict[str, dict[str, Any]]:
    """Metrics of each source's images of a split (the full suite, or with `full` False accuracy and log loss);
    empty when the split has one source (its metrics are the overall ones)."""
    names = sorted({s.source for s in samples})
    if len(names) < 2:
        return {}
    sources = np.array([s.source for s in samples])
    result = {}
    for name in names:
        mine = sources == name
        metrics = binary_metrics(evaluation.targets[mine], evaluation.probabilities[mine], threshold)
        result[name] = metrics if full else {"accuracy": metrics["accuracy"], "loss": metrics["log_loss"],
                                             "n": metrics["n"]}
    return result


def _history_row(epoch: int, stats: dict[str, float] | None, train_eval: Evaluation | None, val: Evaluation | None,
                 test: Evaluation | None, val_split: Split, test_split: Split) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch}
    if stats is not None:
        row.update(train_loss=stats["loss"], train_accuracy=stats["accuracy"], seconds=stats["seconds"],
                   train_images_per_s=stats["images_per_s"])
    else:  # epoch 0: the train risk of the untrained model, measured in eval mode
        row.update(train_loss=train_eval.loss, train_accuracy=train_eval.accuracy, seconds=0.0, train_images_per_s=None)
    for name, result in (("val", val), ("test", test)):
        row[f"{name}_loss"] = result.loss if result else None
        row[f"{name}_accuracy"] = result.accuracy if result else None
    for name, result, split in (("val", val, val_split), ("test", test, test_split)):
        for source, metrics in (per_source(split.samples, result, full=False) if result else {}).items():
            row[f"{name}_accuracy@{source}"] = metrics["accuracy"]  # one column per source in history.csv
            row[f"{name}_loss@{source}"] = metrics["loss"]
    return row


def _save_progress(out: Path, cfg: TrainConfig, trainer: Trainer, optimizer: torch.optim.Optimizer, meta: ModelMeta,
                   history: list[dict[str, Any]], is_best: bool, ranks: Ranks = Ranks()) -> None:
    """Rank 0 saves the epoch: last.pt (best.pt too when `is_best`), the epoch's weights with keep_epochs, and the
    history; the other ranks write nothing (their weights and optimizer state equal rank 0's)."""
    if not ranks.is_writer:
        return
    meta = meta.replace(provenance=dataclasses.replace(meta.provenance, epochs=history[-1]["epoch"]))
    fields = {"optimizer": optimizer.state_dict(), "epoch": history[-1]["epoch"], "history": history,
              "config": dataclasses.asdict(cfg), "world_size": ranks.world}
    state = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
    save_checkpoint(out / "last.pt", state, meta, **fields)
    if is_best:
        save_checkpoint(out / "best.pt", state, meta, **fields)
    if cfg.keep_epochs and history[-1]["epoch"] > 0:  # any epoch can be exported later (e.g. one the test set picks)
        save_checkpoint(out / "epochs" / f"epoch_{history[-1]['epoch']:02d}.pt", state, meta,
                        epoch=history[-1]["epoch"], config=fields["config"])
    _write_history(out, history)


def _write_history(out: Path, history: list[dict[str, Any]]) -> None:
    write_json(out / "history.json", history)
    columns = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
               "seconds", "train_images_per_s"]
    columns += sorted({key for row in history for key in row if "@" in key})  # per-source columns, if any
    with open(out / "history.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: ("" if row.get(k) is None else row[k]) for k in columns} for row in history)
    from imgcheck.trainer.curves import plot_curves

    plot_curves(history, out / "curves.png")


def _finish(cfg: TrainConfig, out: Path, trainer: Trainer, val: Split, test: Split, meta: ModelMeta,
            history: list[dict[str, Any]], stop: str, data_info: dict[str, Any], device: torch.device, started: float,
            ranks: Ranks = Ranks(), probe_info: dict[str, Any] | None = None) -> dict[str, Any]:
    best = best_epoch(history, cfg)
    combine = (lambda p: combine_tiles(p, meta)) if meta.tiles > 1 else None
    ranks.barrier()  # rank 0 has saved best.pt
    checkpoint, _ = load_checkpoint(out / "best.pt")
    trainer.model.load_state_dict(checkpoint["state_dict"])
    threshold_info = None
    several_val_sources = len({s.source for s in val.samples}) > 1
    on_val = (evaluate_split(trainer, val, cfg, combine, ranks)
              if cfg.threshold_objective or several_val_sources else None)  # the selected model on val, once
    if cfg.threshold_objective:  # pick the decision threshold on the validation split, never on test
        from imgcheck.infer.evaluate.threshold import Objective, choose_threshold

        choice = choose_threshold(on_val.targets, on_val.probabilities, Objective.parse(cfg.threshold_objective))
        meta = meta.replace(threshold=choice.threshold)
        threshold_info = {"objective": choice.objective, "threshold": choice.threshold, "set": "val",
                          "n": len(on_val.targets), "objective_value": choice.value, "tpr": choice.tpr,
                          "fpr": choice.fpr}
    evaluation = evaluate_split(trainer, test, cfg, combine, ranks)
    test_metrics = binary_metrics(evaluation.targets, evaluation.probabilities, meta.threshold)
    test_by_source = per_source(test.samples, evaluation, meta.threshold)
    val_by_source = per_source(val.samples, on_val, meta.threshold) if several_val_sources else {}
    selection_metric = f"{cfg.select_on}_accuracy"
    provenance = dataclasses.replace(  # what every checkpoint of the run holds, and the selection
        meta.provenance, epochs=best, selection_metric=selection_metric, test_metrics=test_metrics,
        extra={**meta.provenance.extra, **({"calibration": threshold_info} if threshold_info else {})})
    final_meta = meta.replace(provenance=provenance)
    for name in ("best.pt", "last.pt") if ranks.is_writer else ():
        saved, _ = load_checkpoint(out / name)
        fields = {k: v for k, v in saved.items() if k not in ("state_dict", "meta")}
        save_checkpoint(out / name, saved["state_dict"], final_meta, **fields)
    trained = [row for row in history if row["epoch"] > 0]
    speeds = [row["train_images_per_s"] for row in trained]
    summary = {
        "arch": cfg.model_arch,
        "parameters": count_parameters(trainer.model),
        "best_epoch": best,
        "epochs_run": history[-1]["epoch"],
        "stopped": stop,
        "selection": {"metric": selection_metric, "value": history[best][selection_metric],
                      "note": OPTIMISTIC_NOTE if cfg.select_on == "test" else "selected on a validation split carved "
                      "from train; the test set was only reported"},
        "threshold": meta.threshold,
        "threshold_choice": threshold_info,
        "test_metrics": test_metrics,
        "test_metrics_by_source": test_by_source,
        "val_metrics_by_source": val_by_source,
        "untrained": {k: history[0][k] for k in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy")},
        "data": data_info,
        "wall_seconds": time.perf_counter() - started,
        "train_seconds": sum(row["seconds"] for row in trained),
        "train_images_per_s": float(np.median(speeds)) if speeds else None,
        "probe": probe_info,  # --freeze: the features, and what train_images_per_s then counts
        "device": str(device) if device.type == "cpu" else f"cuda ({torch.cuda.get_device_name(device)})",
        "cpu": cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "distributed": {"world_size": ranks.world, "backend": ranks.backend, "batch_per_process": cfg.batch_size,
                        "effective_batch": cfg.batch_size * ranks.world, "lr": cfg.lr,
                        "sync_batchnorm": cfg.sync_batchnorm and ranks.distributed,
                        "images_per_epoch": distributed.padded_length(data_info["train"], ranks.world)},
        "versions": {"imgcheck": imgcheck_version(), "torch": torch.__version__},
        "config": dataclasses.asdict(cfg),
    }
    if ranks.is_writer:
        write_json(out / "summary.json", summary)
    return summary


def _check_out_dir(out: Path) -> None:
    if (out / "last.pt").exists():
        raise ImgcheckError(f"{out} already holds a run. Continue it with --resume {out}, or choose another --out.")


def load_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The TrainConfig a run folder was started with (for --resume)."""
    path = Path(run_dir) / "config.json"
    if not path.exists() or not (Path(run_dir) / "last.pt").exists():
        raise ImgcheckError(f"--resume {run_dir}: no run to resume there (config.json and last.pt are missing).")
    fields = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in fields.items() if k in known})
    config.input_size, config.sources = tuple(config.input_size), tuple(config.sources)  # JSON has lists
    config.val_sources = tuple(config.val_sources)
    return config
