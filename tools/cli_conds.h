/* `wanc generate`'s conditioning flags (speed control, Fun control / camera,
 * VACE) → the tagged list wanc_gen_params.conds. The flag table of
 * generate.c points into a cli_conds; cli_conds_build then reads the media
 * files and fills the list. */
#ifndef WANC_TOOLS_CLI_CONDS_H
#define WANC_TOOLS_CLI_CONDS_H

#include "wanc.h"

#define CLI_MAX_CONDS 16

typedef struct {
    const char *v[8];
    int n;
} cli_list; /* a repeatable flag's values */

typedef struct {
    double motion_bucket_id;         /* NAN: not given */
    const char *control_video, *reference_image; /* files, or NULL */
    const char *camera_direction, *camera_origin; /* NULL: none / DiffSynth's default */
    double camera_speed;             /* DiffSynth's 1/54 */
    const char *vace_video, *vace_mask;
    cli_list vace_refs;
    double vace_scale;               /* NAN: not given (DiffSynth's 1.0) */
    /* built */
    wanc_cond conds[CLI_MAX_CONDS];
    int n;
    uint8_t *owned[CLI_MAX_CONDS];   /* decoded media */
    float origin[19];
} cli_conds;

void cli_conds_init(cli_conds *cc);
/* Read the media files and fill p->conds / p->n_conds (pointing into cc). */
wanc_err cli_conds_build(cli_conds *cc, wanc_gen_params *p);
void cli_conds_free(cli_conds *cc);

#endif
