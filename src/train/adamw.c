/* AdamW + ConstantLR with torch's float32 arithmetic. */
#include "train/adamw.h"

#include <math.h>

void wanc_adamw_init(wanc_adamw *o, double lr, double weight_decay)
{
    *o = (wanc_adamw){
        .base_lr = lr,
        /* ConstantLR's constructor step: lr · factor (a double product) */
        .lr = lr * WANC_CONSTANT_LR_FACTOR,
        .weight_decay = weight_decay,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
    };
}

double wanc_adamw_lr(const wanc_adamw *o) { return o->lr; }

void wanc_adamw_begin_step(wanc_adamw *o) { o->step++; }

void wanc_adamw_update(const wanc_adamw *o, float *p, const float *g, float *m, float *v, int64_t n)
{
    double k = o->step;
    /* Python-side scalars (double), then cast to float32 where a kernel takes them */
    float decay = (float)(1.0 - o->lr * o->weight_decay);
    float b1 = (float)o->beta1, one_m_b1 = (float)(1.0 - o->beta1);
    float b2 = (float)o->beta2, one_m_b2 = (float)(1.0 - o->beta2);
    double bc1 = 1.0 - pow(o->beta1, k), bc2 = 1.0 - pow(o->beta2, k);
    float neg_step = (float)(-(o->lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    float eps = (float)o->eps;
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        float mi = m[i] * b1 + g[i] * one_m_b1;
        float vi = v[i] * b2 + (g[i] * g[i]) * one_m_b2;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi + neg_step * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

void wanc_adamw_end_step(wanc_adamw *o)
{
    o->sched_steps++;
    /* ConstantLR.get_lr(): at last_epoch == total_iters, lr · (1/factor) */
    if (o->sched_steps == WANC_CONSTANT_LR_ITERS) o->lr = o->lr * (1.0 / WANC_CONSTANT_LR_FACTOR);
}
