/* `wanc encode-prompt` (include/wanc.h): tokenizer → UMT5 → prompt_emb, the
 * path of DiffSynth's WanVideoUnit_PromptEmbedder. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/threads.h"
#include "io/weights.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "wanc.h"

static wanc_err print_ids(FILE *out, const int64_t *ids, int n)
{
    fprintf(out, "ids:");
    for (int i = 0; i < n; i++) fprintf(out, " %" PRId64, ids[i]);
    fprintf(out, "\ntokens: %d\n", n);
    return ferror(out) ? wanc_error(WANC_EIO, "writing the ids failed") : NULL;
}

static wanc_err encode_and_write(const wanc_encode_prompt_params *p, const int64_t *ids, const int64_t *mask)
{
    wanc_umt5 *m = NULL;
    TRYC(wanc_umt5_open(&m, p->t5_path, wanc_backend_cpu()), "%s", p->t5_path);
    int64_t L = WANC_WAN_TEXT_LEN, D = wanc_umt5_get_config(m)->dim;
    float *emb = malloc((size_t)(L * D) * sizeof(float));
    wanc_err err = emb ? NULL : wanc_error(WANC_ENOMEM, "out of memory for a [1, %lld, %lld] embedding", (long long)L,
                                           (long long)D);
    /* The pipeline's result: rows >= mask.sum() are zero. */
    wanc_umt5_opts o = {.bf16 = p->bf16 != 0};
    if (!err) err = wanc_umt5_encode(m, emb, ids, mask, L, &o);
    if (!err) {
        wanc_tensor t = wanc_tensor_wrap(emb, WANC_F32, 3, (int64_t[]){1, L, D});
        const char *meta[] = {"format", "pt", "compute_dtype", p->bf16 ? "bf16" : "f32", NULL};
        err = wanc_safetensors_write(p->out_path, 1, (const char *[]){"prompt_emb"}, &t, meta);
    }
    free(emb);
    wanc_umt5_free(m);
    return err;
}

wanc_err wanc_encode_prompt(FILE *out, const wanc_encode_prompt_params *p)
{
    if (!p->tokenizer_dir || !p->prompt) WANC_FAIL(WANC_EINVAL, "encode-prompt: a tokenizer and a prompt are required");
    if (p->out_path && !p->t5_path) WANC_FAIL(WANC_EINVAL, "encode-prompt: --out needs a T5 checkpoint (--t5)");
    if (p->threads > 0) wanc_threads_set(p->threads);
    wanc_tokenizer *tok;
    TRY(wanc_tokenizer_load(&tok, p->tokenizer_dir));
    int64_t ids[WANC_WAN_TEXT_LEN], mask[WANC_WAN_TEXT_LEN];
    uint8_t mask8[WANC_WAN_TEXT_LEN];
    int n = 0;
    wanc_err err = wanc_wan_prompt_ids(tok, p->prompt, ids, mask8, &n);
    wanc_tokenizer_free(tok);
    TRY(err);
    for (int i = 0; i < WANC_WAN_TEXT_LEN; i++) mask[i] = mask8[i];
    if (p->print_ids) TRY(print_ids(out, ids, n));
    if (p->out_path) TRY(encode_and_write(p, ids, mask));
    return NULL;
}
