# curvscope recipes (https://github.com/casey/just); each is one command: cargo, or a script
# that says what it runs.

# The paper's experiment in miniature on the bundled data: train, analyze, export.
demo:
    cargo run --release -- demo

# Everything CI checks.
test:
    bash .ci/run

# CPU vs GPU agreement (loss, gradient, HVP, top-5 eigenvalues of lenet and a VGG-style net;
# pooling ties) on whatever Vulkan adapter exists, Mesa's software lavapipe included; each test
# fails, saying so, when there is none. One thread, so each first call's shader compile is timed.
test-gpu:
    cargo test --release -p curvscope-model --features wgpu --lib --test gpu -- gpu --test-threads=1 --nocapture

# Speed of every primitive on lenet × 1,200 FashionMNIST samples, JSON to target/bench/.
bench:
    cargo bench -p curvscope --bench curvature

# LeNet's whole Hessian spectrum in f64: build, eigendecomposition, top-20 vs Lanczos (about
# 75 min on 2 idle cores; CURVSCOPE_BENCH=quick extrapolates from 64 columns).
bench-spectrum:
    cargo bench -p curvscope --bench full_spectrum

# On an NVIDIA machine: curvscope on the CPU, burn-wgpu and burn-cuda beside PyTorch CUDA, for
# lenet × 1,200 and VGG-11 × 1,000 (docs/PERFORMANCE.md's GPU table), JSON lines to OUT.
bench-gpu OUT:
    bash bench/gpu.sh {{OUT}}

# Lanczos's host work (full reorthogonalization) for a top 20 at D = 10⁶, or D; JSON to
# target/bench/. Its peer, scipy's ARPACK on the same operator: python bench/lanczos_scipy.py D.
bench-lanczos D="1000000":
    cargo bench -p curvscope --bench lanczos -- {{D}}

# The PyTorch peer of `bench` (installs CPU PyTorch into bench/.venv on first use).
bench-peer:
    bash bench/peer.sh

# The demo at the paper's full schedule (long: hours on 2 cores).
demo-full:
    cargo run --release -- demo --full
