/* Internals of the Wan DiT shared by wan_dit.c and the files of its
 * optional modules (vace.c, camera_adapter.c). Not a public interface. */
#ifndef WANC_DIT_DIT_INTERNAL_H
#define WANC_DIT_DIT_INTERNAL_H

#include "core/arena.h"
#include "dit/wan_dit.h"
#include "lora/lora.h"

typedef struct {
    const wanc_tensor *w, *b; /* w [N, K] (or a conv weight [N, ...]), b [N] or NULL */
    const wanc_lora_delta *lora; /* run-time LoRA terms (wanc_dit_set_lora), or NULL */
} dit_linear;

/* A linear by its weight's name, for attaching run-time LoRAs. */
typedef struct {
    char *name; /* "blocks.0.self_attn.q.weight" */
    dit_linear *l;
} dit_named_linear;

typedef struct {
    dit_linear q, k, v, o;               /* self-attention */
    dit_linear cq, ck, cv, co;           /* cross-attention */
    dit_linear ck_img, cv_img;           /* I2V image keys/values */
    dit_linear ffn0, ffn2;
    float *norm_q, *norm_k;              /* [dim] self-attn RMSNorm weights */
    float *cnorm_q, *cnorm_k, *cnorm_k_img;
    float *norm3_w, *norm3_b;            /* [dim] affine LayerNorm before cross-attn */
    float *modulation;                   /* [6, dim] */
} dit_block;

struct wanc_dit {
    wanc_dit_config cfg;
    const wanc_backend *be;
    wanc_weights *store;
    bool owns_store, bf16, bf16_weights; /* bf16_weights: f32 weights rounded at load */
    bool stream_blocks;                  /* wanc_dit_options.stream_blocks */
    struct dit_prefetch *prefetch;       /* its read-ahead thread (dit_stream.c), NULL until used */
    dit_linear patch, text0, text2, time0, time2, tproj, head, img1, img3;
    float *img_ln0_w, *img_ln0_b, *img_ln4_w, *img_ln4_b; /* [1280], [1280], [dim], [dim] */
    float *emb_pos;                                       /* [514, 1280] or NULL */
    float *head_mod;                                      /* [2, dim] */
    dit_block *blocks;
    /* VACE (cfg.vace_num_blocks > 0): its own patch embedding, DiT blocks,
     * before_proj on block 0 and after_proj on each */
    dit_linear vace_patch, vace_before;
    dit_block *vace_blocks;
    dit_linear *vace_after;
    dit_linear ref_conv; /* Fun control reference tokens (cfg.has_ref_conv) */
    /* Fun camera adapter (cfg.has_control_adapter): conv [dim, in·64, kh, kw],
     * one residual block of two 3x3 convs */
    dit_linear cam_conv, cam_res1, cam_res2;
    /* owned memory: small float32 parameters and bf16 copies of f32 weights */
    float **bufs;
    int nbufs, capbufs;
    wanc_tensor **conv; /* each one allocated: views point at them across reallocs */
    int nconv, capconv;
    dit_named_linear *linears; /* every dit_get_linear, for wanc_dit_set_lora */
    int nlinears, caplinears;
    wanc_arena arena;
    bool arena_primed;
    wanc_arena_mark arena_base;
};

typedef struct {
    const wanc_backend *be;
    bool bf16;
    float *zeros, *vtmp; /* [max(dim, 1280)]: zeros (modulate as a row-broadcast add), 1 + scale */
    const wanc_dit_inputs *in;
} fwd;

/* Activations of one forward. S counts every token the blocks see:
 * reference tokens (Fun control) first, then the video tokens. */
typedef struct {
    int64_t S, Lt, Li, L, D, H, hd;
    float *x, *h, *q, *k, *v, *a, *a2, *big, *kc, *vc, *ctx;
    float *t_mod, *mod; /* [nseg, 6, dim] */
    double *rope;
    /* Token ranges sharing one timestep: one range normally; TI2V image-to-video
     * gives latent frame 0 timestep 0, so [0, h·w) and [h·w, S). */
    int nseg;
    int64_t seg_begin[2], seg_end[2];
    float seg_t[2];
} fwd_bufs;

/* ---- loading (wan_dit.c) ---- */
/* A small parameter as float32 (bf16 mode: rounded, as the load-time cast). */
wanc_err dit_get_vec(wanc_dit *d, float **out, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A weight as stored; bf16 mode turns an f32 one into an owned bf16 copy. */
wanc_err dit_view_weight(wanc_dit *d, const wanc_tensor **out, int ndim, const int64_t *shape, const char *name);
/* `<prefix>.weight` [n, k] and `<prefix>.bias` [n]. */
wanc_err dit_get_linear(wanc_dit *d, dit_linear *l, int64_t n, int64_t k, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The tensors of one DiT block named `<prefix>.<i>.*` ("blocks", "vace_blocks"). */
wanc_err dit_load_block(wanc_dit *d, dit_block *b, const char *prefix, int i);

/* ---- forward helpers (wan_dit.c) ---- */
wanc_err dit_rnd(const fwd *f, float *x, int64_t n);
/* out[M, N] = x[M, K] · Wᵀ + b, one rounding. */
wanc_err dit_lin(const fwd *f, float *out, const float *x, const dit_linear *l, int64_t M);
/* One DiT block on B->x [S, dim] in place (context, t_mod, RoPE from B). */
wanc_err dit_run_block(const fwd *f, const wanc_dit *d, const dit_block *b, fwd_bufs *B);
void dit_observe(const fwd *f, const char *name, const float *data, int ndim, const int64_t *shape);
wanc_err dit_alloc_f(wanc_arena *a, float **p, int64_t n);
/* rows[(f, h, w), (c, kt, kh, kw)] = patches of the channels of a[ca, F, H, W]
 * followed by those of b[C - ca, F, H, W] (b may be NULL when ca == C). */
void dit_patchify(float *rows, const float *a, int64_t ca, const float *b, int64_t C, int64_t F, int64_t H,
                  int64_t W, const int patch[3]);
/* dst[c, tok] = src[tok, c] for observers wanting a conv's [C, ...] layout. */
void dit_tokens_to_channels(float *dst, const float *src, int64_t tokens, int64_t C);

/* ---- stated configs (dit_config.c) ---- */
/* What a stated config (wanc_dit_options.config_json) sets that the tensors cannot carry. */
typedef struct {
    int num_heads;     /* 0: not stated */
    int n_vace_layers; /* 0: not stated */
    int vace_layers[WANC_DIT_MAX_VACE];
} dit_stated;
wanc_err dit_config_parse(dit_stated *s, const char *json);
/* Every stated field the tensors determine must agree with cfg. */
wanc_err dit_config_check(const wanc_dit_config *cfg, const char *json);

/* ---- VACE (vace.c) ---- */
/* Config from the vace_* tensors (none: vace_num_blocks = 0); the block →
 * layer mapping from `stated` when it has one, else the released pattern. */
wanc_err dit_vace_infer_config(wanc_dit_config *cfg, const wanc_weights *w, const dit_stated *stated);
wanc_err dit_vace_load(wanc_dit *d);
/* hints[n, S, dim] from in->vace_context and x[S, dim] (tokens after the
 * patch embedding); uses B's scratch and its context/t_mod/RoPE. */
wanc_err dit_vace_hints(const fwd *f, const wanc_dit *d, fwd_bufs *B, wanc_arena *A, const float *x, float *hints);

/* ---- Fun camera adapter (camera_adapter.c) ---- */
wanc_err dit_camera_infer_config(wanc_dit_config *cfg, const wanc_weights *w);
wanc_err dit_camera_load(wanc_dit *d);
/* out[dim, F, H/ph, W/pw] = SimpleAdapter(camera[cam_c, F, 8H, 8W]). */
wanc_err dit_camera_forward(const fwd *f, const wanc_dit *d, wanc_arena *A, const float *camera, int64_t F,
                            int64_t H, int64_t W, float *out);

/* Streaming read-ahead (dit_stream.c): a helper thread reads block b's
 * weight pages while the caller computes; wait: until it is idle (before
 * the forward returns); stop: join it (before the weights go). */
void dit_prefetch_block(wanc_dit *d, const dit_block *b);
void dit_prefetch_wait(wanc_dit *d);
void dit_prefetch_stop(wanc_dit *d);

#endif
