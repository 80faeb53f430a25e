/* The training loop: LoRA on the DiT, saves, checkpoints, resume (see train_loop.h). */
#include "train/train_loop.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/rng_torch.h"
#include "core/tensor.h"
#include "dit/dit_lora.h"
#include "dit/dit_train.h"
#include "dit/wan_dit.h"
#include "io/atomic_file.h"
#include "io/weights.h"
#include "train/adamw.h"
#include "train/flow_loss.h"
#include "train/full_params.h"
#include "train/lora_setup.h"
#include "train/train_sched.h"

#define N_LINEAR 10
static const char *const linear_names[N_LINEAR] = {"self_attn.q",  "self_attn.k",  "self_attn.v",  "self_attn.o",
                                                   "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o",
                                                   "ffn.0",        "ffn.2"};
#define RNG_WORDS (624 + 4)

typedef struct {
    char module[96];       /* "blocks.3.self_attn.q" */
    char key_a[160], key_b[160];
    int64_t in, out;
    float *A, *B, *dA, *dB, *mA, *vA, *mB, *vB;
} lora_layer;

typedef struct {
    const wanc_train_loop_args *a;
    const wanc_train_options *o;
    bool bf16;
    bool full;             /* --trainable_models dit: every DiT parameter (fp), else the LoRA layers (l) */
    dit_with_lora dl;      /* the DiT and its store (a preset LoRA fused in; full: the trained tensors) */
    wanc_weights *store;
    wanc_full_params fp;
    wanc_dit *dit;
    wanc_dit_trainer *tr;
    wanc_train_sched ts;
    wanc_adamw opt;
    int n;
    lora_layer *l;
    int64_t rank;
    wanc_torch_gen gen;
    int64_t *order, len, total;
    int64_t step, pos, pending; /* steps done, position in the epoch, items in the pending gradients */
    int epoch;
    int id_lo, id_hi;
    double loss_ema;
    FILE *csv;
} loop;

/* ---- LoRA layers ----------------------------------------------------------------------- */

static void layer_free(lora_layer *l)
{
    free(l->A);
    free(l->B);
    free(l->dA);
    free(l->dB);
    free(l->mA);
    free(l->vA);
    free(l->mB);
    free(l->vB);
}

/* "pipe.dit.<name>" with remove_prefix_in_ckpt taken off (DiffSynth's export) */
static void saved_key(char *out, size_t cap, const char *prefix, const char *name)
{
    char full[256];
    snprintf(full, sizeof full, "pipe.dit.%s", name);
    size_t pl = prefix ? strlen(prefix) : 0;
    snprintf(out, cap, "%s", pl && !strncmp(full, prefix, pl) ? full + pl : full);
}

static void round_params(loop *L, lora_layer *l)
{
    if (!L->bf16) return;
    wanc_round_bf16_inplace(l->A, (size_t)(L->rank * l->in));
    wanc_round_bf16_inplace(l->B, (size_t)(l->out * L->rank));
}

static wanc_err make_layers(loop *L)
{
    const wanc_dit_config *c = wanc_dit_get_config(L->dit);
    const char *targets = L->o->lora_target_modules ? L->o->lora_target_modules : WANC_LORA_DEFAULT_TARGETS;
    L->l = calloc((size_t)c->num_layers * N_LINEAR, sizeof *L->l);
    if (!L->l) WANC_FAIL(WANC_ENOMEM, "LoRA layers");
    for (int b = 0; b < c->num_layers; b++)
        for (int j = 0; j < N_LINEAR; j++) {
            char module[96];
            snprintf(module, sizeof module, "blocks.%d.%s", b, linear_names[j]);
            if (!wanc_lora_is_target(module, targets)) continue;
            lora_layer *l = &L->l[L->n++];
            snprintf(l->module, sizeof l->module, "%s", module);
            char name[160];
            snprintf(name, sizeof name, "%s.lora_A.default.weight", module);
            saved_key(l->key_a, sizeof l->key_a, L->o->remove_prefix_in_ckpt, name);
            snprintf(name, sizeof name, "%s.lora_B.default.weight", module);
            saved_key(l->key_b, sizeof l->key_b, L->o->remove_prefix_in_ckpt, name);
            l->in = j == 9 ? c->ffn_dim : c->dim;
            l->out = j == 8 ? c->ffn_dim : c->dim;
            size_t na = (size_t)(L->rank * l->in), nb = (size_t)(l->out * L->rank);
            l->A = calloc(na, sizeof(float)), l->dA = calloc(na, sizeof(float));
            l->mA = calloc(na, sizeof(float)), l->vA = calloc(na, sizeof(float));
            l->B = calloc(nb, sizeof(float)), l->dB = calloc(nb, sizeof(float));
            l->mB = calloc(nb, sizeof(float)), l->vB = calloc(nb, sizeof(float));
            if (!l->A || !l->dA || !l->mA || !l->vA || !l->B || !l->dB || !l->mB || !l->vB)
                WANC_FAIL(WANC_ENOMEM, "LoRA %s: rank %lld", module, (long long)L->rank);
        }
    if (L->n == 0)
        WANC_FAIL(WANC_EINVAL, "--lora_target_modules %s matches no layer of the DiT (its layers: self_attn.q, ..., "
                  "cross_attn.o, ffn.0, ffn.2)", targets);
    return NULL;
}

/* --lora_checkpoint: A and B from a LoRA file with DiffSynth's keys */
static wanc_err load_lora_file(loop *L, const char *path)
{
    wanc_weights *w;
    TRY(wanc_weights_open(&w, path));
    wanc_err err = NULL;
    for (int i = 0; i < L->n && !err; i++) {
        lora_layer *l = &L->l[i];
        char name[200];
        const wanc_tensor *t;
        snprintf(name, sizeof name, "%s.lora_A.default.weight", l->module);
        err = wanc_weights_get(w, name, &t, 2, (int64_t[]){L->rank, l->in});
        if (!err) err = wanc_tensor_to_f32(l->A, t);
        snprintf(name, sizeof name, "%s.lora_B.default.weight", l->module);
        if (!err) err = wanc_weights_get(w, name, &t, 2, (int64_t[]){l->out, L->rank});
        if (!err) err = wanc_tensor_to_f32(l->B, t);
    }
    wanc_weights_close(w);
    return err ? wanc_error_context(err, "--lora_checkpoint %s (rank %lld)", path, (long long)L->rank) : NULL;
}

/* ---- files ------------------------------------------------------------------------------- */

static wanc_err save_lora(loop *L, const char *file)
{
    if (L->full)
        return wanc_full_params_save(&L->fp, L->o->output_path, file, L->o->remove_prefix_in_ckpt,
                                     WANC_FULL_SHARD_BYTES);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", L->o->output_path, file);
    int n = 2 * L->n;
    const char **names = malloc(sizeof *names * (size_t)n);
    const float **data = malloc(sizeof *data * (size_t)n);
    int64_t(*shapes)[2] = malloc(sizeof *shapes * (size_t)n);
    wanc_err err = NULL;
    if (!names || !data || !shapes) err = wanc_error(WANC_ENOMEM, "%s", path);
    for (int i = 0; i < L->n && !err; i++) {
        lora_layer *l = &L->l[i];
        names[2 * i] = l->key_a, data[2 * i] = l->A, shapes[2 * i][0] = L->rank, shapes[2 * i][1] = l->in;
        names[2 * i + 1] = l->key_b, data[2 * i + 1] = l->B, shapes[2 * i + 1][0] = l->out,
                      shapes[2 * i + 1][1] = L->rank;
    }
    if (!err) err = wanc_lora_save(path, n, names, data, (const int64_t(*)[2])shapes, L->bf16 ? WANC_BF16 : WANC_F32);
    free(names);
    free(data);
    free(shapes);
    return err;
}

static void rng_to_words(const wanc_torch_gen *g, int64_t *w)
{
    for (int i = 0; i < 624; i++) w[i] = g->mt[i];
    w[624] = g->left, w[625] = g->next, w[626] = g->has_cached_normal;
    memcpy(&w[627], &g->cached_normal, sizeof(double));
}

static void rng_from_words(wanc_torch_gen *g, const int64_t *w)
{
    for (int i = 0; i < 624; i++) g->mt[i] = (uint32_t)w[i];
    g->left = (int)w[624], g->next = (int)w[625], g->has_cached_normal = w[626] != 0;
    memcpy(&g->cached_normal, &w[627], sizeof(double));
}

/* The model and run a checkpoint belongs to: must match on resume. */
static void identity(const loop *L, char *out, size_t cap)
{
    const wanc_dit_config *c = wanc_dit_get_config(L->dit);
    char what[256];
    if (L->full) snprintf(what, sizeof what, "full fine-tuning");
    else
        snprintf(what, sizeof what, "lora rank %lld targets %s", (long long)L->rank,
                 L->o->lora_target_modules ? L->o->lora_target_modules : WANC_LORA_DEFAULT_TARGETS);
    const char *preset = L->o->preset_lora_path, *base = preset ? strrchr(preset, '/') : NULL;
    snprintf(out, cap, "dit dim %d ffn %d layers %d in %d; %s; %lld items per epoch; %s%s%s", c->dim, c->ffn_dim,
             c->num_layers, c->in_dim, what, (long long)L->len, L->bf16 ? "bf16" : "fp32",
             preset ? "; preset " : "", preset ? (base ? base + 1 : preset) : "");
}

static wanc_err save_checkpoint(loop *L)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" WANC_TRAIN_CHECKPOINT_NAME, L->o->output_path);
    const int per = 8;
    int n = per * L->n + 2;
    wanc_tensor *t = NULL;
    char **names = NULL;
    wanc_err err = NULL;
    if (L->full) { /* views onto the live parameters, moments and (pending) gradients, then rng and order */
        int nv = 0;
        err = wanc_full_params_ckpt_views(&L->fp, L->pending > 0, &nv, &names, &t);
        n = nv + 2;
        wanc_tensor *t2 = err ? NULL : realloc(t, (size_t)n * sizeof *t);
        char **names2 = t2 ? realloc(names, (size_t)n * sizeof *names) : NULL;
        if (t2) t = t2;
        if (names2) names = names2;
        if (!err && (!t2 || !names2)) {
            n = nv;
            err = wanc_error(WANC_ENOMEM, "checkpoint");
        } else if (!err) {
            memset(&t[n - 2], 0, 2 * sizeof *t);
            names[n - 2] = names[n - 1] = NULL;
        }
    } else {
        t = calloc((size_t)n, sizeof *t);
        names = calloc((size_t)n, sizeof *names);
        err = t && names ? NULL : wanc_error(WANC_ENOMEM, "checkpoint");
    }
    for (int i = 0; i < L->n && !err; i++) {
        lora_layer *l = &L->l[i];
        static const char *const kind[8] = {"A", "B", "dA", "dB", "mA", "vA", "mB", "vB"};
        float *src[8] = {l->A, l->B, l->dA, l->dB, l->mA, l->vA, l->mB, l->vB};
        for (int k = 0; k < per && !err; k++) {
            bool is_a = kind[k][strlen(kind[k]) - 1] == 'A';
            int64_t shp[2] = {is_a ? L->rank : l->out, is_a ? l->in : L->rank};
            t[per * i + k] = wanc_tensor_wrap(src[k], WANC_F32, 2, shp); /* a view: no copy of the run's state */
            if (asprintf(&names[per * i + k], "%s/%s", kind[k], l->module) < 0)
                err = wanc_error(WANC_ENOMEM, "checkpoint");
        }
    }
    if (!err) err = wanc_tensor_alloc(&t[n - 2], WANC_I64, 1, (int64_t[]){RNG_WORDS});
    if (!err) {
        rng_to_words(&L->gen, t[n - 2].data);
        err = wanc_tensor_alloc(&t[n - 1], WANC_I64, 1, (int64_t[]){L->len});
    }
    if (!err) memcpy(t[n - 1].data, L->order, (size_t)L->len * sizeof(int64_t));
    if (!err && (!(names[n - 2] = strdup("rng")) || !(names[n - 1] = strdup("order"))))
        err = wanc_error(WANC_ENOMEM, "checkpoint");
    char id[512], step[32], pos[32], epoch[32], pending[32], opt_step[32], sched[32], lr[64], ema[64];
    identity(L, id, sizeof id);
    snprintf(step, sizeof step, "%lld", (long long)L->step);
    snprintf(pos, sizeof pos, "%lld", (long long)L->pos);
    snprintf(epoch, sizeof epoch, "%d", L->epoch);
    snprintf(pending, sizeof pending, "%lld", (long long)L->pending);
    snprintf(opt_step, sizeof opt_step, "%d", L->opt.step);
    snprintf(sched, sizeof sched, "%d", L->opt.sched_steps);
    snprintf(lr, sizeof lr, "%a", L->opt.lr);
    snprintf(ema, sizeof ema, "%a", L->loss_ema);
    const char *meta[] = {"format", WANC_TRAIN_CHECKPOINT_FORMAT, "identity", id, "step", step, "epoch", epoch,
                          "position", pos, "pending", pending, "optimizer_step", opt_step, "scheduler_step", sched,
                          "lr", lr, "loss_ema", ema, NULL};
    if (!err) err = wanc_safetensors_write(path, n, (const char *const *)names, t, meta);
    for (int i = 0; i < n && t && names; i++) {
        wanc_tensor_free(&t[i]);
        free(names[i]);
    }
    free(t);
    free(names);
    return err;
}

static wanc_err meta_int(const wanc_weights *w, const char *path, const char *key, long long *out)
{
    const char *v = wanc_weights_metadata(w, key);
    char *end;
    if (!v || (*out = strtoll(v, &end, 10), *end))
        WANC_FAIL(WANC_EFORMAT, "checkpoint %s: metadata '%s' missing or not an integer", path, key);
    return NULL;
}

static wanc_err meta_double(const wanc_weights *w, const char *path, const char *key, double *out)
{
    const char *v = wanc_weights_metadata(w, key);
    char *end;
    if (!v || (*out = strtod(v, &end), *end))
        WANC_FAIL(WANC_EFORMAT, "checkpoint %s: metadata '%s' missing or not a number", path, key);
    return NULL;
}

static wanc_err load_checkpoint(loop *L, const char *where)
{
    char path[PATH_MAX];
    struct stat st;
    if (stat(where, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(path, sizeof path, "%s/" WANC_TRAIN_CHECKPOINT_NAME, where);
    else snprintf(path, sizeof path, "%s", where);
    wanc_weights *w;
    TRYC(wanc_weights_open(&w, path), "--resume_from_checkpoint");
    wanc_err err = NULL;
    const char *fmt = wanc_weights_metadata(w, "format"), *id = wanc_weights_metadata(w, "identity");
    char mine[512];
    identity(L, mine, sizeof mine);
    if (!fmt || strcmp(fmt, WANC_TRAIN_CHECKPOINT_FORMAT)) {
        err = wanc_error(WANC_EFORMAT, "%s: not a wanc training checkpoint (format '%s')", path, fmt ? fmt : "");
        goto done;
    }
    if (!id || strcmp(id, mine)) {
        err = wanc_error(WANC_EINVAL, "checkpoint %s belongs to another run: it has [%s], this run is [%s]", path,
                         id ? id : "", mine);
        goto done;
    }
    long long step, epoch, pos, pending, opt_step, sched;
    TRY_GOTO(err, done, meta_int(w, path, "step", &step));
    TRY_GOTO(err, done, meta_int(w, path, "epoch", &epoch));
    TRY_GOTO(err, done, meta_int(w, path, "position", &pos));
    TRY_GOTO(err, done, meta_int(w, path, "pending", &pending));
    TRY_GOTO(err, done, meta_int(w, path, "optimizer_step", &opt_step));
    TRY_GOTO(err, done, meta_int(w, path, "scheduler_step", &sched));
    TRY_GOTO(err, done, meta_double(w, path, "lr", &L->opt.lr));
    TRY_GOTO(err, done, meta_double(w, path, "loss_ema", &L->loss_ema));
    if (step < 0 || step > L->total || pos < 0 || pos > L->len || epoch < 0 || pending < 0) {
        err = wanc_error(WANC_EFORMAT, "checkpoint %s: step %lld / position %lld outside this run", path, step, pos);
        goto done;
    }
    L->step = step, L->epoch = (int)epoch, L->pos = pos, L->pending = pending;
    L->opt.step = (int)opt_step, L->opt.sched_steps = (int)sched;
    if (L->full) err = wanc_full_params_ckpt_load(&L->fp, w, path, pending > 0);
    for (int i = 0; i < L->n && !err; i++) {
        lora_layer *l = &L->l[i];
        static const char *const kind[8] = {"A", "B", "dA", "dB", "mA", "vA", "mB", "vB"};
        float *dst[8] = {l->A, l->B, l->dA, l->dB, l->mA, l->vA, l->mB, l->vB};
        for (int k = 0; k < 8 && !err; k++) {
            bool is_a = kind[k][strlen(kind[k]) - 1] == 'A';
            const wanc_tensor *t;
            char name[160];
            snprintf(name, sizeof name, "%s/%s", kind[k], l->module);
            err = wanc_weights_get(w, name, &t, 2, (int64_t[]){is_a ? L->rank : l->out, is_a ? l->in : L->rank});
            if (!err && t->dtype != WANC_F32) err = wanc_error(WANC_EFORMAT, "%s: %s is not F32", path, name);
            if (!err) memcpy(dst[k], t->data, wanc_tensor_nbytes(t));
        }
    }
    const wanc_tensor *rng, *order;
    if (!err) err = wanc_weights_get(w, "rng", &rng, 1, (int64_t[]){RNG_WORDS});
    if (!err) err = wanc_weights_get(w, "order", &order, 1, (int64_t[]){L->len});
    if (!err && (rng->dtype != WANC_I64 || order->dtype != WANC_I64))
        err = wanc_error(WANC_EFORMAT, "%s: rng / order are not I64", path);
    if (!err) {
        rng_from_words(&L->gen, rng->data);
        memcpy(L->order, order->data, (size_t)L->len * sizeof(int64_t));
        for (int64_t i = 0; i < L->len && !err; i++)
            if (L->order[i] < 0 || L->order[i] >= L->len)
                err = wanc_error(WANC_EFORMAT, "%s: order entry %lld out of range", path, (long long)L->order[i]);
    }
done:
    wanc_weights_close(w);
    return err ? wanc_error_context(err, "resuming") : NULL;
}

/* loss.csv: a fresh run starts it; a resumed one keeps the rows up to its step */
static wanc_err open_csv(loop *L)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/loss.csv", L->o->output_path);
    char *kept = NULL;
    size_t kept_len = 0;
    if (L->step > 0) {
        FILE *f = fopen(path, "r");
        FILE *m = open_memstream(&kept, &kept_len);
        char line[256];
        if (f && m) {
            while (fgets(line, sizeof line, f)) {
                long long s = strtoll(line, NULL, 10);
                if (!strncmp(line, "step,", 5) || (s >= 1 && s <= L->step)) fputs(line, m);
            }
        }
        if (f) fclose(f);
        if (m) fclose(m);
    }
    /* the kept rows replace the file whole (a kill here must not lose them),
     * then each step appends its row with one write */
    wanc_atomic_file a;
    wanc_err err = wanc_atomic_open(&a, path);
    if (!err) {
        fputs(kept_len ? kept : "step,epoch,loss,lr\n", a.f);
        err = wanc_atomic_commit(&a);
    }
    free(kept);
    if (err) return err;
    L->csv = fopen(path, "a");
    if (!L->csv) WANC_FAIL(WANC_EIO, "%s: cannot append: %s", path, strerror(errno));
    return NULL;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void shuffle(loop *L)
{
    wanc_torch_gen g;
    wanc_torch_gen_seed(&g, wanc_torch_gen_u64(&L->gen));
    for (int64_t i = 0; i < L->len; i++) L->order[i] = i;
    for (int64_t i = L->len - 1; i > 0; i--) {
        int64_t j = wanc_torch_randint(&g, 0, i + 1), t = L->order[i];
        L->order[i] = L->order[j];
        L->order[j] = t;
    }
}

static void optimizer_step(loop *L)
{
    float inv = 1.0f / (float)L->pending;
    wanc_adamw_begin_step(&L->opt);
    if (L->full) wanc_full_params_step(&L->fp, &L->opt, L->pending);
    for (int i = 0; i < L->n; i++) {
        lora_layer *l = &L->l[i];
        int64_t na = L->rank * l->in, nb = l->out * L->rank;
        if (L->pending > 1) {
            for (int64_t k = 0; k < na; k++) l->dA[k] *= inv;
            for (int64_t k = 0; k < nb; k++) l->dB[k] *= inv;
        }
        wanc_adamw_update(&L->opt, l->A, l->dA, l->mA, l->vA, na);
        wanc_adamw_update(&L->opt, l->B, l->dB, l->mB, l->vB, nb);
        round_params(L, l);
        memset(l->dA, 0, (size_t)na * sizeof(float));
        memset(l->dB, 0, (size_t)nb * sizeof(float));
    }
    wanc_adamw_end_step(&L->opt);
    L->pending = 0;
}

static wanc_err train_item(loop *L, double *loss)
{
    wanc_train_sample s;
    TRY(L->a->get(L->a->get_user, L->order[L->pos], &s));
    const wanc_dit_config *c = wanc_dit_get_config(L->dit);
    wanc_err err = NULL;
    float *noise = NULL;
    if (s.z + s.y_c != c->in_dim || s.ctx_dim != c->text_dim)
        err = wanc_error(WANC_ESHAPE, "item %lld: latents of %lld channels%s and a %lld-wide prompt embedding, but "
                         "the DiT takes in_dim %d and text_dim %d%s", (long long)L->order[L->pos], (long long)s.z,
                         s.y ? " plus y" : "", (long long)s.ctx_dim, c->in_dim, c->text_dim,
                         !s.y && c->in_dim > s.z ? " (an image-to-video DiT: train it with --extra_inputs input_image)"
                                                 : "");
    else if (c->has_image_input != (s.clip != NULL) || (s.clip && s.clip_dim != c->clip_dim))
        err = wanc_error(WANC_EINVAL, "item %lld: %s", (long long)L->order[L->pos],
                         s.clip ? "CLIP tokens that the DiT does not take (no img_emb, or another width)"
                                : "the DiT takes CLIP image tokens (img_emb): train it with --extra_inputs "
                                  "input_image");
    const int64_t n = s.z * s.F * s.h * s.w;
    if (!err && !(noise = malloc(sizeof(float) * (size_t)n))) err = wanc_error(WANC_ENOMEM, "noise");
    if (!err) err = wanc_torch_gen_randn(&L->gen, noise, n, WANC_RANDN_AVX2);
    if (!err && L->bf16) wanc_round_bf16_inplace(noise, (size_t)n);
    if (!err) {
        int id = (int)wanc_torch_randint(&L->gen, L->id_lo, L->id_hi);
        wanc_sft_inputs in = {.x0 = s.x0, .noise = noise, .C = s.z, .F = s.F, .H = s.h, .W = s.w,
                              .context = s.context, .ctx_len = s.ctx_len, .timestep_id = id,
                              .bf16_timestep = L->bf16, .first_frame = s.first, .y = s.y, .y_c = s.y_c,
                              .clip = s.clip, .clip_len = s.clip_len};
        wanc_sft_outputs out = {0};
        err = wanc_sft_step(L->tr, &L->ts, &in, &out, true);
        *loss = out.loss;
    }
    free(noise);
    wanc_train_sample_free(&s);
    return err;
}

static wanc_err save_all(loop *L, const char *lora_file)
{
    if (lora_file) TRY(save_lora(L, lora_file));
    return save_checkpoint(L);
}

static wanc_err run(loop *L)
{
    const wanc_train_options *o = L->o;
    const int k = o->gradient_accumulation_steps;
    char file[64];
    for (; L->epoch < o->num_epochs; L->epoch++) {
        if (L->pos == 0) shuffle(L);
        for (; L->pos < L->len;) {
            double t0 = wanc_now_seconds(), loss = 0;
            double lr = L->opt.lr;
            TRY(train_item(L, &loss));
            L->pending++;
            L->pos++;
            L->step++;
            if (L->pending == k || L->pos == L->len) optimizer_step(L);
            L->loss_ema = L->step == 1 ? loss : 0.9 * L->loss_ema + 0.1 * loss;
            fprintf(L->csv, "%lld,%d,%.9g,%.9g\n", (long long)L->step, L->epoch, loss, lr);
            fflush(L->csv);
            bool last = L->step == L->total;
            if (o->save_steps > 0 && (L->step % o->save_steps == 0 || last)) {
                snprintf(file, sizeof file, "step-%lld.safetensors", (long long)L->step);
                TRY(save_all(L, file));
            }
            wanc_train_status st = {.stage = "train", .step = L->step, .total = L->total, .epoch = L->epoch,
                                    .loss = loss, .loss_smoothed = L->loss_ema, .lr = lr,
                                    .seconds_per_step = wanc_now_seconds() - t0};
            if (L->a->progress && L->a->progress(L->a->progress_user, &st) && !last) {
                if (o->save_steps > 0 && L->step % o->save_steps == 0) TRY(save_all(L, NULL));
                else {
                    snprintf(file, sizeof file, "step-%lld.safetensors", (long long)L->step);
                    TRY(save_all(L, file));
                }
                WANC_FAIL(WANC_ECANCELLED, "stopped at step %lld of %lld; saved %s/%s and the checkpoint: continue "
                          "with --resume_from_checkpoint %s", (long long)L->step, (long long)L->total,
                          o->output_path, file, o->output_path);
            }
        }
        L->pos = 0;
        if (o->save_steps <= 0) {
            snprintf(file, sizeof file, "epoch-%d.safetensors", L->epoch);
            int e = L->epoch++; /* the checkpoint says: the next epoch, position 0 */
            wanc_err err = save_all(L, file);
            L->epoch = e;
            TRY(err);
        }
    }
    return NULL;
}

wanc_err wanc_train_loop(const wanc_train_loop_args *a)
{
    const wanc_train_options *o = a->o;
    const bool full = o->trainable_models && o->trainable_models[0];
    if (full && o->lora_checkpoint)
        WANC_FAIL(WANC_EINVAL, "--lora_checkpoint continues a LoRA; full fine-tuning (--trainable_models dit) "
                  "starts from the DiT given with the models");
    if (o->preset_lora_model && strcmp(o->preset_lora_model, "dit"))
        WANC_FAIL(WANC_EUNSUPPORTED, "--preset_lora_model %s: wanc fuses a preset LoRA into the DiT only (dit)",
                  o->preset_lora_model);
    loop L = {.a = a, .o = o, .bf16 = o->precision == WANC_PRECISION_BF16, .full = full, .rank = o->lora_rank,
              .len = a->len};
    L.total = (int64_t)o->num_epochs * a->len;
    wanc_err err = NULL;
    wanc_dit_options dopt = {.num_heads = o->dit_heads, .precision = WANC_DIT_FP32};
    /* full: the trained weights in the pipeline dtype, as DiffSynth loads them (f32 ones cast at load) */
    dopt.bf16_weights = full && L.bf16;
    /* --preset_lora_path: DiffSynth's pipe.load_lora(pipe.dit, path) before training, i.e. fused at
     * strength 1 as wanc generate --lora fuses */
    wanc_lora_spec preset = {.path = o->preset_lora_path, .strength = 1.0f, .target = WANC_LORA_ALL_EXPERTS};
    err = dit_lora_open(&L.dl, wanc_backend_cpu(), a->dit_path, &dopt, &preset, o->preset_lora_path ? 1 : 0,
                        WANC_LORA_FUSED, false, 0, 1, NULL, 0);
    if (err) {
        err = o->preset_lora_path ? wanc_error_context(err, "DiT %s with --preset_lora_path %s", a->dit_path,
                                                       o->preset_lora_path)
                                  : wanc_error_context(err, "DiT");
        goto done;
    }
    L.dit = L.dl.dit, L.store = L.dl.store;
    TRY_GOTO(err, done, wanc_dit_trainer_new(&L.tr, L.dit, full));
    TRY_GOTO(err, done, wanc_train_sched_init(&L.ts, 5.0));
    TRY_GOTO(err, done, wanc_train_id_range(o->min_timestep_boundary, o->max_timestep_boundary, &L.id_lo, &L.id_hi));
    if (full) TRY_GOTO(err, done, wanc_full_params_init(&L.fp, L.dit, L.store, L.tr, L.bf16));
    else TRY_GOTO(err, done, make_layers(&L));
    L.order = calloc((size_t)(a->len > 0 ? a->len : 1), sizeof(int64_t));
    if (!L.order) {
        err = wanc_error(WANC_ENOMEM, "data order");
        goto done;
    }
    wanc_adamw_init(&L.opt, o->learning_rate, o->weight_decay);
    wanc_torch_gen_seed(&L.gen, (uint64_t)o->seed);
    for (int i = 0; i < L.n; i++) { /* peft's init, layer by layer */
        lora_layer *l = &L.l[i];
        wanc_lora_init(&L.gen, l->A, l->B, L.rank, l->in, l->out);
    }
    if (o->lora_checkpoint) TRY_GOTO(err, done, load_lora_file(&L, o->lora_checkpoint));
    for (int i = 0; i < L.n; i++) round_params(&L, &L.l[i]);
    if (o->resume_from_checkpoint) TRY_GOTO(err, done, load_checkpoint(&L, o->resume_from_checkpoint));
    for (int i = 0; i < L.n; i++) {
        lora_layer *l = &L.l[i];
        wanc_dit_lora lora = {.A = l->A, .B = l->B, .dA = l->dA, .dB = l->dB, .rank = L.rank, .scale = 1.0f};
        TRY_GOTO(err, done, wanc_dit_trainer_add_lora(L.tr, l->module, &lora));
    }
    TRY_GOTO(err, done, open_csv(&L));
    err = run(&L);
done:
    if (L.csv) fclose(L.csv);
    for (int i = 0; i < L.n; i++) layer_free(&L.l[i]);
    free(L.l);
    free(L.order);
    wanc_train_sched_free(&L.ts);
    wanc_dit_trainer_free(L.tr);
    wanc_full_params_free(&L.fp);
    dit_lora_free(&L.dl);
    return err;
}
