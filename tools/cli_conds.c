/* See cli_conds.h. */
#include "cli_conds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_conds_init(cli_conds *cc)
{
    memset(cc, 0, sizeof *cc);
    cc->motion_bucket_id = NAN;
    cc->camera_speed = 1.0 / 54;
    cc->vace_scale = NAN;
}

static wanc_err add(cli_conds *cc, wanc_cond c)
{
    if (cc->n == CLI_MAX_CONDS) WANC_FAIL(WANC_EINVAL, "more than %d conditioning inputs", CLI_MAX_CONDS);
    cc->conds[cc->n++] = c;
    return NULL;
}

/* A media flag's file, decoded (kept in cc->owned). */
static wanc_err add_media(cli_conds *cc, wanc_cond_kind kind, const char *path, const char *flag)
{
    if (!path) return NULL;
    if (cc->n == CLI_MAX_CONDS) WANC_FAIL(WANC_EINVAL, "more than %d conditioning inputs", CLI_MAX_CONDS);
    wanc_media m = {0};
    uint8_t *rgb = NULL;
    TRYC(wanc_video_load(path, &rgb, &m.frames, &m.height, &m.width), "%s", flag);
    cc->owned[cc->n] = rgb;
    m.rgb = rgb;
    return add(cc, (wanc_cond){.kind = kind, .media = m});
}

wanc_err cli_conds_build(cli_conds *cc, wanc_gen_params *p)
{
    TRY(add_media(cc, WANC_COND_CONTROL_VIDEO, cc->control_video, "--control-video"));
    TRY(add_media(cc, WANC_COND_REFERENCE_IMAGE, cc->reference_image, "--reference-image"));
    TRY(add_media(cc, WANC_COND_VACE_VIDEO, cc->vace_video, "--vace-video"));
    TRY(add_media(cc, WANC_COND_VACE_MASK, cc->vace_mask, "--vace-mask"));
    for (int i = 0; i < cc->vace_refs.n; i++)
        TRY(add_media(cc, WANC_COND_VACE_REFERENCE_IMAGE, cc->vace_refs.v[i], "--vace-reference-image"));
    if (!isnan(cc->vace_scale)) TRY(add(cc, (wanc_cond){.kind = WANC_COND_VACE_SCALE, .value = (float)cc->vace_scale}));
    if (cc->camera_origin && !cc->camera_direction)
        WANC_FAIL(WANC_EINVAL, "--camera-origin without --camera-direction");
    if (cc->camera_direction) {
        int n = 0;
        if (cc->camera_origin) {
            const char *s = cc->camera_origin;
            for (char *end; n < 19 && *s; n++) {
                cc->origin[n] = strtof(s, &end);
                if (end == s || (*end && *end != ',')) WANC_FAIL(WANC_EINVAL, "--camera-origin: '%s' is not a number list", s);
                s = *end ? end + 1 : end;
            }
            if (n != 19 || *s) WANC_FAIL(WANC_EINVAL, "--camera-origin: expected 19 comma-separated values");
        }
        TRY(add(cc, (wanc_cond){.kind = WANC_COND_CAMERA, .text = cc->camera_direction, .value = (float)cc->camera_speed,
                                .values = n ? cc->origin : NULL, .n_values = n}));
    }
    if (!isnan(cc->motion_bucket_id))
        TRY(add(cc, (wanc_cond){.kind = WANC_COND_MOTION_BUCKET_ID, .value = (float)cc->motion_bucket_id}));
    p->conds = cc->conds;
    p->n_conds = cc->n;
    return NULL;
}

void cli_conds_free(cli_conds *cc)
{
    for (int i = 0; i < CLI_MAX_CONDS; i++) free(cc->owned[i]);
    memset(cc->owned, 0, sizeof cc->owned);
}
