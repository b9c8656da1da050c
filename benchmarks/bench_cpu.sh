#!/usr/bin/env bash
# `imgcheck bench` for the report's cnn and resnet18_v1 on this CPU: ONNX fp32, ONNX int8, TorchScript and eager
# PyTorch, side by side, on 1,000 CIFAKE test JPEGs (500 REAL + 500 FAKE).
#
#   bash benchmarks/bench_cpu.sh      # needs data/cifake (tar xzf ../shared/data/cifake.tar.gz -C data/)
#   CNN_RUN=runs/cnn_val_keras bash benchmarks/bench_cpu.sh   # the cnn of benchmarks/results/train_cnn.md
#
# Without CNN_RUN (or when it has no best.pt), the cnn, like resnet18_v1, is trained for one short epoch only to
# have a checkpoint: throughput does not depend on the weights' values. One bench run per model, so each speed-up
# compares a model's formats with its ONNX fp32 file. Writes benchmarks/results/bench_cpu_{cnn,resnet18_v1}.json;
# bench_cpu.md holds the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
IMGCHECK=${IMGCHECK:-.venv/bin/imgcheck}
WORK=runs/bench_cpu
mkdir -p "$WORK/images"
ls data/cifake/test/REAL | sed -n '1,500p' | sed 's|^|data/cifake/test/REAL/|' | xargs -d '\n' cp -t "$WORK/images" --
ls data/cifake/test/FAKE | sed -n '1,500p' | sed 's|^|data/cifake/test/FAKE/|' |
    while read -r f; do cp "$f" "$WORK/images/fake_$(basename "$f")"; done
mkdir -p "$WORK/calibration" && ls "$WORK/images" | sed -n '1,256p' | sed "s|^|$WORK/images/|" | xargs -d '\n' cp -t "$WORK/calibration" --

CNN_RUN=${CNN_RUN:-runs/cnn_val_keras}
[ -f "$CNN_RUN/best.pt" ] || CNN_RUN="$WORK/cnn"
for arch in cnn resnet18_v1; do
    run="$WORK/$arch"; [ "$arch" = cnn ] && run="$CNN_RUN"
    test -f "$run/best.pt" || "$IMGCHECK" train --arch "$arch" --data data/cifake --out "$run" \
        --train-size 2000 --test-size 500 --epochs 1 --quiet
    test -f "$WORK/models/$arch.int8.onnx" || "$IMGCHECK" export "$run/best.pt" --format onnx --format torchscript \
        --int8 --calibration "$WORK/calibration" --out "$WORK/models" --name "$arch"
done

for arch in cnn resnet18_v1; do
    checkpoint="$CNN_RUN/best.pt"; [ "$arch" = cnn ] || checkpoint="$WORK/$arch/best.pt"
    "$IMGCHECK" bench "$WORK/models/$arch.onnx" "$WORK/models/$arch.int8.onnx" "$WORK/models/$arch.torchscript.pt" \
        "$checkpoint" --images "$WORK/images" --batch-sizes 1,32,256 --stages infer,decode,scan --warmup 3 --repeat 5 \
        --out "benchmarks/results/bench_cpu_$arch.json" --markdown > "$WORK/table_$arch.md"
done
echo "wrote benchmarks/results/bench_cpu_{cnn,resnet18_v1}.json and $WORK/table_*.md"
