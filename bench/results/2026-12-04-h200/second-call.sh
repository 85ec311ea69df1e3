#!/usr/bin/env bash
# The second call of 2026-12-04 (README.md here): the rows the first call lost because that
# machine had no Vulkan loader (libvulkan1 and the GL libraries, carried as .deb files in .gl/
# and unpacked over /), each backend in its own process under its own time limit, as in
# bench/gpu.sh. Usage: second-call.sh OUT BENCH BENCH_AUTOTUNE (the bench built without and with
# burn's `autotune` feature).
set -u
mkdir -p "$1"
out=$1 bench=$2 autotune=$3 budget=${GPU_SH_SECONDS:-560}
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
export PYTHONUNBUFFERED=1
run() { # OUTFILE BINARY NET BACKEND REPS LIMIT: one process, skipped with under 20 s left
    local limit=$((budget - SECONDS))
    [ "$limit" -gt "$6" ] && limit=$6
    [ "$limit" -ge 20 ] || { echo "second-call.sh: $limit s left, skipped: $3 $4" >&2; return 1; }
    CURVSCOPE_GPU_OUT="$out/$1" CURVSCOPE_GPU_REFERENCE="/tmp/reference-$3.bin" \
        CURVSCOPE_GPU_REPS=$5 RAYON_NUM_THREADS=$([ "${4%%:*}" = cpu ] && nproc || echo 4) \
        timeout "$limit" "$2" "$3" "$4"
}
run curvscope.jsonl "$bench" lenet cpu 5 45
run curvscope.jsonl "$bench" lenet wgpu 5 130
run curvscope.jsonl "$bench" vgg11 cpu:basic 1 40
run curvscope.jsonl "$bench" vgg11 wgpu:basic 3 70
run autotune.jsonl "$autotune" lenet cuda:basic 5 40
run autotune.jsonl "$autotune" lenet wgpu:basic 5 50
run autotune.jsonl "$autotune" vgg11 cuda:basic 3 50
run autotune.jsonl "$autotune" vgg11 wgpu:basic 3 60
run curvscope.jsonl "$bench" vgg11 cuda 1 120
run curvscope.jsonl "$bench" lenet wgpu-unfused:basic 3 30
rm -f /tmp/kernels.log
CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/kernels.log run none.jsonl "$bench" lenet wgpu:profile 1 40 &&
    python3 bench/kernel_profile.py /tmp/kernels.log 20 > "$out/kernels-lenet-wgpu.txt"
