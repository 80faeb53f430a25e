/* The run's conditioning inputs (wanc_gen_params.conds, a tagged list) sorted
 * by kind, checked once before any work: unknown kinds, a non-repeatable kind
 * given twice, empty media and non-finite values are named errors. */
#ifndef WANC_PIPELINE_CONDS_H
#define WANC_PIPELINE_CONDS_H

#include "wanc.h"

#define WANC_MAX_VACE_REFS 8

typedef struct wanc_run_conds {
    const wanc_cond *motion_bucket_id, *control_video, *reference_image, *camera;
    const wanc_cond *vace_video, *vace_mask, *vace_scale;
    const wanc_cond *vace_refs[WANC_MAX_VACE_REFS];
    int n_vace_refs;
} wanc_run_conds;

wanc_err wanc_conds_gather(wanc_run_conds *rc, const wanc_gen_params *prm);
/* The CLI/API name of a kind ("--motion-bucket-id", ...), for messages. */
const char *wanc_cond_flag(wanc_cond_kind kind);

#endif
