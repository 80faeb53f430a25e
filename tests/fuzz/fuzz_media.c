/* Image and video input (the FFmpeg libraries and libpng are not
 * instrumented; what is checked is wanc's side: the reader loop, the frame
 * buffer, the size limits). The first byte picks the reader. */
#include <stdlib.h>

#include "fuzz.h"
#include "io/image_io.h"
#include "io/video_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = fuzz_file("in.media", data + 1, size - 1);
    if (!p) return 0;
    uint8_t *px = NULL;
    int T = 0, H = 0, W = 0;
    if (data[0] & 1) fuzz_ignore(wanc_image_read(p, &px, &H, &W));
    else fuzz_ignore(wanc_video_read(p, &px, &T, &H, &W, 4));
    /* a result is as large as it says */
    if (px && H > 0 && W > 0) {
        volatile uint8_t last = px[(size_t)(T > 0 ? T : 1) * H * W * 3 - 1];
        (void)last;
    }
    free(px);
    return 0;
}
