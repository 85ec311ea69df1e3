#!/usr/bin/env bash
# Issue 17's GPU table on an NVIDIA machine: PyTorch CUDA (bench/gpu_pytorch.py), then curvscope's
# `gpu` bench on the machine's CPU, burn-wgpu and burn-cuda, back to back, each backend in its own
# process under its own time limit (the CPU runs first and saves the reference the GPUs are
# compared with); then both GPU backends' first calls again in a new process, to show what the
# on-disk kernel cache (~/.cache/curvscope/kernels) saves; last, every kernel of one gradient and
# one HVP on each GPU backend, timed by CubeCL's profiler (bench/kernel_profile.py). Results:
# OUT/*.jsonl, OUT/kernels-NET-BACKEND.txt and OUT/card.txt.
#
# Usage: bench/gpu.sh OUT [BENCH] [lenet|vgg11|both|quick|lease|basis|missing]  (BENCH: the `gpu` bench
# binary; default: build it with `cargo bench -p curvscope --features wgpu,cuda --bench gpu
# --no-run`).
# Device time, estimated from the H200 run's per-call times (2026-11-30): lenet ≈ 4.5 min; vgg11
# ≈ 13 min, most of it burn-wgpu's top-20 Lanczos (≈ 140 HVPs of 1.5 s), so give each net its
# own call. The per-sample gradients (timed after Lanczos and Tr(HΣ), added 2026-12-01) are not
# in these estimates: their time limits have 15–30 s more for them. LeNet's rows also time
# burn-wgpu without burn-fusion (`wgpu-unfused`, basic), to show what fusion saves on the card
# (not in the estimates either: ≈ 15 s from the H200's cold first calls and per-call times).
# `quick` (≈ 5 min estimated the same way, not yet run on a GPU; for a session with little device
# time) skips PyTorch, Lanczos and Tr(HΣ): both nets' first calls, gradient, HVP and agreement on
# the CPU and the GPU backends, then the kernel profiles; its limits add up to 540 s, under the
# device tool's 600 s per command when BENCH is given (built beforehand). `lease` (one call of
# ≤ 600 s) puts LeNet's whole table first (PyTorch, CPU, burn-wgpu, burn-cuda: every row the
# targets name), then VGG-11's first calls, gradient, HVP and agreement on all four (PyTorch
# `basic`), then LeNet's unfused rows and kernel profiles; each step's limit is cut to what is
# left of GPU_SH_SECONDS (default 540) and a step with under 20 s left is skipped, saying so.
# `basis` (≈ 4 min estimated from the H200's VGG-11 HVP of 0.365 s, not yet run on a GPU) times
# VGG-11's whole burn-wgpu row twice, each in its own process: its top-20 Lanczos with the
# Krylov basis on the device (the default since 2026-12-04), then on the host in f64
# (CURVSCOPE_GPU_BASIS=host), whose sweeps took 60 of 112.6 s there; 4 threads each, as then.
# `missing` (one call of <= 600 s, steps cut as in `lease`; as of 2026-12-05) times the rows
# of issue 17's table (without autotune) that docs/PERFORMANCE.md still lacks: VGG-11's
# Tr(HΣ) and per-sample gradients on the CPU (`cpu:trace`), its burn-wgpu row with the device
# basis, its Tr(HΣ) on PyTorch CUDA, 20 reps of LeNet's burn-wgpu gradient, LeNet's and
# VGG-11's burn-wgpu gradient and HVP with shorter row groups (CURVSCOPE_GPU_ROWS_PER_GROUP),
# and PyTorch's VGG-11 Lanczos last.
# With GPU_SH_AUTOTUNE=BENCH2 (the bench built with `--features wgpu,cuda,autotune`: burn
# times its kernel candidates per shape and keeps the fastest), `lease` then times burn-wgpu with
# it (LeNet's whole row, VGG-11's basic one) to OUT/autotune.jsonl, and keeps CubeCL's tuning
# results (which kernel won for each shape) in OUT/autotune-cache.tgz, then profiles LeNet's
# tuned gradient and HVP (OUT/kernels-lenet-wgpu-autotune.txt).
set -u
out=${1:?usage: bench/gpu.sh OUT [BENCH] [lenet|vgg11|both|quick|lease|basis|missing]}
bench=${2:-}
nets=${3:-both}
case $nets in
    lenet | vgg11 | both | quick | lease | basis | missing) ;;
    *) echo "bench/gpu.sh: nets '$nets': lenet, vgg11, both, quick, lease, basis or missing" >&2; exit 2 ;;
esac
if [ -n "$bench" ] && [ ! -x "$bench" ]; then
    echo "bench/gpu.sh: BENCH '$bench' is not an executable file" >&2
    exit 2
fi
if [ -z "$bench" ]; then
    cargo bench -p curvscope --features wgpu,cuda --bench gpu --no-run 2>&1 | tail -1
    bench=$(ls -t target/release/deps/gpu-* | grep -v '\.d$' | head -1)
fi
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/card.txt"
echo "cpus: $(nproc)" | tee -a "$out/card.txt"
# The lent NVIDIA machines' image had no Vulkan loader on 2026-12-04, so burn-wgpu found no
# adapter. .gl/ (ignored by git; docs/PERFORMANCE.md says how to fill it) holds the loader's
# Debian packages, unpacked over / where libvulkan is missing.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    if compgen -G '.gl/*.deb' > /dev/null; then
        for deb in .gl/*.deb; do dpkg -x "$deb" /; done
        ldconfig
    else
        echo "bench/gpu.sh: NO VULKAN LOADER (libvulkan.so.1) and no .gl/*.deb: every wgpu row will fail" >&2
    fi
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
export PYTHONUNBUFFERED=1 CURVSCOPE_GPU_OUT="$out/curvscope.jsonl"
# GPU processes get 4 rayon threads: Tr(HΣ)'s probes run in parallel, each holding a whole-batch
# HVP's graph on the card.
run() { # NET BACKEND SECONDS [THREADS]
    CURVSCOPE_GPU_REFERENCE="/tmp/reference-$1.bin" RAYON_NUM_THREADS=${4:-$(nproc)} \
        timeout "$3" "$bench" "$1" "$2"
}
profile() { # NET BACKEND SECONDS [SUFFIX]: where one gradient and one HVP spend their kernel time
    local log="/tmp/kernels-$1-$2${4:-}.log"
    rm -f "$log"
    CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG="$log" run "$1" "$2:profile" "$3" 4 &&
        python3 bench/kernel_profile.py "$log" 20 > "$out/kernels-$1-$2${4:-}.txt"
}
budget=${GPU_SH_SECONDS:-540} # `lease` and `missing`: one call of the device tool (<= 600 s)
slot() { # SECONDS WHAT: $limit = the smaller of SECONDS and what is left; false under 20 s
    limit=$((budget - SECONDS))
    [ "$limit" -gt "$1" ] && limit=$1
    [ "$limit" -ge 20 ] || { echo "bench/gpu.sh: $limit s left, skipped: $2" >&2; return 1; }
}
if [ "$nets" = lease ]; then
    slot 60 "pytorch lenet" && timeout "$limit" python3 bench/gpu_pytorch.py lenet "$out/pytorch.jsonl" cuda
    slot 45 "lenet cpu" && run lenet cpu "$limit"
    slot 130 "lenet wgpu" && run lenet wgpu "$limit" 4
    slot 80 "lenet cuda" && run lenet cuda "$limit" 4
    slot 40 "pytorch vgg11" && timeout "$limit" python3 bench/gpu_pytorch.py vgg11 "$out/pytorch.jsonl" cuda basic
    slot 60 "vgg11 cpu" && CURVSCOPE_GPU_REPS=1 run vgg11 cpu:basic "$limit"
    slot 70 "vgg11 wgpu" && CURVSCOPE_GPU_REPS=3 run vgg11 wgpu:basic "$limit" 4
    slot 50 "vgg11 cuda" && CURVSCOPE_GPU_REPS=3 run vgg11 cuda:basic "$limit" 4
    if [ -n "${GPU_SH_AUTOTUNE:-}" ]; then # the bench built with burn's `autotune` as well
        # burn-wgpu only (burn-cuda's candidates are TF32 anyway); tuning LeNet's shapes took
        # over 50 s in a new machine on 2026-12-04, so the limits are long.
        slot 120 "lenet autotune" && bench=$GPU_SH_AUTOTUNE CURVSCOPE_GPU_OUT="$out/autotune.jsonl" \
            run lenet wgpu "$limit" 4
        slot 120 "vgg11 autotune" && bench=$GPU_SH_AUTOTUNE CURVSCOPE_GPU_OUT="$out/autotune.jsonl" \
            CURVSCOPE_GPU_REPS=3 run vgg11 wgpu:basic "$limit" 4
        # Which kernel won for each shape: CubeCL keeps its tuning results in this Cargo
        # project's target/autotune/ (VERSION/DEVICE/KERNEL.json.log); kept for reading later
        # without a card.
        [ -d target/autotune ] && tar czf "$out/autotune-cache.tgz" target/autotune
        # What is left once the fastest kernels are picked (LeNet's tuning is cached by now):
        # OUT/kernels-lenet-wgpu-autotune.txt beside the plain profile below.
        slot 40 "profile lenet autotune" && bench=$GPU_SH_AUTOTUNE profile lenet wgpu "$limit" -autotune
    fi
    slot 30 "lenet wgpu-unfused" && CURVSCOPE_GPU_REPS=3 run lenet wgpu-unfused:basic "$limit" 4
    slot 40 "profile lenet wgpu" && profile lenet wgpu "$limit"
    slot 30 "profile lenet cuda" && profile lenet cuda "$limit"
    exit
fi
if [ "$nets" = missing ]; then
    # The rows docs/PERFORMANCE.md still lacks for issue 17; each step is cut to what is left
    # of GPU_SH_SECONDS, as in `lease`. First VGG-11 on the CPU: first calls, gradient, HVP,
    # Tr(HΣ) (10 probes of a gradient and an HVP: ≈ 90 s on 16 cores from the 2026-12-04
    # times) and per-sample gradients; it saves the reference the GPU rows are compared with.
    # Its Lanczos (≈ 140 HVPs of 6.7 s) cannot fit a lease.
    slot 180 "vgg11 cpu trace" && CURVSCOPE_GPU_REPS=1 run vgg11 cpu:trace "$limit"
    # VGG-11 on burn-wgpu with the Krylov basis on the device (never timed on a card). Its
    # top 20 stop unconverged at 140 HVPs at this θ (a clustered spectrum, f64 too);
    # CURVSCOPE_GPU_RESTARTS=3 converges them in about 370 (2026-12-06, on a CPU), about 135 s
    # of the H200's 0.365 s HVPs (an estimate), so that run gets a longer limit. (A malformed
    # value gets it too, and the bench then stops naming the variable.)
    vgg11_limit=160
    [ "${CURVSCOPE_GPU_RESTARTS:-0}" != 0 ] && vgg11_limit=220
    slot "$vgg11_limit" "vgg11 wgpu" && CURVSCOPE_GPU_REPS=3 run vgg11 wgpu "$limit" 4
    slot 40 "pytorch vgg11 trace" && timeout "$limit" python3 bench/gpu_pytorch.py vgg11 "$out/pytorch.jsonl" cuda trace
    # LeNet's gradient on burn-wgpu, every rep's time (its median was 3.5× its minimum).
    slot 40 "lenet wgpu basic" && CURVSCOPE_GPU_REPS=20 run lenet wgpu:basic "$limit" 4
    # Shorter row groups for the split weight gradients (default 4,096 rows: LeNet's first
    # layer in 160 groups; the 2.6 ms kernel of the H200's 10.8 ms gradient, by its place in
    # the pass). Their "agreement" is with the 4,096-row run above (its saved reference).
    for rows in 1024 512; do
        slot 30 "lenet wgpu rows $rows" && CURVSCOPE_GPU_ROWS_PER_GROUP=$rows CURVSCOPE_GPU_REPS=10 \
            run lenet wgpu:basic "$limit" 4
    done
    slot 40 "vgg11 wgpu rows 512" && CURVSCOPE_GPU_ROWS_PER_GROUP=512 CURVSCOPE_GPU_REPS=3 \
        run vgg11 wgpu:basic "$limit" 4
    # LeNet's Tr(HΣ) on 4 threads and on 1, back to back: with autotune its 10 probes (each a
    # gradient and an HVP, run in parallel) took 0.253 s on 4 threads on 2026-12-04, more than
    # 10 times its gradient and HVP medians (6.29 + 11.8 ms, 0.181 s), so the parallel probes
    # may be fighting over the card; PyTorch's took 0.053 s.
    for threads in 4 1; do
        slot 30 "lenet wgpu trace $threads thread(s)" && CURVSCOPE_GPU_REPS=3 \
            run lenet wgpu:trace "$limit" "$threads"
    done
    # Last, PyTorch's ARPACK Lanczos on VGG-11 (past 80 s on 2026-11-30) with what is left.
    slot 280 "pytorch vgg11 lanczos" && timeout "$limit" python3 bench/gpu_pytorch.py vgg11 "$out/pytorch.jsonl" cuda
    exit
fi
if [ "$nets" = basis ]; then
    CURVSCOPE_GPU_REPS=1 run vgg11 wgpu 150 4
    CURVSCOPE_GPU_BASIS=host CURVSCOPE_GPU_REPS=1 run vgg11 wgpu 200 4
    exit
fi
if [ "$nets" = quick ]; then
    CURVSCOPE_GPU_REPS=1 run lenet cpu:basic 30
    CURVSCOPE_GPU_REPS=3 run lenet wgpu:basic,wgpu-unfused:basic,cuda:basic 110 4
    profile lenet wgpu 40
    profile lenet cuda 30
    CURVSCOPE_GPU_REPS=1 run vgg11 cpu:basic 80
    CURVSCOPE_GPU_REPS=3 run vgg11 wgpu:basic,cuda:basic 150 4
    profile vgg11 wgpu 60
    profile vgg11 cuda 40
    exit
fi
if [ "$nets" != vgg11 ]; then
    timeout 75 python3 bench/gpu_pytorch.py lenet "$out/pytorch.jsonl" cuda
    run lenet cpu 45
    run lenet wgpu 150 4
    CURVSCOPE_GPU_REPS=3 run lenet wgpu-unfused:basic 30 4
    run lenet cuda 90 4
    CURVSCOPE_GPU_OUT="$out/cached.jsonl" CURVSCOPE_GPU_REPS=1 run lenet wgpu:basic,cuda:basic 40 4
    profile lenet wgpu 40
    profile lenet cuda 40
fi
if [ "$nets" != lenet ]; then
    timeout 170 python3 bench/gpu_pytorch.py vgg11 "$out/pytorch.jsonl" cuda
    CURVSCOPE_GPU_REPS=1 run vgg11 cpu:basic 80
    CURVSCOPE_GPU_REPS=3 run vgg11 cuda 220 4
    CURVSCOPE_GPU_REPS=3 run vgg11 wgpu 430 4
    profile vgg11 wgpu 60
    profile vgg11 cuda 40
fi
