#!/usr/bin/env bash
# `imgcheck bench` for the report's cnn and resnet18_v1 on this CPU: ONNX fp32, ONNX int8, TorchScript and eager
# PyTorch, side by side, on 1,000 CIFAKE test JPEGs (500 REAL + 500 FAKE).
#
#   bash benchmarks/bench_cpu.sh      # needs data/cifake (tar xzf ../shared/data/cifake.tar.gz -C data/)
#                                      # and runs/cnn_val_keras/best.pt (benchmarks/results/train_cnn.md)
#
# resnet18_v1 is trained for one short epoch only to have a checkpoint: throughput does not depend on the
# weights' values. One bench run per model, so each speed-up compares a model's formats with its ONNX fp32
# file. Writes benchmarks/results/bench_cpu_{cnn,resnet18_v1}.json; bench_cpu.md holds the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
IMGCHECK=${IMGCHECK:-.venv/bin/imgcheck}
WORK=runs/bench_cpu
mkdir -p "$WORK/images"
ls data/cifake/test/REAL | sed -n '1,500p' | sed 's|^|data/cifake/test/REAL/|' | xargs -d '\n' cp -t "$WORK/images" --
ls data/cifake/test/FAKE | sed -n '1,500p' | sed 's|^|data/cifake/test/FAKE/|' |
    while read -r f; do cp "$f" "$WORK/images/fake_$(basename "$f")"; done
mkdir -p "$WORK/calibration" && ls "$WORK/images" | sed -n '1,256p' | sed "s|^|$WORK/images/|" | xargs -d '\n' cp -t "$WORK/calibration" --

test -f "$WORK/resnet18_v1/best.pt" || "$IMGCHECK" train --arch resnet18_v1 --data data/cifake --out "$WORK/resnet18_v1" \
    --train-size 2000 --test-size 500 --epochs 1 --quiet
for run in runs/cnn_val_keras "$WORK/resnet18_v1"; do
    arch=$(basename "$run"); arch=${arch%_val_keras}
    test -f "$WORK/models/$arch.int8.onnx" || "$IMGCHECK" export "$run/best.pt" --format onnx --format torchscript \
        --int8 --calibration "$WORK/calibration" --out "$WORK/models" --name "$arch"
done

for arch in cnn resnet18_v1; do
    checkpoint=runs/cnn_val_keras/best.pt; [ "$arch" = cnn ] || checkpoint="$WORK/$arch/best.pt"
    "$IMGCHECK" bench "$WORK/models/$arch.onnx" "$WORK/models/$arch.int8.onnx" "$WORK/models/$arch.torchscript.pt" \
        "$checkpoint" --images "$WORK/images" --batch-sizes 1,32,256 --stages infer,decode,scan --warmup 3 --repeat 5 \
        --json "benchmarks/results/bench_cpu_$arch.json" --markdown > "$WORK/table_$arch.md"
done
echo "wrote benchmarks/results/bench_cpu_{cnn,resnet18_v1}.json and $WORK/table_*.md"
