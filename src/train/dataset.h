/* The training dataset as DiffSynth's UnifiedDataset reads it for Wan
 * (examples/wanvideo/model_training/train.py with default_video_operator).
 *
 * Metadata (`--dataset_metadata_path`): a CSV file with a header row
 * (pandas' reading: comma separated, "quoted" fields with "" escapes and
 * newlines inside quotes, blank lines skipped, an empty field is absent), a
 * .json file holding a list of objects, or a .jsonl file with one object per
 * line. Each record needs a `prompt` and a `video` (or, without a `video`
 * column, an `image`) naming a file relative to `--dataset_base_path`
 * (os.path.join: an absolute path stays as it is). Other columns are kept
 * for the extra inputs. Rows are numbered from 1 in errors (the CSV header
 * and blank lines are not rows).
 *
 * Item k of an epoch is row k mod rows; the dataset's length is
 * rows · `--dataset_repeat`.
 *
 * Loading one item (the main data operator):
 *   - by the file's extension: jpg, jpeg, png, webp, bmp are one-frame videos;
 *     gif, mp4, avi, mov, wmv, mkv, flv, webm are decoded with FFmpeg;
 *   - frames 0..n−1 with n = `--num_frames`, or, for a shorter video, the
 *     largest 4k+1 it has (LoadVideo.get_num_frames);
 *   - the size: `--height` x `--width` when both are given, else dynamic
 *     (ImageCropAndResize.get_height_width on the first frame): frames over
 *     `--max_pixels` shrink by s = sqrt(W·H / max_pixels) to int(H/s) x int(W/s),
 *     then both sides round down to multiples of 16;
 *   - each frame: Pillow BILINEAR resize to cover, centre crop
 *     (wanc_cover_resize_center_crop).
 * Every failure is a named error naming the metadata file and row and the
 * data file: a missing or unreadable file, an unsupported extension, an
 * empty prompt, missing columns.
 */
#ifndef WANC_TRAIN_DATASET_H
#define WANC_TRAIN_DATASET_H

#include <stdint.h>

#include "core/error.h"

typedef struct wanc_dataset_options {
    const char *base_path;      /* --dataset_base_path ("" or NULL: the current folder) */
    const char *metadata_path;  /* --dataset_metadata_path (.csv, .json, .jsonl) */
    const char *data_file_keys; /* --data_file_keys, comma-separated (NULL: "image,video") */
    int repeat;                 /* --dataset_repeat (1) */
    int height, width;          /* 0, 0: dynamic resolution */
    int64_t max_pixels;         /* --max_pixels (1024·1024) */
    int num_frames;             /* --num_frames (81), 4k+1 */
} wanc_dataset_options;

#define WANC_DATASET_DEFAULT_MAX_PIXELS (1024 * 1024)
#define WANC_DATASET_DEFAULT_NUM_FRAMES 81
#define WANC_DATASET_DEFAULT_FILE_KEYS "image,video"

typedef struct wanc_dataset wanc_dataset;

/* Read and check the metadata: every row has a non-empty prompt and a data
 * file that exists. Named errors ("metadata.csv row 3: ...") before any work. */
wanc_err wanc_dataset_open(wanc_dataset **out, const wanc_dataset_options *o);
void wanc_dataset_free(wanc_dataset *d);

int wanc_dataset_rows(const wanc_dataset *d);
/* rows · repeat: the items of one epoch */
int64_t wanc_dataset_len(const wanc_dataset *d);
/* A row's value for a column (1-based row), NULL when absent or empty. */
const char *wanc_dataset_value(const wanc_dataset *d, int row, const char *column);

/* One loaded item: frames uint8 [T, H, W, 3] after the data operator. */
typedef struct wanc_dataset_item {
    int row;            /* 1-based metadata row */
    const char *prompt; /* owned by the dataset */
    char *file;         /* the data file's path (base_path joined) */
    uint8_t *frames;
    int T, H, W;
} wanc_dataset_item;

/* Load item `index` (0 <= index < wanc_dataset_len). */
wanc_err wanc_dataset_get(const wanc_dataset *d, int64_t index, wanc_dataset_item *item);
void wanc_dataset_item_free(wanc_dataset_item *item);

/* The frame count LoadVideo takes from a video of `available` frames when
 * `want` are asked for: want, or the largest 4k+1 <= available (>= 1). */
int wanc_dataset_frame_count(int want, int available);
/* ImageCropAndResize.get_height_width: the target size of an in_h x in_w
 * frame (height, width 0: dynamic with max_pixels; sides multiples of 16). */
void wanc_dataset_target_size(int *h, int *w, int in_h, int in_w, int height, int width, int64_t max_pixels);

#endif
