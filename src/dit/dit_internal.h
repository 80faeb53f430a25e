/* Internals of the Wan DiT shared by its files: loading (dit_load.c),
 * embeddings (dit_embed.c), the block (dit_block.c), the head (dit_head.c),
 * the forward driver (dit_forward.c), training (dit_train.c) and the
 * optional modules (vace.c, camera_adapter.c). Not a public interface. */
#ifndef WANC_DIT_DIT_INTERNAL_H
#define WANC_DIT_DIT_INTERNAL_H

#include "core/arena.h"
#include "dit/wan_dit.h"
#include "lora/lora.h"
#include "nn/nn.h"

/* w [N, K] (or a conv weight [N, ...]), b [N] or NULL; lora: run-time LoRA
 * terms (wanc_dit_set_lora) or NULL */
typedef nn_linear dit_linear;

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
    wanc_arena arena; /* activations, in backend memory */
    bool arena_primed;
    wanc_arena_mark arena_base;
    double *stage; /* host staging for the float64 tables before upload */
    size_t stage_bytes;
};

typedef struct {
    nn_ctx nn;                   /* the layers' context: backend, bf16 rounding, modulation scratch */
    const wanc_backend *be;      /* = nn.be */
    bool bf16;                   /* = nn.bf16 */
    const wanc_dit_inputs *in;
} fwd;

/* ---- the block (dit_block.c) ---- */
/* The block's Linear layers, in this order (LoRA targets, gradients). */
enum { DIT_LQ, DIT_LK, DIT_LV, DIT_LO, DIT_LCQ, DIT_LCK, DIT_LCV, DIT_LCO, DIT_LF0, DIT_LF2, DIT_NLIN };
extern const char *const dit_block_linear_names[DIT_NLIN]; /* "self_attn.q", ... "ffn.2" */
const dit_linear *dit_block_linear(const dit_block *b, int i);

/* What a block reads besides its input. */
typedef struct {
    int64_t S, Lt, Li;   /* tokens; text and image context tokens */
    const float *ctx;    /* [Li + Lt, dim]: image tokens first */
    const float *t_mod;  /* [ranges, 6, dim] */
    const double *rope;  /* [S, hd/2, 2] */
    nn_ranges ranges;    /* token ranges sharing one timestep */
} dit_block_env;

/* A block's activations. Inference points several at one buffer (each
 * written after the last read of the one it replaces); training gives each
 * its own (the tape dit_block_backward reads). lse* and u[] NULL: not kept. */
typedef struct {
    float *mod;                                               /* [ranges, 6, dim] modulation + t_mod */
    float *n1, *h1, *qpre, *q, *kpre, *k, *v, *a, *o, *x1;    /* self-attention [S, dim] */
    float *n3, *cqpre, *cq, *ckpre, *ck, *cv, *ca, *co, *x2;  /* cross-attention (ck* and cv: [Lt, dim]) */
    float *cat;                                               /* the text attention [S, dim] (ca itself without image) */
    float *ckipre, *cki, *cvi, *cai;                          /* I2V image keys/values [Li, dim], attention [S, dim];
                                                                 ca = cat + cai */
    float *n2, *h2, *f1, *g, *f2;                             /* FFN (f1, g: [S, ffn_dim]) */
    float *lse1, *lse2, *lse3;                                /* [H, S] attention log-sum-exp */
    float *u[DIT_NLIN];                                       /* LoRA A·x [M, rank] */
} dit_block_acts;

/* Parameter gradients of one block (NULL: not kept). */
typedef struct {
    nn_linear_grad lin[DIT_NLIN];
    nn_linear_grad k_img, v_img; /* I2V image keys/values (not LoRA targets) */
    float *norm_q, *norm_k, *cnorm_q, *cnorm_k, *cnorm_k_img, *norm3_w, *norm3_b, *modulation;
} dit_block_grads;

/* Backward scratch: g1..g3 [S, dim], big/big2 [S, max(ffn_dim, dim)] (big2 also
 * >= Lt·dim), gctx/gctx2 [max(Lt, Li), dim], dmod [ranges, 6, dim], du [max(S, Lt), rank]. */
typedef struct {
    float *g1, *g2, *g3, *big, *big2, *gctx, *gctx2, *dmod, *du;
} dit_block_scratch;

/* x_out[S, dim] = block(x0[S, dim]); x_out may be x0. lora: [DIT_NLIN] (rank 0: none) or NULL. */
wanc_err dit_block_forward(const nn_ctx *c, const wanc_dit_config *cfg, const dit_block *b, const nn_lora *lora,
                           const dit_block_env *e, const float *x0, float *x_out, dit_block_acts *a);
/* gx[S, dim]: d loss / d block output in, d loss / d x0 out (in place).
 * Parameter and LoRA gradients added; dt_mod [ranges, 6, dim] added to;
 * dctx [Li + Lt, dim] (the context's gradient, image rows first as e->ctx)
 * added to, NULL: not computed. */
wanc_err dit_block_backward(const nn_ctx *c, const wanc_dit_config *cfg, const dit_block *b, const nn_lora *lora,
                            const dit_block_grads *g, const dit_block_env *e, const float *x0, const dit_block_acts *a,
                            float *gx, float *dt_mod, float *dctx, const dit_block_scratch *s);

/* ---- embeddings and head, shared by inference and training (dit_embed.c, dit_head.c) ---- */
/* One timestep: tf [freq] = sinusoid(t), h = time0(tf), hs = silu(h), e = time2(hs)
 * (the time embedding), es = silu(e), t_mod [6·dim] = tproj(es) (+ t_mod_add).
 * Inference lets h, hs and es share a buffer. stage: host [freq] doubles. */
typedef struct {
    float *tf, *h, *hs, *e, *es, *t_mod;
} dit_time_acts;
wanc_err dit_time_forward(const nn_ctx *c, const wanc_dit *d, float t, const float *t_mod_add, double *stage,
                          const dit_time_acts *a);
/* de [dim] (the embedding's gradient, already holding the head's share) gets
 * tproj's; parameter gradients g[3] = time0, time2, tproj added. tmp, tmp2: [max(6·dim, freq)]. */
wanc_err dit_time_backward(const nn_ctx *c, const wanc_dit *d, const nn_linear_grad g[3], const dit_time_acts *a,
                           const float *dt_mod, float *de, float *tmp, float *tmp2);
/* Text MLP over L tokens: in [L, text_dim] (rounded in place), h = text0(in),
 * g = gelu(h), out = text2(g). */
typedef struct {
    float *in, *h, *g, *out;
} dit_text_acts;
wanc_err dit_text_forward(const nn_ctx *c, const wanc_dit *d, const dit_text_acts *a, int64_t L);
/* din [L, text_dim] (NULL: not computed); g[2] = text0, text2; tmp, tmp2 [L, dim]. */
wanc_err dit_text_backward(const nn_ctx *c, const wanc_dit *d, const nn_linear_grad g[2], const dit_text_acts *a,
                           const float *dout, float *din, float *tmp, float *tmp2, int64_t L);
/* CLIP image MLP (img_emb) over L tokens: in [L, clip_dim] = round(clip) (+ emb_pos,
 * added in place), n0 = LN(in), h = img1(n0), g = gelu_erf(h), p = img3(g),
 * out [L, dim] = LN(p) (LayerNorms with affine, eps 1e-5). Inference lets
 * in/n0 and h/g share a buffer and p be out. */
typedef struct {
    float *in, *n0, *h, *g, *p, *out;
} dit_image_acts;
wanc_err dit_image_forward(const nn_ctx *c, const wanc_dit *d, const dit_image_acts *a, int64_t L);
/* Parameter gradients of img_emb (NULL: not kept). */
typedef struct {
    nn_linear_grad proj1, proj3;
    float *ln0_w, *ln0_b, *ln4_w, *ln4_b, *emb_pos;
} dit_image_grads;
/* dout [L, dim] → din [L, clip_dim] (NULL: not computed) and the parameter
 * gradients; tmp [L, max(dim, clip_dim)], tmp2 [L, clip_dim]. */
wanc_err dit_image_backward(const nn_ctx *c, const wanc_dit *d, const dit_image_grads *g, const dit_image_acts *a,
                            const float *dout, float *din, float *tmp, float *tmp2, int64_t L);
/* Patch embedding: rows [Sv, in_dim·pt·ph·pw] = patchify(video[in_dim, F, H, W]) (rounded),
 * x [Sv, dim] = patch(rows). */
wanc_err dit_patch_forward(const nn_ctx *c, const wanc_dit *d, float *rows, float *x, const float *video, int64_t F,
                           int64_t H, int64_t W);
/* Head over S tokens of x [S, dim]: n = LN(x), hm [ranges, 2, dim] = head.modulation + e,
 * h = n·(1 + scale) + shift, out [S, out_dim·pt·ph·pw] = head(h). */
typedef struct {
    float *n, *h, *hm, *out;
} dit_head_acts;
wanc_err dit_head_forward(const nn_ctx *c, const wanc_dit *d, const float *x, const float *e, const nn_ranges *r,
                          int64_t S, const dit_head_acts *a);
/* gx [S, dim] = d loss / d x; de [ranges, dim] and the head's parameter
 * gradients (g, dmod: NULL not kept) added. tmp, tmp2 [S, dim], dhm [ranges, 2, dim]. */
wanc_err dit_head_backward(const nn_ctx *c, const wanc_dit *d, const nn_linear_grad *g, float *dmod,
                           const dit_head_acts *a, const float *x, const float *dout, float *gx, float *de,
                           const nn_ranges *r, int64_t S, float *tmp, float *tmp2, float *dhm);

/* Activations of one forward. S counts every token the blocks see:
 * reference tokens (Fun control) first, then the video tokens. */
typedef struct {
    int64_t S, Lt, Li, L, D, H, hd;
    float *x, *h, *q, *k, *v, *a, *a2, *big, *kc, *vc, *ctx;
    float *t_mod, *mod; /* [ranges, 6, dim] */
    double *rope;
    /* Token ranges sharing one timestep (env.ranges): one range normally;
     * TI2V image-to-video gives latent frame 0 timestep 0, so [0, h·w) and [h·w, S). */
    float seg_t[NN_MAX_RANGES];
    dit_block_env env; /* what the blocks read: ranges, context, t_mod, RoPE */
} fwd_bufs;

/* ---- loading (dit_load.c) ---- */
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

/* ---- forward helpers (dit_forward.c) ---- */
wanc_err dit_rnd(const fwd *f, float *x, int64_t n);
/* out[M, N] = x[M, K] · Wᵀ + b, one rounding. */
wanc_err dit_lin(const fwd *f, float *out, const float *x, const dit_linear *l, int64_t M);
void dit_observe(const fwd *f, const char *name, const float *data, int ndim, const int64_t *shape);
wanc_err dit_alloc_f(wanc_arena *a, float **p, int64_t n);

/* ---- inference (dit_block.c, dit_embed.c, dit_head.c) ---- */
/* One DiT block on B->x [S, dim] in place (context, t_mod, RoPE from B->env). */
wanc_err dit_run_block(const fwd *f, const wanc_dit *d, const dit_block *b, fwd_bufs *B);
/* tvec[ranges, dim] (the time embedding) and B->t_mod [ranges, 6, dim]. */
wanc_err dit_embed_time(const fwd *f, wanc_dit *d, wanc_arena *A, fwd_bufs *B, float *tvec);
/* B->ctx [L, dim] = [img_emb(clip), text_embedding(context)]. */
wanc_err dit_embed_context(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B);
/* B->x [S, dim]: Sr reference tokens, then the patch-embedded video tokens (+ camera). */
wanc_err dit_embed_patches(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, int64_t Sr);
/* dst[c, tok] = src[tok, c] for observers wanting a conv's [C, ...] layout. */
wanc_err dit_tokens_to_channels(const fwd *f, float *dst, const float *src, int64_t tokens, int64_t C);
/* out[out_dim, F, H, W] (host memory) from B->x (the video tokens after Sr reference tokens). */
wanc_err dit_run_head(const fwd *f, const wanc_dit *d, wanc_arena *A, fwd_bufs *B, const float *tvec, int64_t Sr,
                      float *out);
/* A host buffer of at least `bytes` owned by d (the float64 tables before upload). */
wanc_err dit_stage(wanc_dit *d, size_t bytes, double **out);

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
