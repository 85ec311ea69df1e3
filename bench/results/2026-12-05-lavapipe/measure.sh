#!/usr/bin/env bash
# LeNet × 1,200 at the gpu bench's θ on this machine's CPU and lavapipe, 2 reps each.
set -u
B=$1; OUT=$2
mkdir -p "$OUT"
run() { # REFERENCE ROWS BACKENDS
    CURVSCOPE_GPU_REFERENCE=/tmp/m-ref-$1.bin CURVSCOPE_GPU_ROWS_PER_GROUP=$2 CURVSCOPE_GPU_REPS=2 \
        CURVSCOPE_GPU_OUT="$OUT/curvscope.jsonl" timeout 600 "$B" lenet "$3" > /dev/null 2>&1
}
rm -f /tmp/m-ref-*.bin "$OUT/curvscope.jsonl"
run f64 4096 cpu64:basic,cpu:basic   # the CPU's f32 against its f64
run f64 4096 wgpu:basic              # lavapipe (4,096 rows) against the CPU's f64
run f64 512 wgpu:basic               # lavapipe (512 rows) against the CPU's f64
run f32 4096 cpu:basic               # the CPU's f32, saved as the next reference
run f32 4096 wgpu:basic              # lavapipe (4,096 rows) against the CPU's f32
run g4096 4096 wgpu:basic            # lavapipe (4,096 rows), saved as the next reference
run g4096 512 wgpu:basic             # lavapipe (512 rows) against lavapipe (4,096 rows)
