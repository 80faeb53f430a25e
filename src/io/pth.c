#include "io/weights_internal.h"
wanc_err wanc_pth_read(wanc_weights *w, const char *path)
{
    (void)w;
    WANC_FAIL(WANC_EUNSUPPORTED, "%s: PyTorch zip checkpoints are not supported yet", path);
}
