/* `wanc train`'s dataset metadata (--dataset_metadata_path): CSV, JSON list
 * and JSONL records, the column checks, and loading an item through the data
 * operator. The first byte picks the format and the options; the rest is the
 * metadata file. The folder holds the data files rows may name: clip.mp4
 * (5 frames of 32x32) and still.png (32x32). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/image_io.h"
#include "io/video_out.h"
#include "train/dataset.h"

static void write_media(void)
{
    static int done;
    if (done) return;
    done = 1;
    enum { T = 5, H = 32, W = 32 };
    static uint8_t px[T * H * W * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 + i / 97);
    char p[512];
    snprintf(p, sizeof p, "%s/clip.mp4", fuzz_dir());
    fuzz_ignore(wanc_video_write_mp4(p, px, T, H, W, 8, 8));
    snprintf(p, sizeof p, "%s/still.png", fuzz_dir());
    fuzz_ignore(wanc_png_write(p, px, H, W));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    write_media();
    /* bits 0-1: csv, json, jsonl, csv; bit 2: fixed 16x16 size, else dynamic;
     * bit 3: --data_file_keys image only; bit 4: num_frames 5, else 1;
     * bits 5-6: load no item, the first, the last, both */
    static const char *const names[4] = {"meta.csv", "meta.json", "meta.jsonl", "meta.CSV"};
    const uint8_t pick = data[0];
    const char *meta = fuzz_file(names[pick & 3], data + 1, size - 1);
    if (!meta) return 0;
    char meta_path[512];
    snprintf(meta_path, sizeof meta_path, "%s", meta);
    wanc_dataset_options o = {.base_path = fuzz_dir(), .metadata_path = meta_path, .repeat = 2,
                              .data_file_keys = pick & 8 ? "image" : NULL,
                              .height = pick & 4 ? 16 : 0, .width = pick & 4 ? 16 : 0,
                              .max_pixels = 512, .num_frames = pick & 16 ? 5 : 1};
    wanc_dataset *d = NULL;
    wanc_err err = wanc_dataset_open(&d, &o);
    if (err) {
        fuzz_ignore(err);
        return 0;
    }
    /* every row has what the checks promise */
    const int rows = wanc_dataset_rows(d);
    for (int r = 1; r <= rows; r++) {
        const char *prompt = wanc_dataset_value(d, r, "prompt");
        if (!prompt || !prompt[0]) abort();
        (void)wanc_dataset_value(d, r, "video");
        (void)wanc_dataset_value(d, r, "image");
    }
    if (wanc_dataset_len(d) != (int64_t)rows * 2) abort();
    const int64_t items[2] = {pick & 32 ? 0 : -1, pick & 64 ? wanc_dataset_len(d) - 1 : -1};
    for (int k = 0; k < 2; k++) {
        if (items[k] < 0) continue;
        wanc_dataset_item it;
        err = wanc_dataset_get(d, items[k], &it);
        if (!err) {
            if (it.T < 1 || it.H < 16 || it.W < 16 || !it.prompt || !it.frames) abort();
            volatile uint8_t last = it.frames[(size_t)it.T * it.H * it.W * 3 - 1];
            (void)last;
        }
        fuzz_ignore(err);
        wanc_dataset_item_free(&it);
    }
    wanc_dataset_free(d);
    return 0;
}
