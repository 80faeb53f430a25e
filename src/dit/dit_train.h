/* The Wan DiT for training: a forward that keeps what the backward needs and
 * the backward of every layer, with DiffSynth's per-block gradient
 * checkpointing (each block's input is kept; in backward the block's forward
 * runs again with its activations on a tape, then its backward).
 *
 * Float32 compute (the weights read as stored). The models: T2V (one
 * timestep), TI2V-5B's per-token timestep (latent frame 0 at t = 0), and
 * Wan2.1 I2V / FLF2V (y channel-concatenated to the latents; the CLIP tokens
 * through img_emb, their own keys/values k_img / v_img / norm_k_img, the
 * image attention added to the text attention; FLF2V's img_emb.emb_pos).
 * No VACE, reference tokens or camera adapter here.
 *
 *   wanc_dit_trainer *tr;
 *   TRY(wanc_dit_trainer_new(&tr, dit, true));          // true: dW for every parameter
 *   TRY(wanc_dit_trainer_add_lora(tr, "blocks.0.self_attn.q", &lora));  // optional, any number
 *   TRY(wanc_dit_trainer_forward(tr, &in, pred));       // pred [out_dim, F, H, W]
 *   TRY(wanc_dit_trainer_backward(tr, dpred, dx, dctx)); // adds into the parameter gradients
 *   float *g = wanc_dit_trainer_grad(tr, "blocks.0.ffn.0.weight", &n);
 *   wanc_dit_trainer_free(tr);
 */
#ifndef WANC_DIT_DIT_TRAIN_H
#define WANC_DIT_DIT_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "dit/wan_dit.h"
#include "nn/nn.h"

/* A LoRA on one Linear: y = W x + b + scale · B (A x). A [rank, in], B
 * [out, rank] float32, owned by the caller (the optimizer updates them in
 * place); dA, dB the same shapes, gradients added by backward. (nn_lora) */
typedef nn_lora wanc_dit_lora;

typedef struct wanc_dit_train_inputs {
    const float *latents; /* x_t [in_dim - y_c, F, H, W] */
    int64_t F, H, W;
    const float *y;       /* I2V / FLF2V conditioning [y_c, F, H, W] after the latents' channels, or NULL */
    int64_t y_c;
    const float *clip;    /* CLIP tokens [clip_len, clip_dim] (required by an image-input DiT), or NULL */
    int64_t clip_len;
    float timestep;
    bool zero_first_frame; /* TI2V: latent frame 0's tokens get timestep 0 */
    const float *context;  /* [ctx_len, text_dim] */
    int64_t ctx_len;
    wanc_dit_observe_fn observe; /* optional: "patch_embedding", "text_embedding", "time_embedding",
                                    "time_projection", "block_out.<i>", "head", "clip_emb" and, in backward,
                                    "grad:<same name>" (layouts as DiffSynth's modules give them) */
    void *observe_user;
} wanc_dit_train_inputs;

typedef struct wanc_dit_trainer wanc_dit_trainer;

/* full_grads: keep a float32 gradient for every DiT parameter (full
 * fine-tuning); false: only LoRA gradients. Errors for model parts this
 * trainer does not cover (VACE, reference tokens, camera). */
wanc_err wanc_dit_trainer_new(wanc_dit_trainer **out, wanc_dit *dit, bool full_grads);
void wanc_dit_trainer_free(wanc_dit_trainer *t);
/* Attach a LoRA to the Linear `module` ("blocks.3.cross_attn.k", "blocks.0.ffn.2"). */
wanc_err wanc_dit_trainer_add_lora(wanc_dit_trainer *t, const char *module, const wanc_dit_lora *lora);
/* pred[out_dim, F, H, W]; keeps each block's input for the backward. */
wanc_err wanc_dit_trainer_forward(wanc_dit_trainer *t, const wanc_dit_train_inputs *in, float *pred);
/* Given d loss / d pred [out_dim, F, H, W] (of the last forward): adds the
 * parameter (and LoRA) gradients, writes d loss / d x_t into dx [in_dim - y_c,
 * F, H, W] and d loss / d context into dctx [ctx_len, text_dim] (either may be NULL). */
wanc_err wanc_dit_trainer_backward(wanc_dit_trainer *t, const float *dpred, float *dx, float *dctx);
/* The same, and d loss / d clip [clip_len, clip_dim] into dclip (NULL: not computed). */
wanc_err wanc_dit_trainer_backward_clip(wanc_dit_trainer *t, const float *dpred, float *dx, float *dctx, float *dclip);
/* Per-block gradient checkpointing (on by default, as DiffSynth trains):
 * off keeps every block's activations from the forward instead of re-running
 * the blocks in backward (more memory, same gradients bit for bit). */
void wanc_dit_trainer_set_checkpointing(wanc_dit_trainer *t, bool on);
/* The gradient of parameter `name` (its checkpoint name), NULL when not kept. */
float *wanc_dit_trainer_grad(const wanc_dit_trainer *t, const char *name, int64_t *numel);
/* The kept parameter gradients (full grads): how many, and the name of the
 * i-th (a checkpoint name, in the order the trainer made them). */
int wanc_dit_trainer_param_count(const wanc_dit_trainer *t);
const char *wanc_dit_trainer_param_name(const wanc_dit_trainer *t, int i);
/* Every kept parameter gradient to zero (LoRA gradients are the caller's). */
void wanc_dit_trainer_zero_grad(wanc_dit_trainer *t);

#endif
