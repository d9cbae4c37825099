#!/usr/bin/env bash
# The prepared check for a lent GPU machine (../shared/docs/GPU.md): what issues 35 and 38 ask of a GPU,
# in one command of about nine minutes, each part under its own time limit, its output in $OUT.
#
# Here, with ../shared and the repository's history, once:
#     bash benchmarks/device_check.sh prepare
#   makes .device/ (ignored by git, never committed: it holds converted ML-1M): the wheels the GPU machine
#   lacks (GPU.md), ML-1M converted and gzipped, and commit 1810e44's package as a .tar (no .git travels).
# A dry run here on the CPU, every limit tiny:
#     DEVICE_CHECK_TINY=1 bash benchmarks/device_check.sh run
# There (the device tool's command, carrying .device):
#     bash benchmarks/device_check.sh run
#
# What it runs there, in order of what the issues need most:
#   1. bench_step.py: this commit's three ML-1M presets in fp32 and bf16 and 1810e44's in fp32, the same
#      network on both sides (sasrec-ml1m-ce's old d 50 / dropout 0.2), an epoch each: the GPU ratios;
#   2. sasrec-ml1m-ce on ML-1M until early stopping or the cap: the convergence run beside 0.1821;
#   3. the tests without the slow ones, for what time is left.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device-check}
mkdir -p "$OUT"
TINY=${DEVICE_CHECK_TINY:-0}
PY=${PYTHON:-python3}

prepare() {
    set -e
    mkdir -p .device
    grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >> .git/info/exclude
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .device/whl recbole==1.2.1 colorlog==4.7.2 colorama==0.4.4 texttable thop hyperopt future isal \
        hypothesis sortedcontainers
    "$PY" -m recbole_ext.convert ml-1m --input ../shared/data/ml-1m --output-dir .device/atomic --no-progress \
        --overwrite
    gzip -f .device/atomic/ml1m/ml1m.inter
    git archive -o .device/1810e44.tar 1810e44 recbole_ext
    du -sh .device
}

run() {
    if [ "$TINY" = 1 ]; then
        step_args=(--steps 1 --warmup 0); cap=5; limits=(120 150 60); tests=(tests/test_precision.py)
    else
        step_args=(--steps 10 --epoch); cap=240; limits=(180 270 150); tests=(tests -m "not slow")
    fi
    if [ -d .device/whl ] && ! "$PY" -c "import recbole" 2>/dev/null; then  # the GPU machine: no recbole there
        "$PY" -m pip install --quiet --no-index --no-deps --target /tmp/device-site .device/whl/*.whl
        export PYTHONPATH="/tmp/device-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
    mkdir -p .device/data/ml1m
    [ -f .device/data/ml1m/ml1m.inter ] || gunzip -c .device/atomic/ml1m/ml1m.inter.gz > .device/data/ml1m/ml1m.inter
    {
        date -u; nvidia-smi 2>&1 | head -15
        "$PY" -c "import sys, torch, numpy, pandas; print('Python', sys.version.split()[0], '| torch', torch.__version__, \
'| cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', \
'| numpy', numpy.__version__, '| pandas', pandas.__version__)"
    } > "$OUT/env.txt" 2>&1
    cat "$OUT/env.txt"

    echo "== 1. bench_step (limit ${limits[0]} s)"
    timeout "${limits[0]}" "$PY" benchmarks/bench_step.py --data_path .device/data --precision fp32 bf16 \
        --baseline .device/1810e44.tar "${step_args[@]}" --set SASRecPaper:hidden_size=50 SASRecPaper:inner_size=50 \
        SASRecPaper:hidden_dropout_prob=0.2 SASRecPaper:attn_dropout_prob=0.2 > "$OUT/step.txt" 2>&1
    echo "rc $?"; tail -25 "$OUT/step.txt"

    echo "== 2. sasrec-ml1m-ce to early stopping, cap ${cap} s (limit ${limits[1]} s)"
    timeout "${limits[1]}" "$PY" run.py --model SASRecPaper --dataset ml1m --config_files sasrec-ml1m-ce \
        --data_path=.device/data --max_train_seconds="$cap" --show_progress=False --output_dir "$OUT/sasrec" \
        --result_file "$OUT/sasrec.json" --overwrite > "$OUT/sasrec.log" 2>&1
    echo "rc $?"; grep -E "training \[|test:|best valid|precision" "$OUT/sasrec.log" | tail -6

    echo "== 3. tests (limit ${limits[2]} s)"
    timeout "${limits[2]}" "$PY" -m pytest -q -x "${tests[@]}" > "$OUT/tests.txt" 2>&1
    echo "rc $?"; tail -5 "$OUT/tests.txt"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: bash benchmarks/device_check.sh prepare|run (see its first lines)" >&2; exit 2 ;;
esac
