#!/usr/bin/env bash
# The spread between random draws of the C-FMNIST random IPC 10 cells (docs/reproduction.md, "Investigation").
#
# A random baseline is one draw of real images; the published value (FairDD Tab. 2) carries the spread between
# draws that the 10 networks of one draw cannot show. This re-selects each C-FMNIST random cell with other seeds
# (the grid's own draw is seed 42) and evaluates every draw with the cell's protocol (ConvNet-128, 1,000 epochs,
# DSA augmentation), NETS networks each. The commands are the grid's `select` and `evaluate` jobs of the cell, their
# settings read from params (`ddstudy params args`), with the seed and the network count changed (a later flag wins).
#
#   workflow/scripts/random-draws.sh [SEEDS] [NETS]    # default "0 1 2 3 4" and 1; run in a repo whose
#                                                      # repro datasets are built (make repro / make repro-resume)
# Resumable: a finished draw is skipped, an evaluation goes on from its finished networks.
set -euo pipefail
SEEDS=${1:-"0 1 2 3 4"}
NETS=${2:-1}
DDSTUDY=${DDSTUDY:-ddstudy}
OUT=results/repro/investigations/random-draws
FG=fashion-mnist-fg-color-r0.9-s1-tuniform; BG=fashion-mnist-bg-color-r0.9-s1-tuniform
for ds in $FG $BG; do
  if [ ! -f data/datasets/$ds/train.npz ]; then
    echo "random-draws: data/datasets/$ds is not built; run 'make repro-resume' (or make repro) first" >&2
    exit 2
  fi
done
declare -A SELECT EVALUATE  # each cell's job settings as the grid defines them
for ds in $FG $BG; do
  SELECT[$ds]=$($DDSTUDY params args distill --grid repro --cell $ds/random_ipc10)
  EVALUATE[$ds]=$($DDSTUDY params args evaluate --grid repro --cell $ds/random_ipc10)
done
for ds in $FG $BG; do
  for seed in $SEEDS; do
    draw=$OUT/$ds/seed$seed; set_dir=$draw/random_ipc10
    mkdir -p $draw
    echo "$(date +%T) $ds seed $seed: select"
    [ -d $set_dir ] || $DDSTUDY distill ${SELECT[$ds]} --seed $seed --threads 1 --dataset-dir data/datasets/$ds \
      --out $set_dir
    echo "$(date +%T) $ds seed $seed: evaluate ($NETS networks)"
    [ -f $draw/ConvNet.json ] || nice -n 10 $DDSTUDY evaluate ${EVALUATE[$ds]} --num-eval $NETS --threads 1 \
      --arch ConvNet --synthetic $set_dir --dataset-dir data/datasets/$ds --out $draw/ConvNet.json
  done
done
# The draws beside the grid's own (seed 42, 10 networks), with the grid's published values (FairDD Tab. 2).
records=$(ls $OUT/*/seed*/ConvNet.json results/repro/evaluations/{$FG,$BG}/random_ipc10/ConvNet.json 2>/dev/null)
$DDSTUDY report draws $records --out $OUT/summary.csv --datasets-dir data/datasets \
  --synthetic-dir results/repro/synthetic --grid repro
