#!/usr/bin/env bash
# One prepared check for a machine with an NVIDIA GPU (issue 21): train cnn_bn for one epoch on CUDA, export it
# (ONNX + TorchScript, parity-gated), bench TorchScript on CUDA against CPU, and scan the CIFAKE test set with the
# fastest CUDA path installed (onnxruntime-gpu's CUDA provider, else TorchScript on CUDA). With two or more GPUs, the
# same epoch also trains under torchrun, one process per GPU (NCCL), and its images/s stand beside the single GPU's.
# Each step is time-boxed so that the whole script ends within 10 minutes; a step that fails or runs out of time is
# recorded and the next one still runs where it can.
#
#   bash benchmarks/gpu_check.sh OUT_DIR [DATA_DIR]        # DATA_DIR: CIFAKE's train/ and test/ [data/cifake]
#
# Without a GPU (or without torch's CUDA build) every step falls back to the CPU on a small draw, so the script
# itself can be checked anywhere (CI runs it that way). Writes OUT_DIR/summary.md (what ran where, each step's exit
# status and seconds), steps.tsv, bench.md / bench.json, scan_metrics.json, and each step's log.
#
# Environment: IMGCHECK (default: python -m imgcheck.infer with PYTHON), PYTHON (python3), and the time boxes in
# seconds TRAIN_S (200), DDP_S (120), EXPORT_S (60), BENCH_S (90), SCAN_S (120); TRAIN_SIZE / TEST_SIZE override the draws and
# BENCH_IMAGES the synthetic bench set.
set -uo pipefail

OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [DATA_DIR]}
DATA=${2:-data/cifake}
PYTHON=${PYTHON:-python3}
read -r -a IMGCHECK <<< "${IMGCHECK:-$PYTHON -m imgcheck.infer}"
TRAIN_S=${TRAIN_S:-200} DDP_S=${DDP_S:-120} EXPORT_S=${EXPORT_S:-60} BENCH_S=${BENCH_S:-90} SCAN_S=${SCAN_S:-120}

mkdir -p "$OUT"
: > "$OUT/steps.tsv"
[ -d "$DATA/train" ] && [ -d "$DATA/test" ] || { echo "error: $DATA has no train/ and test/ (CIFAKE layout)" >&2; exit 2; }

# What this machine offers: torch's CUDA, and onnxruntime's CUDA provider.
CUDA=$("$PYTHON" -c "import torch; print('yes' if torch.cuda.is_available() else 'no')" 2>/dev/null || echo no)
ORT_CUDA=$("$PYTHON" -c "import onnxruntime as o; print('yes' if 'CUDAExecutionProvider' in o.get_available_providers() else 'no')" 2>/dev/null || echo no)
GPU_NAME=$( [ "$CUDA" = yes ] && "$PYTHON" -c "import torch; print(torch.cuda.get_device_name(0))" 2>/dev/null || echo none)
GPUS=$( [ "$CUDA" = yes ] && "$PYTHON" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
if [ "$CUDA" = yes ]; then
    DEVICE=cuda DEVICES=cpu,cuda TRAIN_SIZE=${TRAIN_SIZE:-25000} TEST_SIZE=${TEST_SIZE:-5000}
    BENCH_IMAGES=${BENCH_IMAGES:-1024}
else
    DEVICE=cpu DEVICES=cpu TRAIN_SIZE=${TRAIN_SIZE:-2000} TEST_SIZE=${TEST_SIZE:-500} BENCH_IMAGES=${BENCH_IMAGES:-256}
    echo "no CUDA here: every step runs on the CPU, on a small draw (a check of the script, not of a GPU)" >&2
fi

# step NAME SECONDS COMMAND...: run it under a time box, its output to OUT/NAME.log; record status and seconds.
step() {
    local name=$1 limit=$2 start status ms
    shift 2
    start=$(date +%s%N)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%s\t%s\t%d.%d\t%s\n' "$name" "$status" $((ms / 1000)) $((ms % 1000 / 100)) "$limit" >> "$OUT/steps.tsv"
    [ "$status" = 0 ] || echo "step $name: exit $status (124: over its ${limit} s box); see $OUT/$name.log" >&2
    return "$status"
}

step train "$TRAIN_S" "${IMGCHECK[@]}" train --arch cnn_bn --data "$DATA" --out "$OUT/run" --epochs 1 --no-target \
    --train-size "$TRAIN_SIZE" --test-size "$TEST_SIZE" --lr 2e-3 --batch-size 256 --eval-batch-size 512 \
    --device "$DEVICE" --quiet
# Two or more GPUs: the same epoch under torchrun, one process per GPU, the per-process batch split so that the
# effective batch stays 256 (docs/train.md).
if [ "$GPUS" -ge 2 ]; then
    step train_ddp "$DDP_S" "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m imgcheck \
        train --arch cnn_bn --data "$DATA" --out "$OUT/run_ddp" --epochs 1 --no-target --train-size "$TRAIN_SIZE" \
        --test-size "$TEST_SIZE" --lr 2e-3 --batch-size $((256 / GPUS)) --eval-batch-size 512 --device cuda --quiet
fi
step export "$EXPORT_S" "${IMGCHECK[@]}" export "$OUT/run/best.pt" --format onnx --format torchscript \
    --out "$OUT/export" --name cnn_bn
step bench "$BENCH_S" sh -c '"$@" > "$0/bench.md"' "$OUT" "${IMGCHECK[@]}" bench "$OUT/export/cnn_bn.torchscript.pt" \
    --device "$DEVICES" --synthetic "$BENCH_IMAGES" --stages infer --batch-sizes 1,256 --repeat 3 --out "$OUT/bench.json" \
    --markdown --quiet

# The fastest CUDA path installed: onnxruntime-gpu, else TorchScript on CUDA; without CUDA, ONNX on the CPU.
if [ "$ORT_CUDA" = yes ]; then SCAN_MODEL=$OUT/export/cnn_bn.onnx SCAN_DEVICE=cuda SCAN_PATH="ONNX, onnxruntime CUDA"
elif [ "$CUDA" = yes ]; then SCAN_MODEL=$OUT/export/cnn_bn.torchscript.pt SCAN_DEVICE=cuda SCAN_PATH="TorchScript, CUDA"
else SCAN_MODEL=$OUT/export/cnn_bn.onnx SCAN_DEVICE=cpu SCAN_PATH="ONNX, CPU (no CUDA)"
fi
step scan "$SCAN_S" "${IMGCHECK[@]}" scan "$DATA/test" --model "$SCAN_MODEL" --device "$SCAN_DEVICE" \
    --out "$OUT/verdicts.csv" --metrics "$OUT/scan_metrics.json" --quiet

{
    echo "# gpu_check.sh on $(hostname) ($(date -u +%FT%TZ))"
    echo
    echo "GPU: $GPU_NAME; torch CUDA: $CUDA; onnxruntime CUDA provider: $ORT_CUDA; training device: $DEVICE"
    echo "(train $TRAIN_SIZE / test $TEST_SIZE images); scan path: $SCAN_PATH."
    echo
    echo "| step | exit | seconds | time box |"
    echo "|---|---:|---:|---:|"
    while IFS=$'\t' read -r name status seconds limit; do echo "| $name | $status | $seconds | $limit |"; done < "$OUT/steps.tsv"
    echo
    for run in run run_ddp; do
        [ -f "$OUT/$run/summary.json" ] && "$PYTHON" -c "import json, sys; d = json.load(open(sys.argv[1]))
print(f\"train ({sys.argv[2]}): {d['distributed']['world_size']} process(es), effective batch {d['distributed']['effective_batch']}: {d['train_images_per_s']:,.0f} images/s, test accuracy {d['test_metrics']['accuracy']:.4f}\")" \
            "$OUT/$run/summary.json" "$run" 2>/dev/null
    done
    echo
    [ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
    [ -f "$OUT/verdicts.csv.json" ] && "$PYTHON" -c "import json, sys; d = json.load(open(sys.argv[1]))
print(); print(f\"scan: {d['counts']['files']:,} files on {d['provider']}, {d['images_per_s']:,.0f} images/s\")" \
        "$OUT/verdicts.csv.json" 2>/dev/null
} > "$OUT/summary.md"
cat "$OUT/summary.md"
! grep -qv $'\t0\t' "$OUT/steps.tsv"   # exit 0 only when every step passed
