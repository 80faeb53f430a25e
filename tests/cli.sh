#!/bin/sh
# End-to-end tests of the `wanc` command line: the demo, generate (on the
# demo model and, when the fixture tree is there, on the e2e fixture's files
# and parameters), the mp4 it writes (checked with ffprobe), and the bad
# inputs that must fail with a one-line error and leave no file behind.
#   tests/cli.sh BUILD_DIR FIXTURE_DIR
wanc=$(cd "$(dirname "${1:-build}/wanc")" && pwd)/wanc
fixtures=${2:-../shared/fixtures}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$(mktemp -d)
img=$(mktemp -d) # the image-to-video models and the input image
trap 'rm -rf "$tmp" "$log" "$img"' EXIT
passed=0 failed=0

ok()   { echo "PASS cli $1"; passed=$((passed + 1)); }
bad()  { echo "FAIL cli $1"; failed=$((failed + 1)); }
# only_models DIR: nothing but the model folder m (no half-written output, no temporaries)
only_models() { [ -z "$(ls -A "$1" | grep -v '^m$')" ]; }

probe() { # FILE FRAMES WIDTH HEIGHT: ffprobe agrees
    command -v ffprobe >/dev/null || return 0
    got=$(ffprobe -v error -count_frames -select_streams v:0 \
          -show_entries stream=nb_read_frames,width,height,r_frame_rate -of csv=p=0 "$1")
    [ "$got" = "$3,$4,15/1,$2" ]
}

probe_seconds() { # FILE FRAMES: the stream lasts FRAMES/15 s
    command -v ffprobe >/dev/null || return 0
    got=$(ffprobe -v error -select_streams v:0 -show_entries stream=duration -of csv=p=0 "$1")
    awk -v got="$got" -v n="$2" 'BEGIN { d = got - n / 15; exit !(d < 1e-3 && d > -1e-3) }'
}

# 1. the demo runs and writes a playable mp4
if (cd "$tmp" && "$wanc" demo --dir m --out demo.mp4 --quiet >"$log/demo.log" 2>&1) && probe "$tmp/demo.mp4" 17 96 96
then ok "demo writes a 17-frame 96x96 mp4"; else bad "demo"; cat "$log/demo.log"; fi
rm -f "$tmp/demo.mp4" "$log/demo.log"
if "$wanc" info "$tmp/m/diffusion_pytorch_model.safetensors" >"$log/log" 2>&1 &&
   grep -q "^DiT: T2V .*; in_dim 16, dim 192, 4 layers, 4 heads$" "$log/log"
then ok "info on the demo DiT names its layers and its stated heads"; else bad "info DiT layers/heads"; cat "$log/log"; fi

# 1b. WANC_CPU: an unknown path is refused with a named one-line error; generate
# runs on every path this CPU has (the fixtures check the numbers of each path)
if WANC_CPU=sse9 "$wanc" demo --dir m2 --quiet >"$log/log" 2>&1; then bad "WANC_CPU=sse9 accepted"
elif grep -q "WANC_CPU=sse9: unknown path" "$log/log" && [ "$(wc -l <"$log/log")" = 1 ]; then ok "WANC_CPU=sse9 is refused by name"
else bad "WANC_CPU=sse9 message"; cat "$log/log"; fi
for path in avx2 avx512 avx512bf16; do
    WANC_CPU=$path "$wanc" --help >/dev/null 2>&1 || continue
    if WANC_CPU=$path "$wanc" generate --model-dir "$tmp/m" --prompt "a test" --height 32 --width 48 \
         --num-frames 5 --num-inference-steps 1 --seed 7 --quiet --out "$tmp/p.safetensors" >"$log/log" 2>&1
    then ok "generate on WANC_CPU=$path"; else bad "generate on WANC_CPU=$path"; cat "$log/log"; fi
    rm -f "$tmp/p.safetensors"
done

# 2. generate on the demo model found by its released file names
if "$wanc" generate --model-dir "$tmp/m" --prompt "a test" --height 32 --width 48 \
     --num-frames 9 --num-inference-steps 2 --seed 7 --quiet --out "$tmp/g.mp4" >"$log/log" 2>&1 &&
   probe "$tmp/g.mp4" 9 48 32 && grep -q "seed 7" "$log/log"
then ok "generate --model-dir writes the mp4 and reports the seed"; else bad "generate --model-dir"; cat "$log/log"; fi
rm -f "$tmp/g.mp4"

# 2b. -o (the short --out); 13 and 1 frames: every frame is shown and the stream
# lasts frames/15 s (the muxer once dropped the 13th frame and a lone frame)
for n in 13 1; do
    if "$wanc" generate --model-dir "$tmp/m" --height 48 --width 32 --num-frames $n \
         --num-inference-steps 1 --quiet -o "$tmp/o.mp4" >"$log/log" 2>&1 && probe "$tmp/o.mp4" $n 32 48 &&
       probe_seconds "$tmp/o.mp4" $n
    then ok "generate -o writes a $n-frame mp4 and every frame is shown"; else bad "generate -o, $n frames"; cat "$log/log"; fi
    rm -f "$tmp/o.mp4"
done

# 3. same seed, same frames (raw safetensors output), PNG frames
"$wanc" generate --model-dir "$tmp/m" --prompt "x" --height 32 --width 48 --num-frames 5 \
    --num-inference-steps 2 --seed 3 --quiet --out "$tmp/a.safetensors" >/dev/null 2>&1
"$wanc" generate --model-dir "$tmp/m" --prompt "x" --height 32 --width 48 --num-frames 5 \
    --num-inference-steps 2 --seed 3 --quiet --out "$tmp/b.safetensors" >/dev/null 2>&1
if [ -s "$tmp/a.safetensors" ] && cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors"
then ok "same seed gives the same frames"; else bad "same seed gives the same frames"; fi
"$wanc" generate --model-dir "$tmp/m" --height 32 --width 48 --num-frames 5 \
    --num-inference-steps 1 --seed 3 --quiet --frames "$tmp/png" >/dev/null 2>&1
if [ "$(ls "$tmp/png" 2>/dev/null | tr '\n' ' ')" = "frame_00000.png frame_00001.png frame_00002.png frame_00003.png frame_00004.png " ]
then ok "--frames writes frame_00000.png ..."; else bad "--frames"; ls "$tmp/png"; fi
rm -rf "$tmp/a.safetensors" "$tmp/b.safetensors" "$tmp/png"

# 3a. determinism: the same command gives bit-identical frames on every run and
# at any thread count (bf16 and f32 each; docs/architecture.md, "Determinism")
det="--model-dir $tmp/m --prompt x --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --seed 11"
for dtype in bf16 f32; do
    for th in 1 2 3 2; do
        "$wanc" generate $det --dtype $dtype --threads $th --quiet --out "$tmp/d$th.safetensors" >/dev/null 2>&1 &&
            { [ -f "$tmp/d_first.safetensors" ] || cp "$tmp/d$th.safetensors" "$tmp/d_first.safetensors"; }
        if ! cmp -s "$tmp/d$th.safetensors" "$tmp/d_first.safetensors"; then det_bad="$dtype, $th threads"; fi
    done
    if [ -z "$det_bad" ] && [ -s "$tmp/d_first.safetensors" ]
    then ok "$dtype frames identical over runs and 1/2/3 threads"; else bad "determinism ($det_bad)"; fi
    det_bad=""
    rm -f "$tmp"/d*.safetensors
done

# 3b. TeaCache: --tea-cache-l1-thresh runs, and with a threshold no step reaches
# (3 steps: the middle one is skipped) the frames differ from the uncached run
tea="--model-dir $tmp/m --prompt x --height 32 --width 48 --num-frames 5 --num-inference-steps 3 --seed 3"
"$wanc" generate $tea --quiet --out "$tmp/a.safetensors" >/dev/null 2>&1
if "$wanc" generate $tea --tea-cache-l1-thresh 1000 --tea-cache-model-id Wan2.1-T2V-1.3B --quiet \
     --out "$tmp/b.safetensors" >"$log/log" 2>&1 && [ -s "$tmp/a.safetensors" ] && [ -s "$tmp/b.safetensors" ] &&
   ! cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors"
then ok "generate --tea-cache-l1-thresh runs and skips the DiT blocks"; else bad "generate --tea-cache-l1-thresh"; cat "$log/log"; fi
rm -f "$tmp/a.safetensors" "$tmp/b.safetensors"
if "$wanc" generate --help | grep -q -e "--tea-cache-l1-thresh X" && "$wanc" generate --help | grep -q -e "--tea-cache-model-id ID"
then ok "generate --help lists --tea-cache-l1-thresh, --tea-cache-model-id"; else bad "generate --help TeaCache flags"; fi

# 4. bad inputs: non-zero exit, one named error line, no output file
expect_error() { # NAME PATTERN ARGS...: fails, prints PATTERN, leaves nothing
    name=$1 pattern=$2
    shift 2
    if "$wanc" generate "$@" --quiet >"$log/out.txt" 2>"$log/err.txt"; then
        bad "$name (exit status 0)"
    elif ! grep -q -e "$pattern" "$log/err.txt"; then
        bad "$name (error does not say '$pattern')"; cat "$log/err.txt"
    elif ! only_models "$tmp"; then
        bad "$name (left files: $(ls -A "$tmp" | tr '\n' ' '))"
    else ok "$name"; fi
    rm -f "$log/out.txt" "$log/err.txt"
}
common="--t5 $tmp/m/models_t5_umt5-xxl-enc-bf16.safetensors --vae $tmp/m/Wan2.1_VAE.safetensors --tokenizer $tmp/m/google/umt5-xxl --height 32 --width 48 --num-frames 5 --num-inference-steps 1"
expect_error "a VAE given as the DiT" "DiT" $common --dit "$tmp/m/Wan2.1_VAE.safetensors" --out "$tmp/x.mp4"
expect_error "unwritable output folder" "not writable" --model-dir "$tmp/m" --out "$tmp/no/such/dir/x.mp4"
expect_error "height 0" "height" --model-dir "$tmp/m" --height 0 --out "$tmp/x.mp4"
echo "not a video" > "$log/notvideo.txt"
expect_error "a text file as --input-video" "input-video" --model-dir "$tmp/m" \
    --input-video "$log/notvideo.txt" --denoising-strength 0.7 --out "$tmp/x.mp4"
rm -f "$log/notvideo.txt"
expect_error "a missing model folder" "model folder" --model-dir "$tmp/none" --out "$tmp/x.mp4"

# 5. image-to-video: the I2V / FLF2V demo models, an input image, the named errors
if "$wanc" demo --i2v --dir "$img/mi" --out "$img/i2v.mp4" --quiet >"$log/log" 2>&1 && probe "$img/i2v.mp4" 17 160 96
then ok "demo --i2v writes a 17-frame 160x96 mp4"; else bad "demo --i2v"; cat "$log/log"; fi
if "$wanc" demo --flf2v --dir "$img/mf" --out "$img/flf2v.mp4" --quiet >"$log/log" 2>&1 &&
   probe "$img/flf2v.mp4" 17 160 96
then ok "demo --flf2v writes a 17-frame 160x96 mp4"; else bad "demo --flf2v"; cat "$log/log"; fi
rm -f "$img/i2v.mp4" "$img/flf2v.mp4"
# an input image of another size than the video: a PNG frame of a T2V run
"$wanc" generate --model-dir "$tmp/m" --height 48 --width 64 --num-frames 1 \
    --num-inference-steps 1 --seed 5 --quiet --frames "$img/png" >/dev/null 2>&1
picture="$img/png/frame_00000.png"
small="--height 32 --width 48 --num-frames 5 --num-inference-steps 2 --seed 9"
if "$wanc" generate --model-dir "$img/mi" $small --input-image "$picture" --quiet --out "$tmp/i.mp4" \
     >"$log/log" 2>&1 && probe "$tmp/i.mp4" 5 48 32
then ok "generate --input-image with the I2V model writes the mp4"; else bad "generate --input-image"; cat "$log/log"; fi
if "$wanc" generate --model-dir "$img/mf" $small --input-image "$picture" --end-image "$picture" --quiet \
     --out "$tmp/f.mp4" >"$log/log" 2>&1 && probe "$tmp/f.mp4" 5 48 32
then ok "generate --input-image --end-image with the FLF2V model writes the mp4"; else bad "generate --end-image"; cat "$log/log"; fi
rm -f "$tmp/i.mp4" "$tmp/f.mp4"
expect_error "an I2V model without --input-image" "--input-image" --model-dir "$img/mi" $small --out "$tmp/x.mp4"
expect_error "an FLF2V model without --end-image" "--end-image" --model-dir "$img/mf" $small \
    --input-image "$picture" --out "$tmp/x.mp4"
expect_error "an image given to a T2V model" "text-to-video" --model-dir "$tmp/m" $small \
    --input-image "$picture" --out "$tmp/x.mp4"
expect_error "a TeaCache threshold without a model id" "tea_cache_model_id" --model-dir "$tmp/m" \
    --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --tea-cache-l1-thresh 0.2 --out "$tmp/x.mp4"
expect_error "a negative TeaCache threshold" "tea_cache_l1_thresh" --model-dir "$tmp/m" \
    --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --tea-cache-l1-thresh -1 --out "$tmp/x.mp4"
echo '{"dit": {"num_layers": 7}}' > "$log/cfg.json"
expect_error "a --dit-config that disagrees with the weights" "num_layers = 7" --model-dir "$tmp/m" \
    --dit-config "$log/cfg.json" --height 32 --width 48 --num-frames 5 --num-inference-steps 1 --out "$tmp/x.mp4"
# the demo DiT's file states its heads (4): a config's and the flag's 8 win over it, alike
echo '{"num_heads": 8, "num_layers": 4}' > "$log/cfg.json"
hc="--height 32 --width 48 --num-frames 5 --num-inference-steps 2 --seed 3 --quiet"
if "$wanc" generate --model-dir "$tmp/m" --dit-config "$log/cfg.json" $hc --out "$tmp/c.safetensors" >"$log/log" 2>&1 &&
   "$wanc" generate --model-dir "$tmp/m" --dit-heads 8 $hc --out "$tmp/h.safetensors" >>"$log/log" 2>&1 &&
   "$wanc" generate --model-dir "$tmp/m" $hc --out "$tmp/f.safetensors" >>"$log/log" 2>&1 &&
   cmp -s "$tmp/c.safetensors" "$tmp/h.safetensors" && ! cmp -s "$tmp/c.safetensors" "$tmp/f.safetensors"
then ok "--dit-config states num_heads (same frames as --dit-heads, not the file's heads)"; else bad "--dit-config num_heads"; cat "$log/log"; fi
rm -f "$log/cfg.json" "$tmp/c.safetensors" "$tmp/h.safetensors" "$tmp/f.safetensors"
expect_error "--motion-bucket-id without a motion controller" "motion controller" --model-dir "$tmp/m" \
    --height 32 --width 48 --num-frames 5 --num-inference-steps 1 --motion-bucket-id 50 --out "$tmp/x.mp4"
expect_error "--control-video to a T2V model" "not a Fun control model" --model-dir "$tmp/m" \
    --height 32 --width 48 --num-frames 5 --num-inference-steps 1 --control-video "$picture" --out "$tmp/x.mp4"
expect_error "--vace-video to a DiT without VACE blocks" "no VACE blocks" --model-dir "$tmp/m" \
    --height 32 --width 48 --num-frames 5 --num-inference-steps 1 --vace-video "$picture" --out "$tmp/x.mp4"
expect_error "--camera-origin with 3 values" "19 comma-separated" --model-dir "$tmp/m" \
    --height 32 --width 48 --num-frames 5 --camera-direction Left --camera-origin 1,2,3 --out "$tmp/x.mp4"
expect_error "an I2V model without its CLIP file" "--clip" --dit "$img/mi/diffusion_pytorch_model.safetensors" \
    --t5 "$img/mi/models_t5_umt5-xxl-enc-bf16.safetensors" --vae "$img/mi/Wan2.1_VAE.safetensors" \
    --tokenizer "$img/mi/google/umt5-xxl" $small --input-image "$picture" --out "$tmp/x.mp4"
# 5b. LoRA: a random one for the demo DiT, fused and at run time, FILE:STRENGTH, wanc info,
# the named errors (keys for another model, an expert target on a one-DiT model)
lora="$img/lora.safetensors"
"$wanc" random-model --arch lora --base "$tmp/m/diffusion_pytorch_model.safetensors" --rank 4 --out "$lora" \
    >/dev/null 2>&1
if "$wanc" info "$lora" >"$log/log" 2>&1 && grep -q "lora: dialect diffsynth" "$log/log" &&
   grep -q "lora: layers 40 " "$log/log" && grep -q "lora: rank 4 (40 layers)" "$log/log" &&
   grep -q "blocks.N.self_attn.q x4" "$log/log"
then ok "info on a LoRA names its dialect, rank, modules and layer count"; else bad "info on a LoRA"; cat "$log/log"; fi
lg="--model-dir $tmp/m --prompt x --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --seed 3 --dtype f32 --quiet"
"$wanc" generate $lg --out "$img/base.safetensors" >/dev/null 2>&1
"$wanc" generate $lg --lora "$lora:0" --out "$img/zero.safetensors" >/dev/null 2>&1
"$wanc" generate $lg --lora "$lora:10" --out "$img/fused.safetensors" >/dev/null 2>&1
"$wanc" generate $lg --lora "$lora:10" --lora-mode runtime --out "$img/rt.safetensors" >/dev/null 2>&1
if [ -s "$img/zero.safetensors" ] && cmp -s "$img/base.safetensors" "$img/zero.safetensors"
then ok "--lora FILE:0 gives the frames of no LoRA"; else bad "--lora FILE:0"; fi
changed=$(cmp -l "$img/base.safetensors" "$img/fused.safetensors" 2>/dev/null | wc -l)
modes=$(cmp -l "$img/fused.safetensors" "$img/rt.safetensors" 2>/dev/null | wc -l)
if [ -s "$img/rt.safetensors" ] && [ "$changed" -gt 1000 ] && [ $((modes * 20)) -lt "$changed" ]
then ok "--lora changes the video; --lora-mode runtime agrees with fused ($modes vs $changed bytes differ)"
else bad "--lora fused / runtime ($changed bytes changed by the LoRA, $modes between the modes)"; fi
rm -f "$img/base.safetensors" "$img/zero.safetensors" "$img/fused.safetensors" "$img/rt.safetensors"
"$wanc" random-model --arch lora --base "$img/mi/diffusion_pytorch_model.safetensors" --rank 2 \
    --out "$img/lora_i2v.safetensors" >/dev/null 2>&1
expect_error "a LoRA for another model (unmatched keys)" "match no parameter" $lg --lora "$img/lora_i2v.safetensors" \
    --out "$tmp/x.safetensors"
if "$wanc" generate $lg --lora "$img/lora_i2v.safetensors" --lora-allow-unmatched --out "$img/u.safetensors" \
     >"$log/log" 2>&1 && grep -q "warning: 8 keys matched no DiT parameter" "$log/log"
then ok "--lora-allow-unmatched runs and warns with the count"; else bad "--lora-allow-unmatched"; cat "$log/log"; fi
rm -f "$img/u.safetensors"
expect_error "--lora-high-noise on a one-DiT model" "one DiT" $lg --lora-high-noise "$lora" --out "$tmp/x.safetensors"
expect_error "--lora-mode other" "lora-mode" $lg --lora "$lora" --lora-mode other --out "$tmp/x.safetensors"
expect_error "--lora on a missing file" "nope.safetensors" $lg --lora "$img/nope.safetensors:0.5" --out "$tmp/x.safetensors"
# two experts (the demo DiT as both): a LoRA on the high- or low-noise expert changes the frames, and
# on both it equals the two given separately
two="$lg --dit2 $tmp/m/diffusion_pytorch_model.safetensors --num-inference-steps 3"
"$wanc" generate $two --out "$img/a.safetensors" >/dev/null 2>&1
"$wanc" generate $two --lora-high-noise "$lora:10" --out "$img/h.safetensors" >"$log/log" 2>&1
"$wanc" generate $two --lora-low-noise "$lora:10" --out "$img/l.safetensors" >/dev/null 2>&1
"$wanc" generate $two --lora "$lora:10" --out "$img/b.safetensors" >/dev/null 2>&1
"$wanc" generate $two --lora-high-noise "$lora:10" --lora-low-noise "$lora:10" --out "$img/hl.safetensors" >/dev/null 2>&1
if [ -s "$img/hl.safetensors" ] && ! cmp -s "$img/a.safetensors" "$img/h.safetensors" &&
   ! cmp -s "$img/a.safetensors" "$img/l.safetensors" && ! cmp -s "$img/h.safetensors" "$img/l.safetensors" &&
   cmp -s "$img/b.safetensors" "$img/hl.safetensors"
then ok "--lora-high-noise / --lora-low-noise apply to one expert, --lora to both"
else bad "--lora-high-noise / --lora-low-noise"; cat "$log/log"; fi
rm -f "$img/a.safetensors" "$img/h.safetensors" "$img/l.safetensors" "$img/b.safetensors" "$img/hl.safetensors"
if "$wanc" generate --help | grep -q -e "--lora FILE\[:STRENGTH\]" && "$wanc" generate --help | grep -q -e "--lora-mode"
then ok "generate --help lists --lora, --lora-mode"; else bad "generate --help LoRA flags"; fi

echo "not an image" > "$log/notimage.txt"
expect_error "a text file as --input-image" "input-image" --model-dir "$img/mi" $small \
    --input-image "$log/notimage.txt" --out "$tmp/x.mp4"
rm -f "$log/notimage.txt"
help=$("$wanc" generate --help)
if echo "$help" | grep -q -e "--input-image FILE" && echo "$help" | grep -q -e "--end-image FILE" &&
   echo "$help" | grep -q -e "--clip FILE"
then ok "generate --help lists --input-image, --end-image, --clip"; else bad "generate --help image flags"; fi

# 5c. Wan2.2's two-expert control families (random releases shrunk to dim 64): each runs its units
# through both experts, and the first line names the family, its experts and its boundary
"$wanc" generate --model-dir "$tmp/m" --height 32 --width 48 --num-frames 5 \
    --num-inference-steps 1 --seed 4 --quiet --out "$img/ctl.mp4" >/dev/null 2>&1
for fam in "wan2.2-fun-a14b-control|Wan2.2 Fun-A14B Control|Fun-A14B-Control (one expert)|--control-video $img/ctl.mp4 --reference-image $picture" \
           "wan2.2-fun-a14b-control-camera|Wan2.2 Fun-A14B Control-Camera|Fun-A14B-Control-Camera (one expert)|--input-image $picture --camera-direction Left" \
           "wan2.2-vace-fun-a14b|Wan2.2 VACE-Fun-A14B|expert of Wan2.2-VACE-Fun-A14B|--vace-video $img/ctl.mp4 --vace-reference-image $picture"; do
    arch=${fam%%|*}; rest=${fam#*|}; name=${rest%%|*}; rest=${rest#*|}; info=${rest%%|*}; inputs=${rest#*|}
    if "$wanc" random-model --arch "$arch" --out "$img/$arch" --layers 2 --dim 64 --ffn 128 --heads 2 --width 8 \
         >"$log/log" 2>&1 &&
       "$wanc" generate --model-dir "$img/$arch" $small $inputs --out "$img/c.mp4" >>"$log/log" 2>&1 &&
       probe "$img/c.mp4" 5 48 32 && grep -q "^$name, 2 experts, boundary 0.875: " "$log/log" &&
       "$wanc" info "$img/$arch/low_noise_model/diffusion_pytorch_model.safetensors.index.json" | grep "^DiT: " |
         grep -q -F "$info"
    then ok "generate runs $name (two experts) on a random release; info names it"; else bad "generate $name"; cat "$log/log"; fi
    rm -rf "$img/$arch" "$img/c.mp4"
done
rm -f "$img/ctl.mp4"

# 6. Ctrl-C while denoising: non-zero exit, no output, no temporary file
"$wanc" generate --model-dir "$tmp/m" --height 256 --width 256 --num-frames 33 \
    --num-inference-steps 500 --quiet --out "$tmp/x.mp4" >/dev/null 2>"$log/int.txt" &
pid=$!
sleep 2
# a SIGINT that arrives before wanc installs its handler is ignored (a background job of a
# non-interactive shell starts with SIGINT ignored), so on a loaded machine repeat it until it exits
for i in 1 2 3 4 5 6 7 8 9 10; do kill -INT $pid 2>/dev/null || break; sleep 1; done
if wait $pid; then bad "Ctrl-C (exit status 0)"
elif ! only_models "$tmp"; then bad "Ctrl-C left files: $(ls -A "$tmp" | tr '\n' ' ')"
else ok "Ctrl-C leaves no partial file"; fi
rm -f "$log/int.txt"

# 7. the e2e fixture's files and parameters through the CLI
e2e=$(grep -l '"case": "e2e_t2v_tiny"' "$fixtures"/*/case.json tests/data/fixtures/*/case.json 2>/dev/null | head -n 1)
if [ -n "$e2e" ]; then
    d=$(dirname "$e2e")
    word() { sed -n "s/.*\"$1\": \"\([^ \"]*\).*/\1/p" "$e2e" | head -n 1; }
    dit=$(sed -n 's/.*"dit": "\([^ "]*\) for the fp32 run.*/\1/p' "$e2e")
    heads=$(sed -n 's/.*"num_heads": \([0-9]*\).*/\1/p' "$(dirname "$d/$dit")/case.json" | head -n 1)
    if "$wanc" generate --dit "$d/$dit" --t5 "$d/$(word text_encoder)" --vae "$d/$(word vae)" \
         --tokenizer "$d/$(word tokenizer)" --dit-heads "$heads" --dtype f32 \
         --prompt "$(sed -n 's/.*"prompt": "\(.*\)",$/\1/p' "$e2e" | head -n 1)" \
         --seed 42 --height 32 --width 48 --num-frames 9 --num-inference-steps 4 --cfg-scale 5 \
         --quiet --out "$tmp/e2e.mp4" >"$log/log" 2>&1 && probe "$tmp/e2e.mp4" 9 48 32
    then ok "generate with the e2e fixture's files writes a 9-frame 48x32 15 fps mp4"
    else bad "generate with the e2e fixture's files"; cat "$log/log"; fi
    # a DiT that states no heads and is narrower than the releases' head (the fixtures' are):
    # generate names it, with the way out, and writes nothing
    rm -f "$tmp/e2e.mp4"
    if "$wanc" info "$d/$dit" | grep -q "^DiT: .*, heads not stated (dim < 128: give them, e.g. --dit-heads)$"; then
        if ! "$wanc" generate --dit "$d/$dit" --t5 "$d/$(word text_encoder)" --vae "$d/$(word vae)" \
             --tokenizer "$d/$(word tokenizer)" --num-inference-steps 1 --out "$tmp/e2e.mp4" >"$log/log" 2>&1 &&
           grep -q "head count is not stated .* give the head count (--dit-heads)" "$log/log" && [ ! -e "$tmp/e2e.mp4" ]
        then ok "a DiT that states no heads and has dim < 128: info says so, generate names it"
        else bad "DiT without heads"; cat "$log/log"; fi
    fi
else
    echo "note: no e2e_t2v_tiny case under $fixtures or tests/data/fixtures; the fixture-file CLI run is not made"
fi

# 8. --model-dir on the other layouts: a diffusers folder (heads from transformer/config.json), and a
#    ComfyUI-style folder (GGUF DiT, scaled-fp8 HF-named UMT5, ComfyUI VAE) with --tokenizer
dl=$(grep -l '"case": "diffusers_layout"' "$fixtures"/*/case.json tests/data/fixtures/*/case.json 2>/dev/null | head -n 1)
gg=$(grep -l '"case": "gguf_dit"' "$fixtures"/*/case.json tests/data/fixtures/*/case.json 2>/dev/null | head -n 1)
f8=$(grep -l '"case": "fp8_scaled"' "$fixtures"/*/case.json tests/data/fixtures/*/case.json 2>/dev/null | head -n 1)
if [ -n "$dl" ] && [ -n "$gg" ] && [ -n "$f8" ]; then
    d=$(dirname "$dl")
    if "$wanc" generate --model-dir "$d" --prompt "a test" --height 32 --width 48 --num-frames 5 \
         --num-inference-steps 2 --quiet --out "$tmp/dl.mp4" >"$log/log" 2>&1 && probe "$tmp/dl.mp4" 5 48 32
    then ok "generate --model-dir on a diffusers folder"; else bad "generate --model-dir diffusers"; cat "$log/log"; fi
    # every stage releases its weights, limit or not; a tiny limit also streams the DiT; the same video
    if "$wanc" generate --model-dir "$d" --prompt "a test" --height 32 --width 48 --num-frames 5 --seed 3 \
         --num-inference-steps 2 --quiet --verbose --out "$tmp/m0.safetensors" >/dev/null 2>"$log/log0" &&
       grep -q "memory: text released" "$log/log0" && grep -q "memory: denoise released" "$log/log0" &&
       "$wanc" generate --model-dir "$d" --prompt "a test" --height 32 --width 48 --num-frames 5 --seed 3 \
         --num-inference-steps 2 --quiet --max-memory 0.001 --verbose --out "$tmp/m1.safetensors" >/dev/null 2>"$log/log" &&
       grep -q "memory: text released" "$log/log" && grep -q "memory: denoise released" "$log/log" &&
       cmp -s "$tmp/m0.safetensors" "$tmp/m1.safetensors"
    then ok "generate --verbose releases each stage, and with --max-memory (streamed) gives the same frames"
    else bad "generate --max-memory"; cat "$log/log0" "$log/log"; fi
    rm -f "$tmp/m0.safetensors" "$tmp/m1.safetensors"
    mkdir -p "$tmp/comfy/diffusion_models" "$tmp/comfy/text_encoders" "$tmp/comfy/vae"
    ln -s "$(cd "$(dirname "$gg")" && pwd)/$(ls "$(dirname "$gg")" | grep 'Q4_K_S\.gguf$' | head -n 1)" "$tmp/comfy/diffusion_models/"
    ln -s "$(cd "$(dirname "$f8")" && pwd)/$(ls "$(dirname "$f8")" | grep '^umt5.*scaled\.safetensors$' | head -n 1)" "$tmp/comfy/text_encoders/"
    cp "$d/vae/diffusion_pytorch_model.safetensors" "$tmp/comfy/vae/wan_2.1_vae_test.safetensors"
    if "$wanc" generate --model-dir "$tmp/comfy" --tokenizer "$d/tokenizer" --dit-heads 2 --prompt "a test" \
         --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --quiet --out "$tmp/c.mp4" >"$log/log" 2>&1 &&
       probe "$tmp/c.mp4" 5 48 32
    then ok "generate --model-dir on a ComfyUI-style folder (GGUF DiT, scaled-fp8 UMT5)"
    else bad "generate --model-dir ComfyUI"; cat "$log/log"; fi
    # wanc quantize: the diffusers DiT (F32) to a Q8_0 GGUF that generate reads back
    if "$wanc" quantize --quiet --type Q8_0 "$d/transformer/diffusion_pytorch_model.safetensors" "$tmp/q.gguf" \
         >"$log/log" 2>&1 && "$wanc" info "$tmp/q.gguf" | grep -q "file type Q8_0" &&
       "$wanc" info "$tmp/q.gguf" | grep -q "^blocks.0.self_attn.q.weight	Q8_0	64x64$" &&
       "$wanc" generate --dit "$tmp/q.gguf" --t5 "$d/text_encoder/model.safetensors" \
         --vae "$d/vae/diffusion_pytorch_model.safetensors" --tokenizer "$d/tokenizer" --dit-heads 2 --prompt "a test" \
         --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --quiet --out "$tmp/q.mp4" >>"$log/log" 2>&1 &&
       probe "$tmp/q.mp4" 5 48 32 && ! "$wanc" quantize --type Q3_K_X "$tmp/q.gguf" "$tmp/r.gguf" 2>/dev/null &&
       [ ! -e "$tmp/r.gguf" ]
    then ok "quantize --type Q8_0 writes a GGUF that info and generate read"; else bad "quantize"; cat "$log/log"; fi
    # its Q8_0 weights on the int8 kernels (the default) at 1 and 2 threads: the same frames; --q8-matmul fp runs
    set -- --dit "$tmp/q.gguf" --t5 "$d/text_encoder/model.safetensors" --vae "$d/vae/diffusion_pytorch_model.safetensors" \
        --tokenizer "$d/tokenizer" --dit-heads 2 --prompt "a test" --height 32 --width 48 --num-frames 5 \
        --num-inference-steps 2 --seed 5 --quiet
    if "$wanc" generate "$@" --threads 1 --out "$tmp/q1.safetensors" >"$log/log" 2>&1 &&
       "$wanc" generate "$@" --threads 2 --q8-matmul int8 --out "$tmp/q2.safetensors" >>"$log/log" 2>&1 &&
       cmp -s "$tmp/q1.safetensors" "$tmp/q2.safetensors" &&
       "$wanc" generate "$@" --q8-matmul fp --out "$tmp/qf.safetensors" >>"$log/log" 2>&1 &&
       ! "$wanc" generate "$@" --q8-matmul int4 --out "$tmp/qx.safetensors" >/dev/null 2>&1 && [ ! -e "$tmp/qx.safetensors" ]
    then ok "generate --q8-matmul int8 (default, same frames at 1 and 2 threads) and fp on a Q8_0 GGUF"
    else bad "generate --q8-matmul"; cat "$log/log"; fi
    rm -f "$tmp/q1.safetensors" "$tmp/q2.safetensors" "$tmp/qf.safetensors"
    rm -rf "$tmp/comfy" "$tmp/dl.mp4" "$tmp/c.mp4" "$tmp/q.gguf" "$tmp/q.mp4"
else
    echo "note: no diffusers_layout/gguf_dit/fp8_scaled cases; the layout CLI runs are not made"
fi

# 9. wanc train (tests/cli_train.sh)
. "$(dirname "$0")/cli_train.sh"

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
