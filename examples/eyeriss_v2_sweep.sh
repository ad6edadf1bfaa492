#!/usr/bin/env bash
# Design-space sweep: eyeriss_v2 GLB size x PE count for the GMP-90% PointNet++ (issue 12's worked example).
# Inputs: the extract folder that `sparse-hw run examples/pointnet2_gmp.yaml` writes (12 layers).
# Grid (3 x 2 = 6 points): the input GLB's data depth 768 / 1536 (built-in) / 3072 words, and the
# cluster-group array psum_glb.meshX 4 / 8 (built-in) -> 4x2 or 8x2 clusters x 12 PEs = 96 or 192 PEs.
# Writes OUT/sweep.csv, OUT/layers.csv, OUT/pareto.png and OUT/points/; see README "Design-space sweep".
set -euo pipefail
EXTRACT=${1:-results/pointnet2_gmp/extract/gmp90}
OUT=${2:-results/eyeriss_v2_sweep}
sparse-hw sweep eyeriss_v2 \
  --set iact_glb.depth=768,1536,3072 \
  --set psum_glb.meshX=4,8 \
  "$EXTRACT" --out "$OUT" --jobs 2 --budget-s 30 --seed 0
