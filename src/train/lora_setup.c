/* LoRA targets and peft's initial state. */
#include "train/lora_setup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/weights.h"

bool wanc_lora_is_target(const char *name, const char *targets)
{
    size_t nl = strlen(name);
    const char *p = targets;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t tl = end ? (size_t)(end - p) : strlen(p);
        if (tl > 0 && tl <= nl && memcmp(name + nl - tl, p, tl) == 0 && (tl == nl || name[nl - tl - 1] == '.'))
            return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

void wanc_torch_uniform_f32(wanc_torch_gen *g, float *out, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        float u = (float)(wanc_torch_gen_u32(g) & ((1u << 24) - 1)) * (1.0f / 16777216.0f);
        out[i] = u * (hi - lo) + lo;
    }
}

void wanc_lora_init(wanc_torch_gen *g, float *A, float *B, int64_t rank, int64_t in, int64_t out)
{
    /* kaiming_uniform_(a=√5): gain = √(2 / (1 + a²)) = √(1/3), bound = √3·gain/√fan_in = 1/√fan_in,
     * in double, in torch's order */
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1.0 + a * a));
    double std = gain / sqrt((double)in);
    float bound = (float)(sqrt(3.0) * std);
    wanc_torch_uniform_f32(g, A, rank * in, -bound, bound);
    memset(B, 0, (size_t)(out * rank) * sizeof(float));
}

wanc_err wanc_lora_save(const char *path, int n, const char *const *names, const float *const *data,
                        const int64_t (*shapes)[2], wanc_dtype dtype)
{
    if (dtype != WANC_F32 && dtype != WANC_BF16)
        WANC_FAIL(WANC_EINVAL, "LoRA save %s: dtype %s, expected F32 or BF16", path, wanc_dtype_name(dtype));
    wanc_tensor *t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    if (!t) WANC_FAIL(WANC_ENOMEM, "LoRA save %s: out of memory", path);
    wanc_err err = NULL;
    for (int i = 0; i < n && !err; i++) {
        err = wanc_tensor_alloc(&t[i], dtype, 2, shapes[i]);
        if (err) break;
        int64_t m = shapes[i][0] * shapes[i][1];
        if (dtype == WANC_F32) memcpy(t[i].data, data[i], (size_t)m * sizeof(float));
        else
            for (int64_t j = 0; j < m; j++) ((uint16_t *)t[i].data)[j] = wanc_f32_to_bf16(data[i][j]);
    }
    static const char *const meta[] = {"format", "pt", NULL};
    if (!err) err = wanc_safetensors_write(path, n, names, t, meta);
    for (int i = 0; i < n; i++) wanc_tensor_free(&t[i]);
    free(t);
    return err;
}
