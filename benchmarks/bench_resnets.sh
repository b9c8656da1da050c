#!/usr/bin/env bash
# `imgcheck bench` of the report's ResNets (ONNX fp32 and int8, infer and scan stages, batch 1/32/256) on the same
# 1,000 CIFAKE test JPEGs as bench_cpu.sh, one bench run per arch so that each speed-up compares int8 with fp32.
#
#   bash benchmarks/bench_resnets.sh [ARCH...]   # default: every ResNet whose recipe run has been exported
#
# The models are the ones `python benchmarks/reproduce_report.py --archs ARCH:recipe` exports (the epoch validation
# picked): runs/repro/ARCH_recipe/export/ARCH{,.int8}.onnx. Writes benchmarks/results/bench_resnet_ARCH.json and
# runs/bench_cpu/table_resnet_ARCH.md; bench_cpu.md holds the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
IMGCHECK=${IMGCHECK:-.venv/bin/imgcheck}
WORK=runs/bench_cpu
if [ ! -d "$WORK/images" ]; then
    mkdir -p "$WORK/images"
    ls data/cifake/test/REAL | sed -n '1,500p' | sed 's|^|data/cifake/test/REAL/|' | xargs -d '\n' cp -t "$WORK/images" --
    ls data/cifake/test/FAKE | sed -n '1,500p' | sed 's|^|data/cifake/test/FAKE/|' |
        while read -r f; do cp "$f" "$WORK/images/fake_$(basename "$f")"; done
fi
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(resnet18_v1 resnet50_v1 resnet50_preact resnet101_v1 resnet101_preact)
for arch in "${archs[@]}"; do
    models=runs/repro/${arch}_recipe/export
    [ -f "$models/$arch.int8.onnx" ] || { echo "skipped $arch: no export in $models yet" >&2; continue; }
    "$IMGCHECK" bench "$models/$arch.onnx" "$models/$arch.int8.onnx" --images "$WORK/images" --batch-sizes 1,32,256 \
        --stages infer,scan --warmup 3 --repeat 5 --out "benchmarks/results/bench_resnet_$arch.json" --markdown \
        > "$WORK/table_resnet_$arch.md"
    echo "wrote benchmarks/results/bench_resnet_$arch.json and $WORK/table_resnet_$arch.md" >&2
done
