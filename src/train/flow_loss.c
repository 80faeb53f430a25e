/* FlowMatchSFTLoss: x_t, target, the DiT, the weighted MSE and its gradient. */
#include "train/flow_loss.h"

#include <stdlib.h>
#include <string.h>

wanc_err wanc_sft_step(wanc_dit_trainer *tr, const wanc_train_sched *ts, const wanc_sft_inputs *in,
                       wanc_sft_outputs *out, bool backward)
{
    if (!in->x0 || !in->noise || !in->context || in->C <= 0 || in->F <= 0 || in->H <= 0 || in->W <= 0)
        WANC_FAIL(WANC_EINVAL, "training step: x0, noise, context and positive sizes are required");
    if (in->first_frame && in->F < 2)
        WANC_FAIL(WANC_EINVAL, "training step: a first frame needs at least 2 latent frames (the loss skips frame 0)");
    TRY(wanc_train_timestep_at(ts, in->timestep_id, in->bf16_timestep, &out->ts));
    const int64_t HW = in->H * in->W, FHW = in->F * HW, n = in->C * FHW;
    float *buf = malloc((size_t)(4 * n) * sizeof(float));
    if (!buf) WANC_FAIL(WANC_ENOMEM, "training step: out of memory for %lld latent values", (long long)n);
    float *x_t = buf, *target = buf + n, *pred = buf + 2 * n, *dpred = buf + 3 * n;
    wanc_err err = NULL;
    const float sigma = out->ts.sigma, w = out->ts.weight;

    wanc_train_noisy_and_target(x_t, target, in->x0, in->noise, sigma, n);
    if (in->first_frame)
        for (int64_t c = 0; c < in->C; c++) memcpy(x_t + c * FHW, in->first_frame + c * HW, (size_t)HW * sizeof(float));
    wanc_dit_train_inputs din = {.latents = x_t, .F = in->F, .H = in->H, .W = in->W, .timestep = out->ts.t,
                                 .zero_first_frame = in->first_frame != NULL, .context = in->context,
                                 .y = in->y, .y_c = in->y_c, .clip = in->clip, .clip_len = in->clip_len,
                                 .ctx_len = in->ctx_len, .observe = in->observe, .observe_user = in->observe_user};
    TRY_GOTO(err, done, wanc_dit_trainer_forward(tr, &din, pred));

    /* mean over the frames in the loss (TI2V: 1..F-1) */
    const int64_t f0 = in->first_frame ? 1 : 0, count = in->C * (in->F - f0) * HW;
    double sum = 0;
    for (int64_t c = 0; c < in->C; c++)
        for (int64_t i = f0 * HW; i < FHW; i++) {
            double d = (double)pred[c * FHW + i] - target[c * FHW + i];
            sum += d * d;
        }
    out->mse = (float)(sum / (double)count);
    out->loss = out->mse * w;
    if (out->x_t) memcpy(out->x_t, x_t, (size_t)n * sizeof(float));
    if (out->target) memcpy(out->target, target, (size_t)n * sizeof(float));
    if (out->pred) memcpy(out->pred, pred, (size_t)n * sizeof(float));
    if (!backward) goto done;

    /* d loss / d pred = w · 2 (pred - target) / count on the frames in the loss */
    float k = (float)(2.0 * (double)w / (double)count);
    for (int64_t c = 0; c < in->C; c++)
        for (int64_t i = 0; i < FHW; i++)
            dpred[c * FHW + i] = i < f0 * HW ? 0.0f : k * (pred[c * FHW + i] - target[c * FHW + i]);
    float *dxt = x_t; /* x_t is no longer needed */
    bool want_dx = out->d_x_t || out->d_x0 || out->d_first_frame;
    TRY_GOTO(err, done, wanc_dit_trainer_backward(tr, dpred, want_dx ? dxt : NULL, out->d_context));
    if (out->d_x_t) memcpy(out->d_x_t, dxt, (size_t)n * sizeof(float));
    if (out->d_first_frame)
        for (int64_t c = 0; c < in->C; c++) memcpy(out->d_first_frame + c * HW, dxt + c * FHW, (size_t)HW * sizeof(float));
    if (out->d_x0) {
        /* x0 reaches x_t (times 1 - sigma) and the target (times -1, whose
         * gradient is -dpred); frame 0 of a TI2V sample reaches neither */
        float keep = 1.0f - sigma;
        for (int64_t c = 0; c < in->C; c++)
            for (int64_t i = 0; i < FHW; i++)
                out->d_x0[c * FHW + i] = i < f0 * HW ? 0.0f : keep * dxt[c * FHW + i] + dpred[c * FHW + i];
    }
done:
    free(buf);
    return err;
}
