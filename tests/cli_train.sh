# `wanc train`, sourced by tests/cli.sh (uses its $wanc, $tmp, $log, ok, bad
# and the demo models in $tmp/m): a tiny dataset made here (an mp4 and a PNG,
# a metadata.csv), data processing into the cache, the named errors for bad
# data with nothing written, and the honest refusal to train without a step.
ds="$tmp/ds"
mkdir -p "$ds"
"$wanc" generate --model-dir "$tmp/m" --dit-heads 2 --prompt "clip" --height 48 --width 64 --num-frames 13 \
    --num-inference-steps 1 --seed 11 --quiet --out "$ds/clip.mp4" >/dev/null 2>&1
"$wanc" generate --model-dir "$tmp/m" --dit-heads 2 --prompt "still" --height 32 --width 48 --num-frames 1 \
    --num-inference-steps 1 --seed 12 --quiet --frames "$ds/still/" >/dev/null 2>&1
cp "$ds/still/frame_00000.png" "$ds/still.png" 2>/dev/null
printf 'video,prompt\nclip.mp4,"a ball, rolling"\nstill.png,a still picture\n' >"$ds/metadata.csv"

# 8a. --help lists every train.py option with its default
if "$wanc" train --help >"$log/help" 2>&1 &&
   for o in dataset_base_path dataset_metadata_path dataset_repeat data_file_keys height width max_pixels \
            num_frames model_paths tokenizer_path learning_rate weight_decay num_epochs trainable_models \
            lora_base_model lora_target_modules lora_rank lora_checkpoint preset_lora_path output_path save_steps \
            remove_prefix_in_ckpt gradient_accumulation_steps extra_inputs max_timestep_boundary \
            min_timestep_boundary task resume_from_checkpoint seed threads; do
       grep -q -- "--$o " "$log/help" || grep -q -- "--$o\$" "$log/help" || { echo "missing --$o"; exit 1; }
   done && grep -q "q,k,v,o,ffn.0,ffn.2)" "$log/help" && grep -q "(default 0.0001)" "$log/help"
then ok "train --help lists DiffSynth's options and defaults"; else bad "train --help"; cat "$log/help"; fi

# 8b. sft:data_process (dashed spellings, --name=value): one cache file per item, repeats included
if "$wanc" train --dataset-base-path "$ds" --dataset_metadata_path="$ds/metadata.csv" --model_dir "$tmp/m" \
     --task sft:data_process --num_frames 9 --dataset_repeat 2 --output_path "$tmp/cache" --quiet >"$log/log" 2>&1 &&
   [ "$(ls "$tmp/cache/0" | tr '\n' ' ')" = "0.safetensors 1.safetensors 2.safetensors 3.safetensors " ] &&
   "$wanc" info "$tmp/cache/0/0.safetensors" | grep -q "input_latents	BF16	16x3x6x8" &&
   "$wanc" info "$tmp/cache/0/1.safetensors" | grep -q "context	BF16	512x32" &&
   cmp -s "$tmp/cache/0/0.safetensors" "$tmp/cache/0/2.safetensors"
then ok "train --task sft:data_process writes the latents and prompt embeddings"
else bad "train --task sft:data_process"; cat "$log/log"; ls -R "$tmp/cache"; fi

# 8c. bad data: a named error (metadata file, row, data file), nothing written
printf 'video,prompt\nclip.mp4,a\nmissing.mp4,b\n' >"$ds/bad1.csv"
printf 'video,prompt\nclip.mp4,\n' >"$ds/bad2.csv"
printf 'clip,text\nclip.mp4,a\n' >"$ds/bad3.csv"
printf 'not a video' >"$ds/junk.mp4"
printf 'video,prompt\nclip.mp4,a\njunk.mp4,b\n' >"$ds/bad4.csv"
for c in "bad1.csv row 2: $ds/missing.mp4" "bad2.csv row 1: empty prompt" "bad3.csv: needs the columns" \
         "bad4.csv row 2"; do
    f=${c%%[ :]*}
    if "$wanc" train --dataset_base_path "$ds" --dataset_metadata_path "$ds/$f" --model_dir "$tmp/m" \
         --task sft:data_process --num_frames 9 --output_path "$tmp/badout" --quiet >"$log/log" 2>&1
    then bad "train with $f succeeded"
    elif ! grep -q "wanc train: .*$c" "$log/log"; then bad "train with $f: error not named"; cat "$log/log"
    elif [ -n "$(ls -A "$tmp/badout" 2>/dev/null)" ]; then bad "train with $f left $(ls -A "$tmp/badout")"
    else ok "train with $f: named error, nothing written"; fi
    rm -rf "$tmp/badout"
done

# 8d. no training step in this build: sft and sft:train say so and write nothing
if "$wanc" train --dataset_base_path "$ds" --dataset_metadata_path "$ds/metadata.csv" --model_dir "$tmp/m" \
     --lora_base_model dit --num_frames 9 --output_path "$tmp/lora" --quiet >"$log/log" 2>&1 ||
   ! grep -q "no DiT training step" "$log/log" || [ -e "$tmp/lora" ] ||
   "$wanc" train --dataset_base_path "$tmp/cache" --model_dir "$tmp/m" --task sft:train \
     --lora_base_model dit --output_path "$tmp/lora" --quiet >"$log/log" 2>&1 ||
   ! grep -q "no DiT training step" "$log/log" || [ -e "$tmp/lora" ]
then bad "train refuses honestly without a training step"; cat "$log/log"
else ok "train (sft, sft:train) refuses honestly: no training step in this build"; fi
if "$wanc" train --dataset_base_path "$ds" --dataset_metadata_path "$ds/metadata.csv" --model_dir "$tmp/m" \
     --num_frames 9 --quiet >"$log/log" 2>&1 || ! grep -q "say what to train" "$log/log" ||
   "$wanc" train --bogus 1 >"$log/log" 2>&1 || ! grep -q "unknown option --bogus" "$log/log"
then bad "train option errors"; cat "$log/log"
else ok "train: what to train is required; unknown options are named"; fi
rm -rf "$ds" "$tmp/cache" "$tmp/lora"
