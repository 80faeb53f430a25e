/* Finding the model files of a release folder by their released names. */
#ifndef WANC_PIPELINE_MODEL_FILES_H
#define WANC_PIPELINE_MODEL_FILES_H

#include <limits.h>
#include <stdbool.h>

#include "core/error.h"

typedef struct wanc_model_paths {
    char dit[PATH_MAX];       /* a file, an index.json or a glob pattern */
    char t5[PATH_MAX];
    char vae[PATH_MAX];
    char tokenizer[PATH_MAX]; /* a folder */
} wanc_model_paths;

/* Each missing file is a WANC_ENOTFOUND error naming the pattern looked for. */
wanc_err wanc_find_model_files(wanc_model_paths *out, const char *dir);

#endif
