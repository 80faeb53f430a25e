/* See cli_conds.h. */
#include "cli_conds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_conds_init(cli_conds *cc)
{
    memset(cc, 0, sizeof *cc);
    cc->motion_bucket_id = NAN;
}

static wanc_err add(cli_conds *cc, wanc_cond c)
{
    if (cc->n == CLI_MAX_CONDS) WANC_FAIL(WANC_EINVAL, "more than %d conditioning inputs", CLI_MAX_CONDS);
    cc->conds[cc->n++] = c;
    return NULL;
}

wanc_err cli_conds_build(cli_conds *cc, wanc_gen_params *p)
{
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
