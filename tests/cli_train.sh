# `wanc train`, sourced by tests/cli.sh (uses its $wanc, $tmp, $log, ok, bad
# and the demo models in $tmp/m): a tiny dataset made here (an mp4 and a PNG,
# a metadata.csv), data processing into the cache, the named errors for bad
# data with nothing written, LoRA training (the loss, the file, split == sft, SIGKILL and Ctrl-C resume),
# full fine-tuning (the loss, the DiT file through generate --dit, SIGKILL resume), image-conditioned
# training (--extra_inputs: I2V, FLF2V, TI2V-5B).
ds="$tmp/ds"
mkdir -p "$ds"
"$wanc" generate --model-dir "$tmp/m" --prompt "clip" --height 48 --width 64 --num-frames 13 \
    --num-inference-steps 1 --seed 11 --quiet --out "$ds/clip.mp4" >/dev/null 2>&1
"$wanc" generate --model-dir "$tmp/m" --prompt "still" --height 32 --width 48 --num-frames 1 \
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

# 8d. LoRA training: the loss falls; the file is DiffSynth's (keys, BF16, {"format": "pt"})
tr="--dataset_base_path $ds --dataset_metadata_path $ds/metadata.csv --model_dir $tmp/m --num_frames 9"
if "$wanc" train $tr --lora_base_model dit --lora_rank 8 --dataset_repeat 30 --learning_rate 1e-2 \
     --min_timestep_boundary 0.5 --max_timestep_boundary 0.55 --seed 3 --output_path "$tmp/lora" --quiet \
     >"$log/log" 2>&1 &&
   awk -F, 'NR > 1 && NR <= 11 { a += $3 } NR > 51 { b += $3; n++ } END { exit !(n == 10 && b < 0.85 * a) }' \
     "$tmp/lora/loss.csv"
then ok "train LoRA: the loss falls over 60 steps ($(awk -F, 'NR>1&&NR<=11{a+=$3}NR>51{b+=$3}END{printf "%.3f -> %.3f", a/10, b/10}' "$tmp/lora/loss.csv"))"
else bad "train LoRA: the loss falls"; cat "$log/log"; cat "$tmp/lora/loss.csv" 2>/dev/null | head; fi
"$wanc" info "$tmp/lora/epoch-0.safetensors" >"$log/info" 2>&1
if [ "$(grep -c '	BF16	' "$log/info")" = 80 ] && grep -q "tensors: 80" "$log/info" &&
   [ "$(grep -Ec '^blocks\.[0-3]\.((self|cross)_attn\.[qkvo]|ffn\.[02])\.lora_[AB]\.default\.weight	BF16	(8x192|192x8|8x512|512x8)$' "$log/info")" = 80 ] &&
   head -c 64 "$tmp/lora/epoch-0.safetensors" | grep -aq '{"__metadata__":{"format":"pt"}'
then ok "train LoRA file: DiffSynth's keys, BF16, format pt"; else bad "train LoRA file"; cat "$log/info"; fi

# 8e. sft:data_process then sft:train gives the same files as sft, same seed
lo="--model_dir $tmp/m --lora_base_model dit --lora_rank 4 --seed 9 --save_steps 5 --quiet"
"$wanc" train $tr --dataset_repeat 3 $lo --output_path "$tmp/s1" >"$log/log" 2>&1
"$wanc" train --dataset_base_path "$tmp/cache" --task sft:train --dataset_repeat 1 $lo --output_path "$tmp/s2" \
    >>"$log/log" 2>&1
# the cache of 8b holds 2 rows x 2 repeats: sft with repeat 2 is its twin
"$wanc" train $tr --dataset_repeat 2 $lo --output_path "$tmp/s3" >>"$log/log" 2>&1
if [ -s "$tmp/s2/step-4.safetensors" ] && cmp -s "$tmp/s2/step-4.safetensors" "$tmp/s3/step-4.safetensors" &&
   cmp -s "$tmp/s2/loss.csv" "$tmp/s3/loss.csv" && [ -s "$tmp/s1/step-6.safetensors" ]
then ok "train: sft:data_process + sft:train == sft (same bits)"; else bad "train split == sft"; cat "$log/log"; fi

# 8f. SIGKILL at a random step, resume: bit-identical files; Ctrl-C saves; a foreign checkpoint is named
rs="$tr --dataset_repeat 15 --num_epochs 2 --lora_base_model dit --lora_rank 4 --seed 4 --save_steps 7 \
    --gradient_accumulation_steps 3 --threads 1 --quiet"
"$wanc" train $rs --output_path "$tmp/r0" >"$log/log" 2>&1
"$wanc" train $rs --output_path "$tmp/r1" >>"$log/log" 2>&1 &
pid=$!
# the checkpoint follows the step file: wait for it, or a slow (ASan) run is killed between the two
i=0; while [ ! -e "$tmp/r1/checkpoint.safetensors" ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 8 ))
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
at=$(($(wc -l <"$tmp/r1/loss.csv") - 1))
"$wanc" train $rs --output_path "$tmp/r1" --resume_from_checkpoint "$tmp/r1" >>"$log/log" 2>&1
same=1
for f in $(ls "$tmp/r0"); do cmp -s "$tmp/r0/$f" "$tmp/r1/$f" || same=0; done
if [ $same = 1 ] && [ "$(ls "$tmp/r0" | wc -l)" -gt 10 ]
then ok "train: SIGKILL after step $at of 60, resumed: every file bit-identical"
else bad "train: SIGKILL + resume"; cat "$log/log"; ls "$tmp/r0" "$tmp/r1"; fi
"$wanc" train $rs --output_path "$tmp/r2" >"$log/log" 2>&1 &
pid=$!
i=0; while [ ! -e "$tmp/r2/step-7.safetensors" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
kill -INT $pid; wait $pid; rc=$?
if [ $rc != 0 ] && grep -q "stopped at step .*--resume_from_checkpoint" "$log/log" &&
   "$wanc" train $rs --output_path "$tmp/r2" --resume_from_checkpoint "$tmp/r2" >"$log/log" 2>&1 &&
   cmp -s "$tmp/r0/step-60.safetensors" "$tmp/r2/step-60.safetensors"
then ok "train: Ctrl-C saves a checkpoint; resumed, the same final LoRA"; else bad "train: Ctrl-C"; cat "$log/log"; fi
if ! "$wanc" train $rs --lora_rank 8 --output_path "$tmp/r2" --resume_from_checkpoint "$tmp/r2" >"$log/log" 2>&1 &&
   grep -q "belongs to another run.*lora rank 4.*lora rank 8" "$log/log" &&
   head -c 2000 "$tmp/r2/checkpoint.safetensors" >"$tmp/cut.safetensors" &&
   ! "$wanc" train $rs --output_path "$tmp/r3" --resume_from_checkpoint "$tmp/cut.safetensors" >"$log/log" 2>&1 &&
   grep -q "resume_from_checkpoint: .*cut.safetensors: header length" "$log/log"
then ok "train: a checkpoint of another run or a cut one is a named error"
else bad "train: bad checkpoints"; cat "$log/log"; fi
# 8f'. full fine-tuning: the loss falls; the file is the DiT (the release's keys, BF16) and generate
# --dit loads it and its frames change; SIGKILL + resume gives bit-identical files
if "$wanc" train $tr --trainable_models dit --dataset_repeat 40 --learning_rate 1e-3 --min_timestep_boundary 0.5 \
     --max_timestep_boundary 0.55 --seed 3 --output_path "$tmp/full" --quiet >"$log/log" 2>&1 &&
   awk -F, 'NR > 1 && NR <= 11 { a += $3 } NR > 71 { b += $3; n++ } END { exit !(n == 10 && b < 0.85 * a) }' \
     "$tmp/full/loss.csv"
then ok "train full: the loss falls over 80 steps ($(awk -F, 'NR>1&&NR<=11{a+=$3}NR>71{b+=$3}END{printf "%.3f -> %.3f", a/10, b/10}' "$tmp/full/loss.csv"))"
else bad "train full: the loss falls"; cat "$log/log"; head "$tmp/full/loss.csv" 2>/dev/null; fi
"$wanc" info "$tmp/m/diffusion_pytorch_model.safetensors" | grep "	" | cut -f1,3 >"$log/base_keys"
"$wanc" info "$tmp/full/epoch-0.safetensors" >"$log/info" 2>&1
gen="--model-dir $tmp/m --prompt x --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --seed 5 --quiet"
if grep "	" "$log/info" | cut -f1,3 | cmp -s - "$log/base_keys" && [ -s "$log/base_keys" ] &&
   [ "$(grep -c '	BF16	' "$log/info")" = "$(wc -l <"$log/base_keys")" ] &&
   "$wanc" generate $gen --out "$tmp/base.safetensors" >"$log/log" 2>&1 &&
   "$wanc" generate $gen --dit "$tmp/full/epoch-0.safetensors" --out "$tmp/tuned.safetensors" >>"$log/log" 2>&1 &&
   [ -s "$tmp/tuned.safetensors" ] && ! cmp -s "$tmp/base.safetensors" "$tmp/tuned.safetensors"
then ok "train full: the DiT file has the release's keys in BF16; generate --dit loads it and the frames change"
else bad "train full: the DiT file"; cat "$log/info" "$log/log"; fi
rm -f "$tmp/base.safetensors" "$tmp/tuned.safetensors"
fs="$tr --dataset_repeat 10 --num_epochs 2 --trainable_models dit --seed 6 --save_steps 6 \
    --gradient_accumulation_steps 4 --remove_prefix_in_ckpt pipe. --threads 1 --quiet"
"$wanc" train $fs --output_path "$tmp/f0" >"$log/log" 2>&1
"$wanc" train $fs --output_path "$tmp/f1" >>"$log/log" 2>&1 &
pid=$!
i=0; while [ ! -e "$tmp/f1/checkpoint.safetensors" ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 5 ))
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
at=$(($(wc -l <"$tmp/f1/loss.csv") - 1))
"$wanc" train $fs --output_path "$tmp/f1" --resume_from_checkpoint "$tmp/f1" >>"$log/log" 2>&1
same=1
for f in $(ls "$tmp/f0"); do cmp -s "$tmp/f0/$f" "$tmp/f1/$f" || same=0; done
if [ $same = 1 ] && [ "$(ls "$tmp/f0" | wc -l)" -gt 4 ] && [ -s "$tmp/f0/step-40.safetensors" ] &&
   "$wanc" info "$tmp/f0/step-40.safetensors" | grep -q "^dit.blocks.1.ffn.2.weight	BF16	192x512$"
then ok "train full: SIGKILL after step $at of 40, resumed: every file bit-identical (--remove_prefix_in_ckpt pipe.)"
else bad "train full: SIGKILL + resume"; cat "$log/log"; ls "$tmp/f0" "$tmp/f1"; fi
# 8f''. --preset_lora_path: the LoRA of 8d fused into the DiT first changes the losses; a missing one is named
pr="$tr --trainable_models dit --dataset_repeat 1 --seed 2 --quiet"
if "$wanc" train $pr --output_path "$tmp/p0" >"$log/log" 2>&1 &&
   "$wanc" train $pr --preset_lora_path "$tmp/lora/epoch-0.safetensors" --preset_lora_model dit \
     --output_path "$tmp/p1" >>"$log/log" 2>&1 &&
   [ -s "$tmp/p1/epoch-0.safetensors" ] && [ "$(sed -n 2p "$tmp/p0/loss.csv")" != "$(sed -n 2p "$tmp/p1/loss.csv")" ] &&
   ! "$wanc" train $pr --preset_lora_path "$tmp/nothere.safetensors" --output_path "$tmp/p2" >"$log/log" 2>&1 &&
   grep -q "preset_lora_path .*nothere.safetensors: cannot open" "$log/log"
then ok "train --preset_lora_path: the LoRA is fused into the DiT before training; a missing file is named"
else bad "train --preset_lora_path"; cat "$log/log"; fi
# 8g. validation: the trained LoRA loads through `wanc generate --lora` and changes the frames
if "$wanc" generate --help 2>&1 | grep -q -- "--lora FILE"; then
    gen="--model-dir $tmp/m --prompt x --height 32 --width 48 --num-frames 5 --num-inference-steps 2 --seed 5 --quiet"
    if "$wanc" generate $gen --out "$tmp/base.safetensors" >"$log/log" 2>&1 &&
       "$wanc" generate $gen --lora "$tmp/lora/epoch-0.safetensors" --out "$tmp/withlora.safetensors" >>"$log/log" 2>&1 &&
       [ -s "$tmp/withlora.safetensors" ] && ! cmp -s "$tmp/base.safetensors" "$tmp/withlora.safetensors"
    then ok "the trained LoRA loads through generate --lora and changes the frames"
    else bad "generate --lora with the trained LoRA"; cat "$log/log"; fi
    rm -f "$tmp/base.safetensors" "$tmp/withlora.safetensors"
else
    echo "note: this build's generate has no --lora: the trained LoRA's validation run is not made"
fi
# 8h. image-conditioned training (--extra_inputs) on the I2V / FLF2V demo models of section 5 ($img/mi,
# $img/mf) and a random TI2V-5B release: the loss falls, the output loads in generate with the images,
# sft:data_process stores the image units' outputs and sft:train from it == sft (same bits)
ii="--dataset_base_path $ds --dataset_metadata_path $ds/metadata.csv --num_frames 9"
if "$wanc" train $ii --model_dir "$img/mi" --extra_inputs input_image --lora_base_model dit --lora_rank 8 \
     --dataset_repeat 30 --learning_rate 1e-2 --min_timestep_boundary 0.5 --max_timestep_boundary 0.55 --seed 3 \
     --output_path "$tmp/li" --quiet >"$log/log" 2>&1 &&
   awk -F, 'NR > 1 && NR <= 11 { a += $3 } NR > 51 { b += $3; n++ } END { exit !(n == 10 && b < 0.85 * a) }' \
     "$tmp/li/loss.csv" &&
   "$wanc" generate --model-dir "$img/mi" $small --input-image "$picture" --quiet --out "$tmp/b.safetensors" \
     >>"$log/log" 2>&1 &&
   "$wanc" generate --model-dir "$img/mi" $small --input-image "$picture" --lora "$tmp/li/epoch-0.safetensors" \
     --quiet --out "$tmp/t.safetensors" >>"$log/log" 2>&1 && ! cmp -s "$tmp/b.safetensors" "$tmp/t.safetensors"
then ok "train I2V LoRA --extra_inputs input_image: the loss falls over 60 steps ($(awk -F, 'NR>1&&NR<=11{a+=$3}NR>51{b+=$3}END{printf "%.3f -> %.3f", a/10, b/10}' "$tmp/li/loss.csv")); generate --input-image --lora loads it"
else bad "train I2V LoRA --extra_inputs input_image"; cat "$log/log"; head "$tmp/li/loss.csv" 2>/dev/null; fi
printf 'video,prompt\nclip.mp4,"a ball, rolling"\n' >"$ds/clip.csv"
fi2="--dataset_base_path $ds --dataset_metadata_path $ds/clip.csv --model_dir $img/mf --num_frames 9"
fi2="$fi2 --extra_inputs input_image,end_image"
if "$wanc" train $fi2 --trainable_models dit --dataset_repeat 40 --learning_rate 1e-3 --min_timestep_boundary 0.5 \
     --max_timestep_boundary 0.55 --seed 3 --output_path "$tmp/lf" --quiet >"$log/log" 2>&1 &&
   awk -F, 'NR > 1 && NR <= 11 { a += $3 } NR > 31 { b += $3; n++ } END { exit !(n == 10 && b < 0.85 * a) }' \
     "$tmp/lf/loss.csv" &&
   "$wanc" info "$tmp/lf/epoch-0.safetensors" | grep -q "^img_emb.emb_pos	BF16	1x514x1280$" &&
   "$wanc" generate --model-dir "$img/mf" $small --input-image "$picture" --end-image "$picture" --quiet \
     --out "$tmp/b.safetensors" >>"$log/log" 2>&1 &&
   "$wanc" generate --model-dir "$img/mf" $small --input-image "$picture" --end-image "$picture" --quiet \
     --dit "$tmp/lf/epoch-0.safetensors" --out "$tmp/t.safetensors" >>"$log/log" 2>&1 &&
   ! cmp -s "$tmp/b.safetensors" "$tmp/t.safetensors"
then ok "train FLF2V full --extra_inputs input_image,end_image: the loss falls over 40 steps ($(awk -F, 'NR>1&&NR<=11{a+=$3}NR>31{b+=$3}END{printf "%.3f -> %.3f", a/10, b/10}' "$tmp/lf/loss.csv")); generate --dit loads it"
else bad "train FLF2V full --extra_inputs input_image,end_image"; cat "$log/log"; head "$tmp/lf/loss.csv" 2>/dev/null; fi
lo2="--lora_base_model dit --lora_rank 4 --seed 9 --save_steps 2 --dataset_repeat 3 --quiet"
if "$wanc" train $fi2 --task sft:data_process --output_path "$tmp/cf" --quiet >"$log/log" 2>&1 &&
   "$wanc" info "$tmp/cf/0/0.safetensors" >"$log/info" 2>&1 &&
   grep -q "^y	BF16	20x3x6x8$" "$log/info" && grep -q "^clip_feature	BF16	514x1280$" "$log/info" &&
   "$wanc" train $fi2 $lo2 --output_path "$tmp/k1" >>"$log/log" 2>&1 &&
   "$wanc" train --dataset_base_path "$tmp/cf" --task sft:train --model_dir "$img/mf" $lo2 --output_path "$tmp/k2" \
     >>"$log/log" 2>&1 &&
   [ -s "$tmp/k1/step-3.safetensors" ] && cmp -s "$tmp/k1/step-3.safetensors" "$tmp/k2/step-3.safetensors" &&
   cmp -s "$tmp/k1/loss.csv" "$tmp/k2/loss.csv"
then ok "train FLF2V: sft:data_process stores y and the CLIP tokens; sft:train from it == sft (same bits)"
else bad "train FLF2V split == sft"; cat "$log/log" "$log/info"; fi
ti="--dataset_base_path $ds --dataset_metadata_path $ds/clip.csv --model_dir $tmp/t5 --num_frames 9"
ti="$ti --height 64 --width 64 --extra_inputs input_image"
if "$wanc" random-model --arch wan2.2-ti2v-5b --out "$tmp/t5" --layers 2 --dim 64 --ffn 128 --heads 2 --width 8 \
     >"$log/log" 2>&1 &&
   "$wanc" train $ti --task sft:data_process --output_path "$tmp/ct" --quiet >>"$log/log" 2>&1 &&
   "$wanc" info "$tmp/ct/0/0.safetensors" | grep -q "^first_frame_latents	BF16	48x1x4x4$" &&
   "$wanc" train $ti $lo2 --output_path "$tmp/k3" >>"$log/log" 2>&1 &&
   "$wanc" train --dataset_base_path "$tmp/ct" --task sft:train --model_dir "$tmp/t5" $lo2 --output_path "$tmp/k4" \
     >>"$log/log" 2>&1 &&
   [ -s "$tmp/k3/step-3.safetensors" ] && cmp -s "$tmp/k3/step-3.safetensors" "$tmp/k4/step-3.safetensors" &&
   awk -F, 'NR > 1 && !($3 > 0 && $3 < 100) { exit 1 }' "$tmp/k3/loss.csv"
then ok "train TI2V-5B --extra_inputs input_image (Wan2.2 VAE): the cache has first_frame_latents; split == sft"
else bad "train TI2V-5B --extra_inputs input_image"; cat "$log/log"; fi
if ! "$wanc" train $tr --lora_base_model dit --extra_inputs input_image --output_path "$tmp/e1" >"$log/log" 2>&1 &&
   grep -q "takes no image conditioning" "$log/log" &&
   ! "$wanc" train $tr --lora_base_model dit --extra_inputs mask_video --output_path "$tmp/e1" >"$log/log" 2>&1 &&
   grep -q "'mask_video' is not one wanc trains with" "$log/log" &&
   ! "$wanc" train $ii --model_dir "$img/mi" --lora_base_model dit --output_path "$tmp/e1" >"$log/log" 2>&1 &&
   grep -q "train it with --extra_inputs input_image" "$log/log"
then ok "train: --extra_inputs for a T2V DiT, an unknown extra input and an I2V DiT without one are named errors"
else bad "train --extra_inputs errors"; cat "$log/log"; fi
rm -rf "$tmp/li" "$tmp/lf" "$tmp/cf" "$tmp/ct" "$tmp/t5" "$tmp/k1" "$tmp/k2" "$tmp/k3" "$tmp/k4" "$tmp/e1" \
    "$tmp/b.safetensors" "$tmp/t.safetensors" "$ds/clip.csv"
rm -rf "$tmp/s1" "$tmp/s2" "$tmp/s3" "$tmp/r0" "$tmp/r1" "$tmp/r2" "$tmp/r3" "$tmp/cut.safetensors" "$tmp/full" \
    "$tmp/f0" "$tmp/f1" "$tmp/p0" "$tmp/p1" "$tmp/p2"
if "$wanc" train --dataset_base_path "$ds" --dataset_metadata_path "$ds/metadata.csv" --model_dir "$tmp/m" \
     --num_frames 9 --quiet >"$log/log" 2>&1 || ! grep -q "say what to train" "$log/log" ||
   "$wanc" train --bogus 1 >"$log/log" 2>&1 || ! grep -q "unknown option --bogus" "$log/log"
then bad "train option errors"; cat "$log/log"
else ok "train: what to train is required; unknown options are named"; fi
rm -rf "$ds" "$tmp/cache" "$tmp/lora"
