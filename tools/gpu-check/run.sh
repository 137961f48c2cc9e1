#!/usr/bin/env bash
# The prepared GPU check, run on the device machine from the repo root: `bash .gpu-check/run.sh`
# (pack.mjs copies this file into .gpu-check/). Unpacks the bundle into /tmp, installs the Vulkan
# loader only if the machine lacks it, then runs each step under its own timeout and always writes
# what it got to $OUT: gpu-check.log (everything, summary.json of each run included) and
# gpu-check.json (one result per step). `--smoke` runs the same steps at CPU sizes (32×32, batch 8,
# 2 steps, no CUDA anchor, an injected OOM instead of a real one) to test the bundle off the GPU.
# Budget on the GPU: 8 minutes in all (GPU_CHECK_BUDGET_S; docs/gpu-check.md).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
log="$OUT/gpu-check.log"
results="$OUT/gpu-check.jsonl.tmp"
: >"$log"
: >"$results"
t_start=$(date +%s)
# Every step's timeout is also cut to what is left of the whole check's budget (default 8 minutes).
budget_s=${GPU_CHECK_BUDGET_S:-480}
[ $smoke -eq 1 ] && budget_s=${GPU_CHECK_BUDGET_S:-900}
deadline=$((t_start + budget_s))
work=${GPU_CHECK_WORK:-/tmp/gpu-check}

say() { echo "== $(date +%T) $*" | tee -a "$log"; }

# step NAME TIMEOUT_S CMD...: runs CMD with its output in the log, records rc and seconds.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - $(date +%s)))
  if [ $left -lt 15 ]; then
    note "$name" skipped "the check's ${budget_s}s budget is spent"
    return 1
  fi
  [ "$limit" -gt $left ] && limit=$left
  say "step $name (timeout ${limit}s): $*"
  local t0 rc
  t0=$(date +%s.%N)
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  local status=ok
  [ $rc -ne 0 ] && status=failed
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status=timeout
  say "step $name: $status (exit $rc, ${secs}s)"
  printf '{"step":"%s","status":"%s","rc":%d,"seconds":%s}\n' "$name" "$status" "$rc" "$secs" >>"$results"
  return $rc
}

# note NAME STATUS DETAIL: a result without a command (skipped steps).
note() {
  say "step $1: $2 ($3)"
  printf '{"step":"%s","status":"%s","detail":"%s"}\n' "$1" "$2" "$(json_str "$3")" >>"$results"
}
json_str() { printf '%s' "$1" | tr '\t\n\r' '   ' | sed 's/\\/\\\\/g; s/"/\\"/g'; }

# Lines of the log that are JSON objects from a step become the step's "output" in gpu-check.json.
finish() {
  local rc=$? elapsed=$(($(date +%s) - t_start))
  say "done in ${elapsed}s; results in $OUT/gpu-check.json"
  if [ -x "$work/node" ] && "$work/node" "$here/collect.mjs" "$results" "$log" "$work/runs" "$OUT/gpu-check.json" "$smoke" "$elapsed" 2>>"$log"; then
    rc=0
  elif [ -s "$OUT/gpu-check.json" ]; then
    rc=1
  else
    cp "$results" "$OUT/gpu-check.json" # no Node to collect with: the raw step records
    rc=1
  fi
  rm -f "$results"
  [ $rc -eq 0 ] || echo "gpu-check: failed; see $OUT/gpu-check.json and $log" >&2
  exit $rc
}
trap finish EXIT

# ---- unpack --------------------------------------------------------------------------------------
# xz decompresses; python3's lzma is the fallback where xz-utils is not installed.
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
say "gpu-check (smoke=$smoke) on $(uname -n), $(uname -m), $(nproc) cores; bundle $here"
cat "$here/MANIFEST.json" >>"$log" 2>/dev/null
rm -rf "$work" && mkdir -p "$work"
if [ -f "$here/node.xz" ]; then
  unxz_to "$here/node.xz" >"$work/node" && chmod +x "$work/node"
elif [ -n "${GPU_CHECK_NODE:-}" ]; then
  ln -s "$GPU_CHECK_NODE" "$work/node" # a bundle packed with --no-node, tested where Node exists
fi
unxz_to "$here/app.tar.xz" | tar -x -C "$work"
[ -f "$here/data.tar.xz" ] && unxz_to "$here/data.tar.xz" | tar -x -C "$work"
if ! "$work/node" -p '`node ${process.version} at ${process.execPath}`' >>"$log" 2>&1; then
  note unpack failed "no runnable node in $work (packed with --no-node? set GPU_CHECK_NODE)"
  exit 1
fi
note unpack ok "$(du -sh "$work" | cut -f1) in $work"
export PATH="$work:$PATH"
app="$work/app"
data="$work/data"
[ -d "$data" ] || data=${GPU_CHECK_DATA:-/usr/share/datasets/fashion-mnist}

# ---- Vulkan --------------------------------------------------------------------------------------
# Dawn dlopens libvulkan.so.1; the deb goes under /tmp (LD_LIBRARY_PATH), never over /.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  deb=$(ls "$here"/libvulkan1_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then
    dpkg -x "$deb" "$work/vk" && export LD_LIBRARY_PATH="$work/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note vulkan-loader installed "$(basename "$deb") into $work/vk"
  else
    note vulkan-loader missing "no libvulkan.so.1 and no deb in the bundle"
  fi
else
  note vulkan-loader present "$(ldconfig -p | grep -m1 'libvulkan\.so\.1')"
fi
# NVIDIA's Vulkan driver (libGLX_nvidia.so.0) dlopens glvnd's libEGL.so.1 and, without it, hands the
# loader no vkCreateInstance ("Could not get 'vkCreateInstance' via 'vk_icdGetInstanceProcAddr'"):
# measured on the lent H200 container (Ubuntu 24.04, driver 580.159.04), which has the driver's own
# libEGL_nvidia but not libegl1/libglvnd0 (nvidia-container-toolkit#1952). Same rule: under /tmp.
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL\.so\.1'; then
  egl_debs=$(ls "$here"/libegl1_*.deb "$here"/libglvnd0_*.deb 2>/dev/null)
  if [ -n "$egl_debs" ]; then
    for deb in $egl_debs; do dpkg -x "$deb" "$work/vk"; done
    case ":${LD_LIBRARY_PATH:-}:" in
      *":$work/vk/usr/lib/x86_64-linux-gnu:"*) ;;
      *) export LD_LIBRARY_PATH="$work/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
    note egl installed "$(basename -a $egl_debs | tr '\n' ' ')into $work/vk"
  else
    note egl missing "no libEGL.so.1 and no libegl1/libglvnd0 deb in the bundle"
  fi
else
  note egl present "$(ldconfig -p | grep -m1 'libEGL\.so\.1')"
fi
# glvnd finds the NVIDIA EGL vendor library through a JSON file; write one when the container has none.
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && ldconfig -p 2>/dev/null | grep -q 'libEGL_nvidia\.so\.0' &&
  ! ls /usr/share/glvnd/egl_vendor.d/*nvidia* /etc/glvnd/egl_vendor.d/*nvidia* >/dev/null 2>&1; then
  mkdir -p "$work/vk/egl_vendor.d"
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libEGL_nvidia.so.0"}}\n' >"$work/vk/egl_vendor.d/10_nvidia.json"
  export __EGL_VENDOR_LIBRARY_FILENAMES="$work/vk/egl_vendor.d/10_nvidia.json"
  say "__EGL_VENDOR_LIBRARY_FILENAMES=$__EGL_VENDOR_LIBRARY_FILENAMES"
fi
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv_icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$nv_icd
  say "VK_DRIVER_FILES=$nv_icd"
fi

command -v nvidia-smi >/dev/null && step nvidia-smi 15 nvidia-smi
command -v vulkaninfo >/dev/null && step vulkaninfo 15 vulkaninfo --summary

# ---- the product ---------------------------------------------------------------------------------
cd "$app" || exit 1
# Commands, not functions: timeout runs programs. The app is the package bundle (bin/, dist/) with the
# benchmarks built in: bench-step is `npm run bench:step` without npm or tsx.
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$work/node" "$app/bin/tfjs-ddp.js" >"$work/bin/tfjs-ddp"
printf '#!/bin/sh\ncd "%s" && exec "%s" dist/bench-step.js "$@"\n' "$app" "$work/node" >"$work/bin/bench-step"
printf '#!/bin/sh\ncd "%s" && exec "%s" dist/bench-kernels.js "$@"\n' "$app" "$work/node" >"$work/bin/bench-kernels"
chmod +x "$work/bin/tfjs-ddp" "$work/bin/bench-step" "$work/bin/bench-kernels"
cli=$work/bin/tfjs-ddp
bench=$work/bin/bench-step
# Two of the repository's docs/examples (the working tree the check runs in travels with the bundle),
# for models other than the seed: copied out of the tree, so that a module resolves no tfjs of the
# repository's own (there is none on the GPU machine; here there is, and tfjs-ddp refuses two).
examples="$work/examples"
mkdir -p "$examples"
for ex in gru-sequences cnn-image-folder; do cp -r "$here/../docs/examples/$ex" "$examples/" 2>>"$log"; done
kernels=$work/bin/bench-kernels
export TFJS_DDP_DATA_DIR="$data"
runs="$work/runs"

# train-run NAME TIMEOUT ARGS...: a training run whose summary.json goes into the log.
train_run() {
  local name=$1 limit=$2
  shift 2
  # TRAIN_ENV: VAR=value words for env (unquoted on purpose: empty gives none).
  # shellcheck disable=SC2086
  step "$name" "$limit" env ${TRAIN_ENV:-} "$cli" train --backend webgpu --workers 1 --data-dir "$data" --run-dir "$runs/$name" "$@"
  local rc=$?
  say "$name: summary.json"
  cat "$runs/$name/summary.json" >>"$log" 2>&1
  grep -h '"oom\|out of memory' "$runs/$name"/*.log 2>/dev/null | head -20 >>"$log"
  return $rc
}

step info 45 "$cli" info --backend webgpu --data-dir "$data"
step info-json 30 "$cli" info --backend webgpu --data-dir "$data" --json
# What the adapter offers besides: subgroups, and with allow_unsafe_apis the subgroup matrices (tensor cores).
step adapter-features 20 "$work/node" "$here/adapter-features.mjs"

if [ $smoke -eq 1 ]; then
  step bench-webgpu-b8 120 "$bench" --backend webgpu --path task --size 32 --batch 8 --steps 2 --warmup 1 --gpu-profile
  step bench-webgpu-host 60 "$bench" --backend webgpu --path task --size 32 --batch 8 --steps 5 --warmup 2 --host-only
  step bench-webgpu-gru 60 "$bench" --backend webgpu --path task --model "$examples/gru-sequences/model.mjs" --data "$examples/gru-sequences/data.mjs" --batch 32 --steps 2 --warmup 1
  step bench-kernels-b4 120 "$kernels" --backend webgpu --size 32 --batch 4 --reps 1
  note torch-anchor skipped "smoke mode"
  # The end-of-run evaluation of all 10,000 test images takes minutes on lavapipe: the training runs
  # read the first 64 train and 16 test images of the real files (info above checked all of them).
  small="$work/data-small"
  mkdir -p "$small"
  "$work/node" -e '
    const fs = require("fs"), zlib = require("zlib"), path = require("path");
    const [src, dst] = process.argv.slice(1);
    for (const [f, n] of [["train-images-idx3-ubyte", 64], ["train-labels-idx1-ubyte", 64], ["t10k-images-idx3-ubyte", 16], ["t10k-labels-idx1-ubyte", 16]]) {
      const p = path.join(src, f);
      const b = fs.existsSync(p) ? fs.readFileSync(p) : zlib.gunzipSync(fs.readFileSync(p + ".gz"));
      const header = 4 + 4 * b[3], per = b[3] === 3 ? 28 * 28 : 1;
      const out = Buffer.from(b.subarray(0, header + n * per));
      out.writeUInt32BE(n, 4);
      fs.writeFileSync(path.join(dst, f), out);
    }' "$data" "$small" >>"$log" 2>&1
  data=$small
  train_run train 240 --resize 32 --batch-size 8 --micro-batch 8 --max-steps 2 --memory-budget 512MiB --verify-data false
  # No real GPU OOM on lavapipe (host memory): an injected one takes the same back-off path.
  TRAIN_ENV=TFJS_DDP_INJECT_GPU_OOM=0:1 train_run oom 240 --resize 32 --batch-size 16 --micro-batch 16 --max-steps 2 --memory-budget 512MiB --verify-data false
else
  step bench-webgpu-b64 60 "$bench" --backend webgpu --path task --size 96 --batch 64 --steps 4 --warmup 2 --gpu-profile
  step bench-webgpu-b256 75 "$bench" --backend webgpu --path task --size 96 --batch 256 --steps 3 --warmup 2 --gpu-profile
  # The host's time per step alone, on Dawn's null backend (records every command, runs none): what
  # this machine's CPU spends on a step whatever the GPU, the floor under the step time above.
  step bench-webgpu-host 30 "$bench" --backend webgpu --path task --size 96 --batch 64 --steps 20 --warmup 3 --host-only
  # Two models of docs/examples (the working tree travels with the bundle): a recurrent one, mostly
  # tfjs' own programs (cached-dispatch.ts), and a CNN with BatchNorm + ReLU; their e2e tests' batches.
  step bench-webgpu-gru 30 "$bench" --backend webgpu --path task --model "$examples/gru-sequences/model.mjs" --data "$examples/gru-sequences/data.mjs" --batch 32 --steps 10 --warmup 2
  step bench-webgpu-cnn 30 "$bench" --backend webgpu --path task --model "$examples/cnn-image-folder/model.mjs" --data "$examples/cnn-image-folder/data.mjs" --batch 24 --steps 10 --warmup 2
  # The same step with the forward conv on subgroup matrices (tensor cores; docs/kernels.md, "webgpu:
  # subgroup matrices"): E_GPU_UNAVAILABLE where the adapter has none (adapter-features says).
  step bench-webgpu-b256-mma 60 env TFJS_DDP_WEBGPU_CONV=mma "$bench" --backend webgpu --path task --size 96 --batch 256 --steps 2 --warmup 2 --gpu-profile
  # The same step with tfjs' own forward conv (Conv2DMMProgram) instead of ours: which is faster on this GPU.
  step bench-webgpu-b256-tfjs-conv 60 env TFJS_DDP_WEBGPU_CONV=tfjs "$bench" --backend webgpu --path task --size 96 --batch 256 --steps 2 --warmup 2 --gpu-profile
  # The same step with the forward conv's f16 arithmetic (docs/kernels.md, "webgpu: f16"), where the adapter has shader-f16.
  step bench-webgpu-b256-f16 60 env TFJS_DDP_WEBGPU_F16=1 "$bench" --backend webgpu --path task --size 96 --batch 256 --steps 2 --warmup 2 --gpu-profile
  # The same step with a queue submit every 60 dispatches instead of tfjs' 15: less host time per
  # step, the GPU started later, freed buffers held until the submit (more device memory).
  step bench-webgpu-b256-submit60 60 env TFJS_DDP_WEBGPU_SUBMIT_EVERY=60 "$bench" --backend webgpu --path task --size 96 --batch 256 --steps 2 --warmup 2
  # The same step with tfjs' own buffer pool instead of the planned one: GPU memory and time per step.
  step bench-webgpu-b256-tfjs-buffers 60 env TFJS_DDP_WEBGPU_BUFFERS=tfjs "$bench" --backend webgpu --path task --size 96 --batch 256 --steps 2 --warmup 2
  # Each conv kernel (forward, dW, dX) on the DenseNet's layer shapes, ours against tfjs' stock one.
  step bench-kernels-b64 45 "$kernels" --backend webgpu --size 96 --batch 64 --reps 5
  # Again on subgroup matrices: fwd_ms and backprop_*_ms are then theirs, *_mma_rel_err their distances from our float32 kernels.
  step bench-kernels-b64-mma 45 env TFJS_DDP_WEBGPU_CONV=mma "$kernels" --backend webgpu --size 96 --batch 64 --reps 5
  if [ -f "$here/torch_densenet.py" ] && python3 -c 'import torch; assert torch.cuda.is_available()' >>"$log" 2>&1; then
    step torch-cuda-b64 40 env PYTHONUNBUFFERED=1 python3 "$here/torch_densenet.py" 64 20 96 1 cuda
    step torch-cuda-b256 40 env PYTHONUNBUFFERED=1 python3 "$here/torch_densenet.py" 256 20 96 1 cuda
    step torch-cuda-b64-nhwc 40 env PYTHONUNBUFFERED=1 python3 "$here/torch_densenet.py" 64 20 96 1 cuda nhwc
    step torch-cuda-b256-nhwc 40 env PYTHONUNBUFFERED=1 python3 "$here/torch_densenet.py" 256 20 96 1 cuda nhwc
  else
    note torch-anchor skipped "no torch_densenet.py in the bundle, or python3 has no CUDA torch"
  fi
  train_run train 75 --resize 96 --batch-size 256 --micro-batch 64 --max-steps 8
  # A real OOM, or a binding over the limits: ~6.4 MiB/sample at 96×96 on webgpu since 2026-12-07
  # (10–15 before; docs/benchmarks.md) × 12288 ≈ 77 GiB, about an H100's memory. The largest tensors
  # (12288×50×50×64 floats, 7.3 GiB) exceed a 4 GiB binding; where the adapter binds less than a
  # tensor needs (info prints maxStorageBufferBindingSize) Dawn's validation error is classified as
  # an OOM too. Either way the back-off must halve the micro-batch until a step fits (6144: 3.7 GiB
  # tensors), and the run must complete (collect.mjs fails the step otherwise).
  train_run oom 150 --resize 96 --batch-size 12288 --micro-batch 12288 --max-steps 2 --step-timeout 100
fi
