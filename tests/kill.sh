#!/bin/sh
# No partial outputs: wanc is killed (SIGKILL, no chance to clean up) at random
# points while it writes, and every destination must then be absent or
# complete: each model file (safetensors, GGUF) loads, the tokenizer encodes,
# the mp4 has all its frames, the frame folder holds every frame, a training
# cache folder every item, loss.csv only whole rows. Every writer is covered:
# demo, generate (--out x.safetensors / x.mp4, --frames), random-model,
# quantize, train (LoRA and full fine-tuning: checkpoints, epoch files,
# loss.csv) and its sft:data_process cache. (Temporaries "*.part-PID", files or the cache's folder, may be left by a SIGKILL;
# they are never the destination, and the next run that writes the same destination removes
# them: checked after the kills.)
#   tests/kill.sh BUILD_DIR [KILLS]
wanc=$(cd "$(dirname "${1:-build}/wanc")" && pwd)/wanc
kills=${2:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok()  { echo "PASS kill $1"; passed=$((passed + 1)); }
bad() { echo "FAIL kill $1"; failed=$((failed + 1)); }
now_ms() { date +%s%3N; }
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; } # 0..65535

# complete_or_absent DIR: every destination under DIR is whole
complete_or_absent() {
    d=$1 why=""
    for f in $(find "$d" \( -name '*.safetensors' -o -name '*.gguf' \) ! -name '*.part-*' ! -path '*/.*'); do
        "$wanc" info "$f" >/dev/null 2>&1 || why="$why $(basename "$f")"
    done
    # training: the cache folder is renamed into place whole; loss.csv gains whole rows
    if [ -d "$d/cache/0" ]; then
        n=$(ls "$d/cache/0" | grep -c '^[0-9]*\.safetensors$')
        [ "$n" = "$items" ] || why="$why cache/0($n of $items items)"
    fi
    for f in $(find "$d" -name loss.csv); do
        if [ -n "$(grep -Ev '^(step,epoch,loss,lr|[0-9]+,[0-9]+,[^,]+,[^,]+)$' "$f")$(tail -c 1 "$f" | tr -d '\n')" ]; then
            why="$why loss.csv(a partial row)"
        fi
    done
    tj="$d/m/google/umt5-xxl/tokenizer.json"
    if [ -e "$tj" ] && ! "$wanc" encode-prompt --tokenizer "$tj" --prompt x --ids >/dev/null 2>&1; then
        why="$why tokenizer.json"
    fi
    if [ -e "$d/out.mp4" ] && command -v ffprobe >/dev/null; then
        n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 \
            "$d/out.mp4" 2>/dev/null)
        [ "$n" = "$frames" ] || why="$why out.mp4($n frames)"
    fi
    if [ -e "$d/png" ]; then
        n=$(ls "$d/png" | grep -c '^frame_[0-9]*\.png$')
        [ "$n" = "$frames" ] || why="$why png/($n frames)"
    fi
    [ -z "$why" ] || echo "  incomplete:$why"
    [ -z "$why" ]
}

# run_kills NAME ARGS...: time a full run, then kill runs at random points of it
run_kills() {
    name=$1
    shift
    rm -rf "$tmp/full" && mkdir -p "$tmp/full"
    [ -d "$tmp/model" ] && cp -r "$tmp/model" "$tmp/full/m"
    t0=$(now_ms)
    (cd "$tmp/full" && "$wanc" "$@" >/dev/null 2>&1)
    rc=$?
    full=$(( $(now_ms) - t0 ))
    # the uninterrupted run succeeds and writes its destination
    if [ $rc != 0 ] || [ -z "$(ls "$tmp/full" | grep -v '^m$')" ] || ! complete_or_absent "$tmp/full"; then
        bad "$name: the uninterrupted run (exit $rc: $(ls "$tmp/full" | tr '\n' ' '))"; return
    fi
    fails=0 died=0
    i=0 n=$kills
    while [ $i -lt $n ]; do
        rm -rf "$tmp/k" && mkdir -p "$tmp/k"
        [ -d "$tmp/model" ] && cp -r "$tmp/model" "$tmp/k/m"
        # half the kills anywhere in the run, half in its second half (the writing; the
        # process start and the sleep take a little, so not the very end)
        if [ $((i % 2)) = 0 ]; then at=$(( $(rand) * full / 65536 ))
        else at=$(( full / 2 + $(rand) * full * 2 / 5 / 65536 )); fi
        (cd "$tmp/k" && exec "$wanc" "$@" >/dev/null 2>&1) &
        pid=$!
        sleep "$(awk -v ms="$at" 'BEGIN { printf "%.3f", ms / 1000 }')"
        if kill -KILL $pid 2>/dev/null; then died=$((died + 1))
        else full=$(( full * 2 / 3 )); fi # it had finished: this run is faster than the timed one
        wait $pid 2>/dev/null
        complete_or_absent "$tmp/k" || { fails=$((fails + 1)); echo "  (killed after $at of $full ms)"; }
        i=$((i + 1))
        # a kill that came after the end tests nothing: try again, earlier (at most twice as many)
        [ $i = $n ] && [ $died = 0 ] && [ $n -lt $((2 * kills)) ] && n=$((n + 1))
    done
    # a whole run where the last kill left its temporaries removes them
    (cd "$tmp/k" && "$wanc" "$@" >/dev/null 2>&1)
    left=$(find "$tmp/k" -name '*.part-*' | sed "s|$tmp/k/||" | tr '\n' ' ')
    if [ -n "$left" ]; then fails=$((fails + 1)); echo "  a later whole run left the killed one's temporaries: $left"; fi
    if [ $fails = 0 ]; then ok "$name: $i kills in a ${full} ms run ($died mid-run), every destination whole or absent"
    else bad "$name: $fails of $i kills left a partial destination (or temporaries a later run kept)"; fi
}

# the demo writes the model files (safetensors, tokenizer.json) and the mp4
frames=17
run_kills demo demo --dir m --out out.mp4 --quiet
cp -r "$tmp/full/m" "$tmp/model" # the model the generate runs use
# generate on that model: raw frames, then the PNG frame folder
gen="generate --model-dir m --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --quiet"
frames=5
run_kills "generate --out x.safetensors" $gen --out out.safetensors
run_kills "generate --frames DIR" $gen --frames png
run_kills "generate --out x.mp4" $gen --out out.mp4

# training on a one-clip dataset: LoRA checkpoints every 2 steps, the epoch
# file, loss.csv; then the sft:data_process cache (4 items)
ds="$tmp/ds"
mkdir -p "$ds"
(cd "$tmp" && "$wanc" generate --model-dir model --prompt clip --height 32 --width 48 --num-frames 5 \
    --num-inference-steps 1 --seed 11 --quiet --out ds/clip.mp4 >/dev/null 2>&1)
printf 'video,prompt\nclip.mp4,a ball\n' >"$ds/metadata.csv"
tr="train --dataset_base_path $ds --dataset_metadata_path $ds/metadata.csv --model_dir m --num_frames 5 --quiet"
run_kills "train (LoRA)" $tr --lora_base_model dit --lora_rank 4 --dataset_repeat 8 --save_steps 2 --output_path lora
run_kills "train (full fine-tuning)" $tr --trainable_models dit --dataset_repeat 6 --save_steps 2 --output_path full
items=4
run_kills "train --task sft:data_process" $tr --task sft:data_process --dataset_repeat 4 --output_path cache

# a 144 MB checkpoint streamed to disk for seconds: the long write window
kills=3
run_kills "random-model" random-model --arch wan2.1-t2v-1.3b --layers 1 --out rm
# quantize that checkpoint's DiT to a GGUF
dit=$(find "$tmp/full/rm" -name '*.safetensors' | xargs ls -S | head -n 1)
mv "$dit" "$tmp/dit.safetensors"
run_kills "quantize" quantize --quiet --type Q8_0 "$tmp/dit.safetensors" out.gguf

echo "kill: $passed passed, $failed failed"
[ "$failed" = 0 ]
