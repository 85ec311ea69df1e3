#!/usr/bin/env bash
# Prepares, on this machine, what a lent NVIDIA machine needs to run bench/gpu.sh, so that none
# of its device time goes to building: the `gpu` bench built twice (`--features wgpu,cuda`, and
# with burn's `autotune` as well), stripped and xz-compressed into .devbin/ (62 and 64 MB
# stripped, over the device tool's 64 MiB with the tree; 16 and 17 MB compressed), and the
# Vulkan loader's Debian packages in .gl/ (the lent machines' image had none on 2026-12-04).
# Both folders are added to .git/info/exclude, which a fresh checkout has empty. .devbin/COMMIT
# names the tree the binaries were built from. Took 15.5 min on this 2-core machine
# (2026-12-06, burn's dependencies not yet built with CUDARC_CUDA_VERSION).
#
# Usage: bench/lease-prepare.sh   (then, on the device tool, carry [".devbin", ".gl"] and run
#   python3 -c "import lzma,shutil; [shutil.copyfileobj(lzma.open(f'.devbin/{b}.xz'),
#     open(f'/tmp/{b}','wb')) for b in ('gpu','gpu-autotune')]"; chmod +x /tmp/gpu*;
#   GPU_SH_AUTOTUNE=/tmp/gpu-autotune GPU_SH_SECONDS=540 bash bench/gpu.sh $OUT /tmp/gpu lease
# with timeout_s 590, or `CURVSCOPE_GPU_RESTARTS=3 … missing` in place of `lease` (VGG-11's top
# 20 then converge); docs/PERFORMANCE.md says what each mode times.)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
for folder in /.devbin/ /.gl/; do
    grep -qxF "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >>.git/info/exclude
done
mkdir -p .devbin .gl

# cudarc's bindings for CUDA 13.0, what the lent H200s' driver (580) runs and how every bench
# binary carried there so far was built (bench/results/*-h200/README.md).
build() { # FEATURES NAME
    local bench
    CUDARC_CUDA_VERSION=13000 cargo bench -p curvscope --features "$1" --bench gpu --no-run \
        --message-format=json-render-diagnostics >/tmp/lease-prepare-build.json
    bench=$(grep '"executable":"[^"]' /tmp/lease-prepare-build.json |
        sed 's/.*"executable":"\([^"]*\)".*/\1/' | grep '/gpu-' | tail -1)
    [ -x "$bench" ] || { echo "bench/lease-prepare.sh: no gpu bench built with $1" >&2; exit 1; }
    strip -o "/tmp/$2" "$bench"
    xz -6 -T0 -c "/tmp/$2" >".devbin/$2.xz"
    rm "/tmp/$2"
    echo "$1: .devbin/$2.xz ($(du -h ".devbin/$2.xz" | cut -f1))"
}
build wgpu,cuda gpu
build wgpu,cuda,autotune gpu-autotune
{
    git rev-parse HEAD
    git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo "(with uncommitted changes)"
} >.devbin/COMMIT

lists=/tmp/lease-prepare-apt
mkdir -p "$lists/partial"
apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${apt[@]}" update >/dev/null
(cd .gl && apt-get "${apt[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
echo "carry: .devbin ($(du -sh .devbin | cut -f1)), .gl ($(du -sh .gl | cut -f1)); built at $(head -1 .devbin/COMMIT)"
