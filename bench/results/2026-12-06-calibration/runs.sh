#!/bin/bash
# The seeded analyses behind summary.txt (a helper's audit, 2026-12-06; 1,650 runs, one at a
# time on 1 thread, a few hours on this 2-core machine). B is a curvscope binary; run in an empty
# folder. The two nets, f64, GD at lr 0.5 on the first 100 digits:
set -e
export RAYON_NUM_THREADS=1
B=${B:-curvscope}
tanh='{"name":"mlp","input":64,"hidden":[6],"classes":10,"activation":"tanh"}'
relu='{"name":"mlp","input":64,"hidden":[8],"classes":10,"activation":"relu"}'
$B train --quiet --precision f64 --arch "$tanh" --data digits:100 --dynamic gd --lr 0.5 --steps 100 --snapshot-every 100 --out tanh_run
$B train --quiet --precision f64 --arch "$relu" --data digits:100 --dynamic gd --lr 0.5 --steps 150 --snapshot-every 150 --out relu_run
# The truth: exact Tr(H) (the assembled diagonal) and exact Tr(HΣ) (the default).
$B analyze tanh_run/step-000100 --threads 1 -q --full-spectrum --samples 20000 --out truth_tanh
$B analyze relu_run/step-000150 --threads 1 -q --full-spectrum --samples 20000 --out truth_relu
# Expected sharpness's truth (5 × 200,000 samples each), then the seeded runs (tA…rB).
for s in 1000 1001 1002 1003 1004; do $B analyze tanh_run/step-000100 --threads 1 -q -k 2 --no-lambda-min --trace-probes 2 --trace-h-sigma-probes 2 --samples 200000 --seed $s --out big_tanh_$s; done
for s in 1000 1001 1002 1003 1004; do $B analyze relu_run/step-000150 --threads 1 -q -k 2 --no-lambda-min --trace-h-sigma-probes 2 --samples 200000 --seed $s --out big_relu_$s; done
for s in $(seq 1 200); do $B analyze tanh_run/step-000100 --threads 1 -q -k 2 --no-lambda-min --trace-probes 10 --trace-h-sigma-probes 20 --samples 1000 --seed $s --out runs/tA_$s; done
for s in $(seq 1 200); do $B analyze tanh_run/step-000100 --threads 1 -q -k 2 --no-lambda-min --trace-h-sigma-probes 5 --samples 100 --seed $s --out runs/tB_$s; done
for s in $(seq 1 200); do $B analyze tanh_run/step-000100 --threads 1 -q -k 1 --no-lambda-min --trace-probes 3 --trace-h-sigma-probes 3 --samples 10 --seed $s --out runs/tC_$s; done
for s in $(seq 1 150); do $B analyze relu_run/step-000150 --threads 1 -q -k 2 --no-lambda-min --trace-h-sigma-probes 20 --samples 1000 --seed $s --out runs/rA_$s; done
for s in $(seq 1 150); do $B analyze tanh_run/step-000100 --threads 1 -q -k 20 --no-lambda-min --trace-h-sigma-probes 20 --samples 1000 --seed $s --out runs/tD_$s; done
for s in $(seq 1 150); do $B analyze tanh_run/step-000100 --threads 1 -q -k 2 --no-lambda-min --trace-probes 30 --trace-h-sigma-probes 100 --samples 30 --seed $s --out runs/tE_$s; done
for s in $(seq 1 150); do $B analyze relu_run/step-000150 --threads 1 -q -k 20 --no-lambda-min --trace-h-sigma-probes 100 --no-sharpness --seed $s --out runs/rB_$s; done
for s in $(seq 151 600); do $B analyze tanh_run/step-000100 --threads 1 -q -k 2 --no-lambda-min --trace-probes 30 --trace-h-sigma-probes 100 --samples 30 --seed $s --out runs/tE_$s; done
python3 "$(dirname "$0")/analyze.py" > summary.txt
