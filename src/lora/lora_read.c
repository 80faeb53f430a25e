/* LoRA files: keys → layers, dialect detection, binding to a model's
 * parameter names, and the `wanc info` summary. */
#include <stdlib.h>
#include <string.h>

#include "lora/lora.h"

const char *wanc_lora_dialect_name(wanc_lora_dialect d)
{
    switch (d) {
    case WANC_LORA_DIFFSYNTH: return "diffsynth";
    case WANC_LORA_KOHYA: return "kohya";
    case WANC_LORA_DIFFUSERS: return "diffusers";
    }
    return "?";
}

/* Wrapper prefixes trainers put before the module name (longest first). */
static const char *const prefixes[] = {"base_model.model.", "model.diffusion_model.", "diffusion_model.",
                                       "transformer.", "model."};
#define KOHYA_PREFIX "lora_unet_"

typedef enum { ROLE_A, ROLE_B, ROLE_ALPHA, ROLE_DIFF, ROLE_DIFF_B, ROLE_DIFF_M, ROLE_NONE } key_role;

typedef struct {
    char module[512];
    key_role role;
    bool kohya, prefixed;
    char adapter[64]; /* the segment between lora_B and weight, if any */
} parsed_key;

/* Split a key into module and role: `<prefix><module>.lora_B[.<adapter>].weight`,
 * `<module>.alpha`, `<module>.diff`, `<module>.diff_b`. */
static void parse_key(parsed_key *k, const char *key)
{
    memset(k, 0, sizeof *k);
    k->role = ROLE_NONE;
    const char *s = key;
    if (!strncmp(s, KOHYA_PREFIX, strlen(KOHYA_PREFIX))) {
        s += strlen(KOHYA_PREFIX);
        k->kohya = true;
    } else {
        for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
            if (!strncmp(s, prefixes[i], strlen(prefixes[i]))) {
                s += strlen(prefixes[i]);
                k->prefixed = true;
                break;
            }
    }
    static const struct { const char *seg; key_role role; } roles[] = {
        {".lora_A.", ROLE_A}, {".lora_B.", ROLE_B}, {".lora_down.", ROLE_A}, {".lora_up.", ROLE_B}};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        const char *at = strstr(s, roles[i].seg);
        if (!at) continue;
        const char *rest = at + strlen(roles[i].seg);
        const char *dot = strchr(rest, '.');
        if (dot) { /* an adapter segment before "weight" */
            if (strcmp(dot + 1, "weight")) return;
            snprintf(k->adapter, sizeof k->adapter, "%.*s", (int)(dot - rest), rest);
        } else if (strcmp(rest, "weight")) {
            return;
        }
        snprintf(k->module, sizeof k->module, "%.*s", (int)(at - s), s);
        k->role = roles[i].role;
        return;
    }
    const char *dot = strrchr(s, '.');
    if (!dot) return;
    key_role r = !strcmp(dot, ".alpha") ? ROLE_ALPHA : !strcmp(dot, ".diff") ? ROLE_DIFF
               : !strcmp(dot, ".diff_b") ? ROLE_DIFF_B : !strcmp(dot, ".diff_m") ? ROLE_DIFF_M : ROLE_NONE;
    if (r == ROLE_NONE) return;
    snprintf(k->module, sizeof k->module, "%.*s", (int)(dot - s), s);
    k->role = r;
}

bool wanc_lora_is_lora(const wanc_weights *w)
{
    for (int i = 0; i < wanc_weights_count(w); i++) {
        parsed_key k;
        parse_key(&k, wanc_weights_name(w, i));
        if (k.role != ROLE_NONE && k.role != ROLE_ALPHA) return true;
    }
    return false;
}

/* Diffusers spells the Wan modules attn1/attn2, to_q, ffn.net.N, condition_embedder, proj_out. */
static bool looks_diffusers(const char *module)
{
    return strstr(module, ".attn1.") || strstr(module, ".attn2.") || strstr(module, ".ffn.net.") ||
           !strncmp(module, "condition_embedder.", 19) || !strcmp(module, "proj_out");
}

static wanc_lora_layer *layer_for(wanc_lora *l, const char *module, wanc_lora_kind kind, wanc_err *err)
{
    for (int i = 0; i < l->nlayers; i++)
        if (l->layers[i].kind == kind && !strcmp(l->layers[i].module, module)) return &l->layers[i];
    wanc_lora_layer *nl = realloc(l->layers, sizeof *nl * (size_t)(l->nlayers + 1));
    if (!nl) {
        *err = wanc_error(WANC_ENOMEM, "LoRA: out of memory");
        return NULL;
    }
    l->layers = nl;
    wanc_lora_layer *ly = &l->layers[l->nlayers];
    memset(ly, 0, sizeof *ly);
    ly->kind = kind;
    ly->scale = 1.0;
    ly->module = strdup(module);
    if (!ly->module) {
        *err = wanc_error(WANC_ENOMEM, "LoRA: out of memory");
        return NULL;
    }
    l->nlayers++;
    return ly;
}

static wanc_err add_stray(wanc_lora *l, const char *key)
{
    const char **ns = realloc(l->stray, sizeof *ns * (size_t)(l->nstray + 1));
    if (!ns) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
    l->stray = ns;
    l->stray[l->nstray++] = key;
    return NULL;
}

static double scalar_of(const wanc_tensor *t)
{
    float v = 0;
    if (wanc_tensor_numel(t) == 1) wanc_tensor_to_f32(&v, t);
    return v;
}

/* Move layer i to slot n (n <= i) and clear slot i. */
static void keep_layer(wanc_lora *l, int n, int i)
{
    if (n == i) return;
    l->layers[n] = l->layers[i];
    memset(&l->layers[i], 0, sizeof l->layers[i]);
}

/* Check each layer's tensors and derive rank and scale. */
static wanc_err finish_layers(wanc_lora *l)
{
    const char *path = wanc_weights_describe(l->file);
    int n = 0;
    for (int i = 0; i < l->nlayers; i++) {
        wanc_lora_layer *ly = &l->layers[i];
        /* Layers move down over dropped ones; a moved-from or dropped slot is
         * cleared at once, so an error below leaves every pointer owned by
         * exactly one slot (wanc_lora_close frees all nlayers of them). */
        if (ly->kind != WANC_LORA_LOWRANK) {
            keep_layer(l, n++, i);
            continue;
        }
        if (!ly->a && !ly->b) { /* an alpha alone is no layer */
            free(ly->module);
            memset(ly, 0, sizeof *ly);
            continue;
        }
        if (!ly->a || !ly->b)
            WANC_FAIL(WANC_EFORMAT, "LoRA %s: %s has no matching %s", path, ly->a ? ly->key_a : ly->key_b,
                      ly->a ? "lora_B / lora_up" : "lora_A / lora_down");
        char sa[64], sb[64];
        wanc_shape_str(sa, sizeof sa, ly->a->ndim, ly->a->shape);
        wanc_shape_str(sb, sizeof sb, ly->b->ndim, ly->b->shape);
        if (ly->a->ndim < 2 || ly->b->ndim < 2 || ly->a->shape[0] <= 0)
            WANC_FAIL(WANC_ESHAPE, "LoRA %s: %s %s / %s %s are not LoRA matrices", path, ly->key_a, sa, ly->key_b, sb);
        ly->rank = ly->a->shape[0];
        int64_t b_numel;
        if (ly->b->shape[1] != ly->rank || __builtin_mul_overflow(ly->b->shape[0], ly->rank, &b_numel) ||
            wanc_tensor_numel(ly->b) != b_numel)
            WANC_FAIL(WANC_ESHAPE, "LoRA %s: rank mismatch: %s %s has rank %lld but %s is %s", path, ly->key_a, sa,
                      (long long)ly->rank, ly->key_b, sb);
        if (ly->alpha) {
            if (wanc_tensor_numel(ly->alpha) != 1)
                WANC_FAIL(WANC_ESHAPE, "LoRA %s: the alpha of %s is not a scalar", path, ly->module);
            ly->scale = scalar_of(ly->alpha) / (double)ly->rank;
        }
        keep_layer(l, n++, i);
    }
    l->nlayers = n;
    if (!n) WANC_FAIL(WANC_EFORMAT, "LoRA %s: no LoRA layers (no lora_A/lora_B, lora_down/lora_up or diff keys)", path);
    return NULL;
}

/* The dialect most layers are written in. */
static void detect_dialect(wanc_lora *l, const bool *kohya)
{
    int count[3] = {0};
    for (int i = 0; i < l->nlayers; i++)
        count[kohya[i] ? WANC_LORA_KOHYA : looks_diffusers(l->layers[i].module) ? WANC_LORA_DIFFUSERS
                                                                                 : WANC_LORA_DIFFSYNTH]++;
    l->dialect = WANC_LORA_DIFFSYNTH;
    for (int d = 1; d < 3; d++)
        if (count[d] > count[l->dialect]) l->dialect = (wanc_lora_dialect)d;
}

wanc_err wanc_lora_open(wanc_lora **out, const char *path)
{
    *out = NULL;
    wanc_lora *l = calloc(1, sizeof *l);
    if (!l) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
    wanc_err err = wanc_weights_open(&l->file, path);
    bool *kohya = NULL;
    int n = err ? 0 : wanc_weights_count(l->file);
    for (int i = 0; i < n && !err; i++) {
        const char *key = wanc_weights_name(l->file, i);
        const wanc_tensor *t = wanc_weights_tensor(l->file, i);
        parsed_key k;
        parse_key(&k, key);
        if (k.role == ROLE_NONE || !k.module[0]) {
            err = add_stray(l, key);
            continue;
        }
        wanc_lora_kind kind = k.role == ROLE_DIFF     ? WANC_LORA_DIFF
                              : k.role == ROLE_DIFF_B ? WANC_LORA_DIFF_B
                              : k.role == ROLE_DIFF_M ? WANC_LORA_DIFF_M
                                                      : WANC_LORA_LOWRANK;
        int before = l->nlayers;
        wanc_lora_layer *ly = layer_for(l, k.module, kind, &err);
        if (!ly) break;
        if (l->nlayers > before) {
            bool *nk = realloc(kohya, sizeof *nk * (size_t)l->nlayers);
            if (!nk) {
                err = wanc_error(WANC_ENOMEM, "LoRA: out of memory");
                break;
            }
            kohya = nk;
            kohya[l->nlayers - 1] = k.kohya;
        }
        l->prefixed |= k.prefixed;
        if (k.adapter[0] && !l->adapter[0]) snprintf(l->adapter, sizeof l->adapter, "%s", k.adapter);
        const wanc_tensor **slot = k.role == ROLE_B ? &ly->b : k.role == ROLE_ALPHA ? &ly->alpha : &ly->a;
        if (*slot) {
            err = wanc_error(WANC_EFORMAT, "LoRA %s: %s and another key both give the %s of %s", path, key,
                             k.role == ROLE_B ? "lora_B" : k.role == ROLE_ALPHA ? "alpha" : "lora_A / diff", k.module);
            break;
        }
        *slot = t;
        if (k.role == ROLE_B) ly->key_b = key;
        else if (k.role != ROLE_ALPHA) ly->key_a = key;
    }
    if (!err) detect_dialect(l, kohya);
    free(kohya);
    if (!err) err = finish_layers(l);
    if (err) {
        wanc_lora_close(l);
        return err;
    }
    *out = l;
    return NULL;
}

void wanc_lora_close(wanc_lora *l)
{
    if (!l) return;
    for (int i = 0; i < l->nlayers; i++) {
        free(l->layers[i].module);
        free(l->layers[i].target);
    }
    free(l->layers);
    free(l->stray);
    wanc_weights_close(l->file);
    free(l);
}

const char *wanc_lora_path(const wanc_lora *l) { return wanc_weights_describe(l->file); }

/* ---- binding ------------------------------------------------------------- */

typedef struct {
    char *us;         /* the model name with '.' read as '_' */
    const char *name; /* the model's name */
} us_name;

static int cmp_us(const void *a, const void *b) { return strcmp(((const us_name *)a)->us, ((const us_name *)b)->us); }

static wanc_err build_us_index(const wanc_weights *m, us_name **out, int *n)
{
    int c = wanc_weights_count(m);
    us_name *ix = calloc((size_t)(c ? c : 1), sizeof *ix);
    if (!ix) WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
    for (int i = 0; i < c; i++) {
        ix[i].name = wanc_weights_name(m, i);
        ix[i].us = strdup(ix[i].name);
        if (!ix[i].us) {
            for (int j = 0; j < i; j++) free(ix[j].us);
            free(ix);
            WANC_FAIL(WANC_ENOMEM, "LoRA: out of memory");
        }
        for (char *p = ix[i].us; *p; p++)
            if (*p == '.') *p = '_';
    }
    qsort(ix, (size_t)c, sizeof *ix, cmp_us);
    *out = ix;
    *n = c;
    return NULL;
}

/* Rows × columns of a target as the merge sees it: [shape0, numel/shape0]. */
static int64_t rows_of(const wanc_tensor *t) { return t->ndim ? t->shape[0] : 1; }

static wanc_err check_fit(const wanc_lora *l, const wanc_lora_layer *ly, const wanc_tensor *t)
{
    char st[64], sa[64], sb[64];
    wanc_shape_str(st, sizeof st, t->ndim, t->shape);
    int64_t rows = rows_of(t), cols = rows ? wanc_tensor_numel(t) / rows : 0;
    if (ly->kind != WANC_LORA_LOWRANK) {
        if (wanc_tensor_numel(ly->a) == wanc_tensor_numel(t) && (ly->a->ndim == 0 || ly->a->shape[0] == rows))
            return NULL;
        WANC_FAIL(WANC_ESHAPE, "LoRA %s: shape mismatch: %s is %s but %s is %s", wanc_lora_path(l), ly->key_a,
                  wanc_shape_str(sa, sizeof sa, ly->a->ndim, ly->a->shape), ly->target, st);
    }
    int64_t in = wanc_tensor_numel(ly->a) / ly->rank;
    if (ly->b->shape[0] == rows && in == cols) return NULL;
    WANC_FAIL(WANC_ESHAPE, "LoRA %s: shape mismatch: %s %s · %s %s does not give %s %s", wanc_lora_path(l), ly->key_b,
              wanc_shape_str(sb, sizeof sb, ly->b->ndim, ly->b->shape), ly->key_a,
              wanc_shape_str(sa, sizeof sa, ly->a->ndim, ly->a->shape), ly->target, st);
}

/* The model name a layer changes, or "" when none. */
static void resolve(char *dst, size_t cap, const wanc_lora_layer *ly, const wanc_weights *m, wanc_name_map_fn alt,
                    void *alt_user, const us_name *ix, int nix, bool kohya)
{
    const char *suffix = ly->kind == WANC_LORA_DIFF_B ? "bias" : ly->kind == WANC_LORA_DIFF_M ? "modulation" : "weight";
    dst[0] = 0;
    char cand[600];
    snprintf(cand, sizeof cand, "%s%s%s", ly->module, kohya ? "_" : ".", suffix);
    if (kohya) {
        us_name key = {.us = cand};
        const us_name *hit = ix ? bsearch(&key, ix, (size_t)nix, sizeof *ix, cmp_us) : NULL;
        if (hit) snprintf(dst, cap, "%s", hit->name);
        return;
    }
    if (wanc_weights_has(m, cand)) {
        snprintf(dst, cap, "%s", cand);
        return;
    }
    char mapped[600];
    if (alt && alt(mapped, sizeof mapped, cand, alt_user) && wanc_weights_has(m, mapped))
        snprintf(dst, cap, "%s", mapped);
}

wanc_err wanc_lora_bind(wanc_lora *l, const wanc_weights *model, wanc_name_map_fn alt_map, void *alt_user,
                        bool allow_unmatched, int *unmatched)
{
    us_name *ix = NULL;
    int nix = 0, missing_keys = 0;
    char first[512] = "";
    size_t used = 0;
    wanc_err err = NULL;
    if (unmatched) *unmatched = 0;
    for (int i = 0; i < l->nlayers && !err; i++) {
        wanc_lora_layer *ly = &l->layers[i];
        free(ly->target);
        ly->target = NULL;
        bool kohya = !strncmp(ly->key_a ? ly->key_a : ly->key_b, KOHYA_PREFIX, strlen(KOHYA_PREFIX));
        if (kohya && !ix) TRY_GOTO(err, done, build_us_index(model, &ix, &nix));
        char name[600];
        resolve(name, sizeof name, ly, model, alt_map, alt_user, ix, nix, kohya);
        if (!name[0]) {
            missing_keys += ly->kind == WANC_LORA_LOWRANK ? 2 + (ly->alpha != NULL) : 1;
            if (used < sizeof first - 1)
                used += (size_t)snprintf(first + used, sizeof first - used, "%s%s", used ? ", " : "",
                                         ly->key_a ? ly->key_a : ly->key_b);
            continue;
        }
        ly->target = strdup(name);
        if (!ly->target) TRY_GOTO(err, done, wanc_error(WANC_ENOMEM, "LoRA: out of memory"));
        err = check_fit(l, ly, wanc_weights_find(model, name));
    }
    for (int i = 0; i < l->nstray && !err; i++) {
        missing_keys++;
        if (used < sizeof first - 1)
            used += (size_t)snprintf(first + used, sizeof first - used, "%s%s", used ? ", " : "", l->stray[i]);
    }
    if (!err && missing_keys && !allow_unmatched)
        err = wanc_error(WANC_ENOTFOUND,
                         "LoRA %s (%s dialect): %d keys match no parameter of %s (first: %.300s%s); "
                         "allow_unmatched (--lora-allow-unmatched) ignores them",
                         wanc_lora_path(l), wanc_lora_dialect_name(l->dialect), missing_keys,
                         wanc_weights_describe(model), first, used >= 300 ? "…" : "");
    if (!err && unmatched) *unmatched = missing_keys;
done:
    for (int i = 0; i < nix; i++) free(ix[i].us);
    free(ix);
    return err;
}

bool wanc_lora_layer_is_runtime(const wanc_lora_layer *ly, const wanc_weights *model)
{
    if (!ly->target || ly->kind != WANC_LORA_LOWRANK) return false;
    const wanc_tensor *t = wanc_weights_find(model, ly->target);
    return t && t->ndim == 2;
}

/* ---- description ----------------------------------------------------------- */

/* "blocks.12.self_attn.q" → "blocks.N.self_attn.q" (the block index only) */
static void fold_index(char *dst, size_t cap, const char *module)
{
    size_t o = 0;
    for (const char *p = module; *p && o + 2 < cap;) {
        bool after_blocks = p - module >= 7 && (!strncmp(p - 7, "blocks.", 7) || !strncmp(p - 7, "blocks_", 7));
        if (after_blocks && *p >= '0' && *p <= '9') {
            while (*p >= '0' && *p <= '9') p++;
            dst[o++] = 'N';
        } else {
            dst[o++] = *p++;
        }
    }
    dst[o] = 0;
}

typedef struct {
    char name[256];
    double value;
    int count;
} tally;

static void tally_add(tally *t, int *n, int cap, const char *name, double value)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(t[i].name, name) && t[i].value == value) {
            t[i].count++;
            return;
        }
    if (*n == cap) return;
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    t[*n].value = value;
    t[*n].count = 1;
    (*n)++;
}

void wanc_lora_describe(FILE *out, const wanc_lora *l)
{
    enum { CAP = 256 };
    tally *ranks = calloc(CAP, sizeof *ranks), *alphas = calloc(CAP, sizeof *alphas),
          *mods = calloc(CAP, sizeof *mods);
    int nr = 0, na = 0, nm = 0, nlow = 0, ndiff = 0, ndiffb = 0, ndiffm = 0;
    if (!ranks || !alphas || !mods) goto done;
    for (int i = 0; i < l->nlayers; i++) {
        const wanc_lora_layer *ly = &l->layers[i];
        char folded[256];
        fold_index(folded, sizeof folded, ly->module);
        const char *kind = ly->kind == WANC_LORA_LOWRANK ? "" : ly->kind == WANC_LORA_DIFF ? " (diff)"
                           : ly->kind == WANC_LORA_DIFF_B ? " (diff_b)" : " (diff_m)";
        char label[300];
        snprintf(label, sizeof label, "%s%s", folded, kind);
        tally_add(mods, &nm, CAP, label, 0);
        if (ly->kind == WANC_LORA_DIFF) ndiff++;
        else if (ly->kind == WANC_LORA_DIFF_B) ndiffb++;
        else if (ly->kind == WANC_LORA_DIFF_M) ndiffm++;
        else {
            nlow++;
            tally_add(ranks, &nr, CAP, "", (double)ly->rank);
            tally_add(alphas, &na, CAP, ly->alpha ? "a" : "none", ly->alpha ? ly->scale * (double)ly->rank : 0);
        }
    }
    fprintf(out, "lora: dialect %s (%s%s%s%s%s)\n", wanc_lora_dialect_name(l->dialect),
            l->dialect == WANC_LORA_KOHYA ? "lora_unet_*, lora_down/lora_up"
            : l->dialect == WANC_LORA_DIFFUSERS ? "attn1/attn2, to_q/to_k/to_v/to_out.0, ffn.net"
                                                : "dotted module names",
            l->prefixed ? ", wrapper prefix" : "", l->adapter[0] ? ", adapter '" : "", l->adapter,
            l->adapter[0] ? "'" : "");
    fprintf(out, "lora: layers %d (low-rank %d, diff %d, diff_b %d, diff_m %d), unknown keys %d\n", l->nlayers, nlow,
            ndiff, ndiffb, ndiffm, l->nstray);
    fprintf(out, "lora: rank");
    for (int i = 0; i < nr; i++) fprintf(out, "%s %g (%d layers)", i ? "," : "", ranks[i].value, ranks[i].count);
    fprintf(out, "%s\nlora: alpha", nr ? "" : " -");
    for (int i = 0; i < na; i++) {
        if (!strcmp(alphas[i].name, "none")) fprintf(out, "%s none (%d layers)", i ? "," : "", alphas[i].count);
        else fprintf(out, "%s %g (%d layers)", i ? "," : "", alphas[i].value, alphas[i].count);
    }
    fprintf(out, "%s\nlora: modules (%d kinds):", na ? "" : " -", nm);
    for (int i = 0; i < nm; i++) fprintf(out, "%s %s x%d", i ? "," : "", mods[i].name, mods[i].count);
    fprintf(out, "\n");
done:
    free(ranks);
    free(alphas);
    free(mods);
}
