/* Sorting and checking the run's conditioning inputs (see conds.h). */
#include "pipeline/conds.h"

#include <math.h>
#include <string.h>

const char *wanc_cond_flag(wanc_cond_kind kind)
{
    switch (kind) {
    case WANC_COND_MOTION_BUCKET_ID: return "--motion-bucket-id";
    case WANC_COND_CONTROL_VIDEO: return "--control-video";
    case WANC_COND_REFERENCE_IMAGE: return "--reference-image";
    case WANC_COND_CAMERA: return "--camera-direction";
    case WANC_COND_VACE_VIDEO: return "--vace-video";
    case WANC_COND_VACE_MASK: return "--vace-mask";
    case WANC_COND_VACE_REFERENCE_IMAGE: return "--vace-reference-image";
    case WANC_COND_VACE_SCALE: return "--vace-scale";
    }
    return "an unknown conditioning input";
}

static bool is_media(wanc_cond_kind k)
{
    return k == WANC_COND_CONTROL_VIDEO || k == WANC_COND_REFERENCE_IMAGE || k == WANC_COND_VACE_VIDEO ||
           k == WANC_COND_VACE_MASK || k == WANC_COND_VACE_REFERENCE_IMAGE;
}

static bool is_image(wanc_cond_kind k) { return k == WANC_COND_REFERENCE_IMAGE || k == WANC_COND_VACE_REFERENCE_IMAGE; }

wanc_err wanc_conds_gather(wanc_run_conds *rc, const wanc_gen_params *prm)
{
    memset(rc, 0, sizeof *rc);
    if (prm->n_conds < 0 || (prm->n_conds && !prm->conds))
        WANC_FAIL(WANC_EINVAL, "conditioning inputs: %d entries at %p", prm->n_conds, (const void *)prm->conds);
    for (int i = 0; i < prm->n_conds; i++) {
        const wanc_cond *c = &prm->conds[i];
        const char *flag = wanc_cond_flag(c->kind);
        const wanc_cond **slot = NULL;
        switch (c->kind) {
        case WANC_COND_MOTION_BUCKET_ID: slot = &rc->motion_bucket_id; break;
        case WANC_COND_CONTROL_VIDEO: slot = &rc->control_video; break;
        case WANC_COND_REFERENCE_IMAGE: slot = &rc->reference_image; break;
        case WANC_COND_CAMERA: slot = &rc->camera; break;
        case WANC_COND_VACE_VIDEO: slot = &rc->vace_video; break;
        case WANC_COND_VACE_MASK: slot = &rc->vace_mask; break;
        case WANC_COND_VACE_SCALE: slot = &rc->vace_scale; break;
        case WANC_COND_VACE_REFERENCE_IMAGE:
            if (rc->n_vace_refs == WANC_MAX_VACE_REFS)
                WANC_FAIL(WANC_EINVAL, "%s given more than %d times", flag, WANC_MAX_VACE_REFS);
            rc->vace_refs[rc->n_vace_refs++] = c;
            break;
        default: WANC_FAIL(WANC_EINVAL, "conditioning input %d: unknown kind %d", i, (int)c->kind);
        }
        if (slot && *slot) WANC_FAIL(WANC_EINVAL, "%s given twice", flag);
        if (slot) *slot = c;
        if (!isfinite(c->value)) WANC_FAIL(WANC_EINVAL, "%s: value %g is not finite", flag, c->value);
        if (is_media(c->kind)) {
            const wanc_media *m = &c->media;
            if (!m->rgb || m->frames < 1 || m->height < 1 || m->width < 1 ||
                (int64_t)m->height * m->width > (int64_t)1 << 28)
                WANC_FAIL(WANC_EINVAL, "%s: %d frames of %dx%d pixels: expected a non-empty RGB %s", flag, m->frames,
                          m->width, m->height, is_image(c->kind) ? "image" : "video");
        }
        if (c->n_values < 0 || (c->n_values && !c->values))
            WANC_FAIL(WANC_EINVAL, "%s: %d values at %p", flag, c->n_values, (const void *)c->values);
        for (int j = 0; j < c->n_values; j++)
            if (!isfinite(c->values[j])) WANC_FAIL(WANC_EINVAL, "%s: value %d is not finite", flag, j);
    }
    return NULL;
}
