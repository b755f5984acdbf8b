#!/usr/bin/env bash
# Accuracy runs on real data (not CI): each trains with the CLI, keeps its run folder in
# runs/acc-*/ (checkpoints, metrics.csv, metrics.jsonl, summary.txt) and appends
# "name | wall seconds | last line of the result" to runs/acc-results.txt.
# Results are recorded in benchmarks/results_accuracy.md.
#
#   bash benchmarks/accuracy_runs.sh [mnist_cnn|lenet5|cifar_cnn|resnet20|vgg16 ...]   (default: all)
#
# RESUME=1 continues an interrupted run from its runs/acc-NAME/last.npz (same command, same
# schedule: the checkpoint holds the optimizer, scheduler and loader state) instead of
# starting it afresh.
#
# DATA: the shared data folder (MNIST IDX files and cifar10-train-jpg.tar.gz).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data}
THREADS=${THREADS:-2}
mkdir -p runs

run() {  # name, then CLI arguments
  local name=$1; shift
  local out=runs/acc-$name
  local resume=()
  if [ "${RESUME:-0}" = 1 ] && [ -f "$out/last.npz" ]; then
    resume=(--resume "$out/last.npz")
  else
    rm -rf "$out"
  fi
  local t0=$SECONDS
  $PY -m engine train "$@" --data-root "$DATA" --threads "$THREADS" --out "$out" "${resume[@]}" >> "runs/acc-$name.log" 2>&1
  local rc=$?
  local result
  result=$(grep -E "^(test|held-out validation|validation) accuracy" "runs/acc-$name.log" | tail -1)
  echo "$name | rc=$rc | $((SECONDS - t0)) s | $result" | tee -a runs/acc-results.txt
}

want() { [ $# -eq 0 ] || [[ " ${SELECTED} " == *" $1 "* ]]; }
SELECTED="$*"
[ -z "$SELECTED" ] && SELECTED="mnist_cnn lenet5 cifar_cnn resnet20 vgg16"

# mnist_cnn on MNIST: >= 99.0% test accuracy within 5 epochs
want mnist_cnn && run mnist_cnn --model mnist_cnn --dataset mnist --epochs 5 --batch-size 64 \
    --optimizer adam --lr 0.01 --schedule onecycle --seed 0

# lenet5 (sigmoid) on MNIST: >= 98.5% test accuracy
want lenet5 && run lenet5 --model lenet5 --dataset mnist --epochs 5 --batch-size 64 \
    --optimizer adam --lr 0.01 --schedule onecycle --seed 0

# cifar_cnn on CIFAR-10 (45,000 train / 5,000 held-out validation): >= 62% within 15 epochs
want cifar_cnn && run cifar_cnn --model cifar_cnn --dataset cifar10 --epochs 15 --batch-size 64 \
    --optimizer adam --lr 0.005 --schedule onecycle --augment flip --seed 0

# resnet20 on the same split with crop + flip: >= 85% validation accuracy
want resnet20 && run resnet20 --model resnet20 --dataset cifar10 --epochs ${RESNET_EPOCHS:-16} --batch-size 128 \
    --optimizer sgd --lr 0.1 --momentum 0.9 --nesterov --weight-decay 5e-4 --schedule onecycle \
    --augment crop,flip --seed 0
# vgg16 (with batch norm) on the same split with crop + flip: >= 88% validation accuracy (hours)
want vgg16 && run vgg16 --model vgg16 --dataset cifar10 --epochs ${VGG_EPOCHS:-18} --batch-size 128 \
    --optimizer sgd --lr 0.1 --momentum 0.9 --nesterov --weight-decay 5e-4 --schedule onecycle \
    --augment crop,flip --seed 0
exit 0
