/* The training dataset: metadata, rows, and the video data operator (see dataset.h). */
#include "train/dataset.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/image_io.h"
#include "io/read_file.h"
#include "io/video_out.h"
#include "vision/resample.h"

#define DIVISION 16                     /* height/width_division_factor of train.py */
/* Bounds on what a metadata file can make wanc allocate or loop over (a real
 * one has a few columns and up to thousands of rows). The table holds a slot
 * per row and column; the cell bound keeps a sparse hostile file (a new
 * column on every row) from asking for rows x columns slots. */
#define METADATA_MAX_BYTES (256 << 20)  /* a metadata file larger than this is not one */
#define MAX_ROWS 10000000
#define MAX_COLUMNS 1024
#define MAX_CELLS ((int64_t)1 << 24)    /* rows x allocated column slots: 128 MiB of slots */
#define MAX_RECORD_VALUES 65536         /* JSON values in one record (cJSON builds a node of each) */
#define COLUMN_HASH (2 * MAX_COLUMNS)   /* open addressing, at most half full */

typedef struct {
    char **values; /* [n_columns], NULL where absent or empty */
} row_t;

struct wanc_dataset {
    wanc_dataset_options o;
    char *base_path, *metadata_path;
    const char *metadata_name; /* the file's name, for messages */
    int n_columns, cap_columns;
    char **columns;
    int column_hash[COLUMN_HASH]; /* column index + 1 by name hash, 0: empty */
    int n_rows, cap_rows;
    row_t *rows;
    int file_column;   /* the column holding the data file: video, else image */
    int prompt_column;
};

/* ---- building the table ------------------------------------------------------ */

/* A JSON record names its columns on every row: a hashed lookup keeps that
 * linear in the file, whatever the column count. */
static unsigned column_slot(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return h % COLUMN_HASH;
}

/* The hash slot holding `name`, or the empty slot where it would go. */
static unsigned column_find(const wanc_dataset *d, const char *name)
{
    unsigned s = column_slot(name);
    while (d->column_hash[s] && strcmp(d->columns[d->column_hash[s] - 1], name)) s = (s + 1) % COLUMN_HASH;
    return s;
}

static int column_index(const wanc_dataset *d, const char *name)
{
    return d->column_hash[column_find(d, name)] - 1;
}

static wanc_err add_column(wanc_dataset *d, const char *name, int *index)
{
    if ((*index = column_index(d, name)) >= 0) return NULL;
    if (d->n_columns >= MAX_COLUMNS)
        WANC_FAIL(WANC_EFORMAT, "%s: more than %d columns", d->metadata_name, MAX_COLUMNS);
    if (d->n_columns == d->cap_columns) {
        int cap = d->cap_columns ? 2 * d->cap_columns : 8;
        if ((int64_t)d->n_rows * cap > MAX_CELLS)
            WANC_FAIL(WANC_EFORMAT, "%s: %d rows of %d columns: more than %lld cells", d->metadata_name, d->n_rows,
                      d->n_columns + 1, (long long)MAX_CELLS);
        char **c = realloc(d->columns, sizeof *c * (size_t)cap);
        if (!c) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
        d->columns = c;
        d->cap_columns = cap;
        for (int r = 0; r < d->n_rows; r++) { /* existing rows grow a column */
            char **v = realloc(d->rows[r].values, sizeof *v * (size_t)cap);
            if (!v) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
            for (int k = d->n_columns; k < cap; k++) v[k] = NULL;
            d->rows[r].values = v;
        }
    }
    if (!(d->columns[d->n_columns] = strdup(name))) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
    d->column_hash[column_find(d, name)] = d->n_columns + 1;
    *index = d->n_columns++;
    return NULL;
}

static wanc_err add_row(wanc_dataset *d)
{
    if (d->n_rows >= MAX_ROWS) WANC_FAIL(WANC_EFORMAT, "%s: more than %d rows", d->metadata_name, MAX_ROWS);
    if ((int64_t)(d->n_rows + 1) * (d->cap_columns > 0 ? d->cap_columns : 1) > MAX_CELLS)
        WANC_FAIL(WANC_EFORMAT, "%s: %d rows of %d columns: more than %lld cells", d->metadata_name, d->n_rows + 1,
                  d->n_columns, (long long)MAX_CELLS);
    if (d->n_rows == d->cap_rows) {
        int cap = d->cap_rows ? 2 * d->cap_rows : 16;
        row_t *r = realloc(d->rows, sizeof *r * (size_t)cap);
        if (!r) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
        d->rows = r;
        d->cap_rows = cap;
    }
    int cap = d->cap_columns > 0 ? d->cap_columns : 1;
    d->rows[d->n_rows].values = calloc((size_t)cap, sizeof(char *));
    if (!d->rows[d->n_rows].values) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
    d->n_rows++;
    return NULL;
}

/* Set column `col` of the last row (value copied; "" stays absent, as pandas' NaN). */
static wanc_err set_value(wanc_dataset *d, int col, const char *value, size_t len)
{
    if (len == 0) return NULL;
    char *v = malloc(len + 1);
    if (!v) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
    memcpy(v, value, len);
    v[len] = 0;
    char **slot = &d->rows[d->n_rows - 1].values[col];
    free(*slot);
    *slot = v;
    return NULL;
}

/* ---- CSV ----------------------------------------------------------------------- */

/* One field starting at *p; its unquoted text in buf. *p moves past the field
 * (to the ',' / newline / end). Returns false on an unterminated quote. */
static bool csv_field(const char **p, const char *end, char **buf, size_t *len, size_t *cap, int *line)
{
    const char *s = *p;
    *len = 0;
    bool quoted = s < end && *s == '"';
    if (quoted) s++;
    for (;;) {
        if (s >= end) {
            if (quoted) return false;
            break;
        }
        char c = *s;
        if (quoted) {
            if (c == '"') {
                if (s + 1 < end && s[1] == '"') s++; /* "" is a quote */
                else {
                    quoted = false;
                    s++;
                    continue;
                }
            } else if (c == '\n') (*line)++;
        } else if (c == ',' || c == '\n' || c == '\r') break;
        if (*len + 2 > *cap) {
            size_t nc = *cap ? 2 * *cap : 64;
            char *nb = realloc(*buf, nc);
            if (!nb) return false;
            *buf = nb;
            *cap = nc;
        }
        (*buf)[(*len)++] = *s++;
    }
    *p = s;
    return true;
}

static wanc_err parse_csv(wanc_dataset *d, const char *text, size_t n)
{
    const char *p = text, *end = text + n;
    if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* a UTF-8 byte order mark */
    /* values are C strings: a NUL would cut one short (an "empty" prompt past the check) */
    const char *nul = memchr(p, 0, (size_t)(end - p));
    if (nul) {
        int nul_line = 1;
        for (const char *q = text; q < nul; q++) nul_line += *q == '\n';
        WANC_FAIL(WANC_EFORMAT, "%s line %d: a NUL byte (not a text file)", d->metadata_name, nul_line);
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int line = 1, header_fields = 0, *map = NULL;
    bool header = true;
    wanc_err err = NULL;
    while (p < end && !err) {
        if (*p == '\n' || *p == '\r') { /* blank line: skipped, as pandas does */
            if (*p == '\n') line++;
            p++;
            continue;
        }
        int field = 0, start_line = line;
        if (!header) TRY_GOTO(err, done, add_row(d));
        for (;;) {
            if (!csv_field(&p, end, &buf, &len, &cap, &line)) {
                err = wanc_error(WANC_EFORMAT, "%s line %d: a quoted field is not closed", d->metadata_name, start_line);
                goto done;
            }
            if (header) {
                int *m = realloc(map, sizeof *m * (size_t)(field + 1));
                if (!m) {
                    err = wanc_error(WANC_ENOMEM, "metadata: out of memory");
                    goto done;
                }
                map = m;
                if (buf) buf[len] = 0;
                if (len == 0) {
                    err = wanc_error(WANC_EFORMAT, "%s line %d: column %d of the header has no name",
                                     d->metadata_name, start_line, field + 1);
                    goto done;
                }
                if (column_index(d, buf) >= 0) {
                    err = wanc_error(WANC_EFORMAT, "%s line %d: column '%s' appears twice in the header",
                                     d->metadata_name, start_line, buf);
                    goto done;
                }
                TRY_GOTO(err, done, add_column(d, buf, &map[field]));
            } else if (field >= header_fields) {
                err = wanc_error(WANC_EFORMAT, "%s row %d (line %d): more fields than the header's %d columns",
                                 d->metadata_name, d->n_rows, start_line, header_fields);
                goto done;
            } else TRY_GOTO(err, done, set_value(d, map[field], buf, len));
            field++;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            break;
        }
        if (p < end && *p == '\r') p++;
        if (p < end && *p == '\n') {
            p++;
            line++;
        }
        if (header) {
            header = false;
            header_fields = field;
        }
    }
    if (header && !err) err = wanc_error(WANC_EFORMAT, "%s: empty (no header row)", d->metadata_name);
done:
    free(buf);
    free(map);
    return err;
}

/* ---- JSON / JSONL ---------------------------------------------------------------- */

static wanc_err add_json_record(wanc_dataset *d, const cJSON *obj, int row)
{
    if (!cJSON_IsObject(obj))
        WANC_FAIL(WANC_EFORMAT, "%s row %d: expected an object ({\"video\": ..., \"prompt\": ...})",
                  d->metadata_name, row);
    TRY(add_row(d));
    for (const cJSON *it = obj->child; it; it = it->next) {
        int col;
        TRY(add_column(d, it->string ? it->string : "", &col));
        char num[64];
        const char *v = NULL;
        if (cJSON_IsString(it)) v = it->valuestring;
        else if (cJSON_IsNumber(it)) {
            double x = it->valuedouble;
            if (x == floor(x) && fabs(x) < 1e15) snprintf(num, sizeof num, "%.0f", x);
            else snprintf(num, sizeof num, "%.17g", x);
            v = num;
        } else if (cJSON_IsBool(it)) v = cJSON_IsTrue(it) ? "True" : "False";
        else if (cJSON_IsNull(it)) v = NULL;
        else
            WANC_FAIL(WANC_EUNSUPPORTED, "%s row %d: column '%s' holds a list or object; wanc reads strings and "
                      "numbers", d->metadata_name, row, it->string ? it->string : "");
        if (v) TRY(set_value(d, col, v, strlen(v)));
    }
    return NULL;
}

/* cJSON's whitespace: every byte up to ' ' */
static const char *json_space(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ') p++;
    return p;
}

/* The end of the JSON value at p (strings and brackets matched, nothing
 * validated: cJSON does that) and an upper bound on the nodes cJSON makes of
 * it: every node but the first follows a '[', '{' or ','. */
static const char *json_extent(const char *p, const char *end, int64_t *nodes)
{
    int64_t depth = 0;
    *nodes = 1;
    for (; p < end; p++) {
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\' && p + 1 < end) p++;
            if (p >= end) break;
        } else if (c == '[' || c == '{') {
            depth++;
            (*nodes)++;
        } else if (c == ']' || c == '}') {
            if (depth == 0) break;
            if (--depth == 0) return p + 1;
        } else if (c == ',') {
            if (depth == 0) break;
            (*nodes)++;
        }
    }
    return p;
}

/* One JSON value at p, at most MAX_RECORD_VALUES nodes (NULL: too large or
 * not JSON, *too_large says which); *after: the text after it. */
static cJSON *json_parse_bounded(const char *p, const char *end, const char **after, bool *too_large)
{
    int64_t nodes;
    json_extent(p, end, &nodes);
    *too_large = nodes > MAX_RECORD_VALUES;
    if (*too_large) return NULL;
    return cJSON_ParseWithLengthOpts(p, (size_t)(end - p), after, 0);
}

/* A list of records, parsed one record at a time (a whole-file tree would
 * take tens of bytes per byte of input). As cJSON_Parse: a byte order mark
 * is skipped, the text ends at a NUL, and what follows the list is ignored. */
static wanc_err parse_json(wanc_dataset *d, const char *text)
{
    const char *p = text, *end = text + strlen(text), *after = NULL;
    if (end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
    p = json_space(p, end);
    bool too_large;
    if (p >= end || *p != '[') {
        cJSON *v = p < end ? json_parse_bounded(p, end, &after, &too_large) : NULL;
        bool json = v || (p < end && too_large);
        cJSON_Delete(v);
        if (json) WANC_FAIL(WANC_EFORMAT, "%s: expected a JSON list of records", d->metadata_name);
        WANC_FAIL(WANC_EFORMAT, "%s: not valid JSON", d->metadata_name);
    }
    p = json_space(p + 1, end);
    if (p < end && *p == ']') return NULL;
    for (int row = 1;; row++) {
        cJSON *obj = json_parse_bounded(p, end, &after, &too_large);
        if (too_large)
            WANC_FAIL(WANC_EFORMAT, "%s row %d: a record of more than %d JSON values", d->metadata_name, row,
                      MAX_RECORD_VALUES);
        if (!obj) WANC_FAIL(WANC_EFORMAT, "%s: not valid JSON (record %d)", d->metadata_name, row);
        wanc_err err = add_json_record(d, obj, row);
        cJSON_Delete(obj);
        if (err) return err;
        p = json_space(after, end);
        if (p < end && *p == ']') return NULL;
        if (p >= end || *p != ',') WANC_FAIL(WANC_EFORMAT, "%s: not valid JSON (after record %d)", d->metadata_name, row);
        p = json_space(p + 1, end);
    }
}

static wanc_err parse_jsonl(wanc_dataset *d, char *text, size_t n)
{
    int line = 0, row = 0;
    char *p = text, *end = text + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        *e = 0;
        line++;
        const char *q = p;
        while (*q && isspace((unsigned char)*q)) q++;
        if (*q) {
            const char *after;
            bool too_large;
            cJSON *obj = json_parse_bounded(q, q + strlen(q), &after, &too_large);
            if (too_large)
                WANC_FAIL(WANC_EFORMAT, "%s line %d: a record of more than %d JSON values", d->metadata_name, line,
                          MAX_RECORD_VALUES);
            if (!obj) WANC_FAIL(WANC_EFORMAT, "%s line %d: not valid JSON", d->metadata_name, line);
            wanc_err err = add_json_record(d, obj, ++row);
            cJSON_Delete(obj);
            if (err) return wanc_error_context(err, "line %d", line);
        }
        p = e + 1;
    }
    return NULL;
}

/* ---- open / free ----------------------------------------------------------------- */

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/* os.path.join(base, file) */
static char *join_path(const char *base, const char *file)
{
    if (file[0] == '/' || !base || !base[0]) return strdup(file);
    size_t b = strlen(base);
    bool slash = base[b - 1] == '/';
    char *s = malloc(b + strlen(file) + 2);
    if (s) sprintf(s, "%s%s%s", base, slash ? "" : "/", file);
    return s;
}

static const char *const image_exts[] = {"jpg", "jpeg", "png", "webp", "bmp", NULL};
static const char *const video_exts[] = {"gif", "mp4", "avi", "mov", "wmv", "mkv", "flv", "webm", NULL};

/* 1: image, 2: video, 0: neither (RouteByExtensionName: the text after the last '.') */
static int file_kind(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *ext = dot ? dot + 1 : path;
    for (int i = 0; image_exts[i]; i++)
        if (!strcasecmp(ext, image_exts[i])) return 1;
    for (int i = 0; video_exts[i]; i++)
        if (!strcasecmp(ext, video_exts[i])) return 2;
    return 0;
}

static bool key_listed(const char *keys, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = keys; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kl && !memcmp(p, key, l)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static wanc_err check_rows(wanc_dataset *d)
{
    if (d->n_rows == 0) WANC_FAIL(WANC_EFORMAT, "%s: no rows", d->metadata_name);
    d->prompt_column = column_index(d, "prompt");
    int video = column_index(d, "video"), image = column_index(d, "image");
    const char *keys = d->o.data_file_keys;
    if (video >= 0 && !key_listed(keys, "video")) video = -1;
    if (image >= 0 && !key_listed(keys, "image")) image = -1;
    d->file_column = video >= 0 ? video : image;
    if (d->prompt_column < 0 || d->file_column < 0) {
        char have[512] = "";
        for (int i = 0; i < d->n_columns; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s'%s'", i ? ", " : "", d->columns[i]);
        WANC_FAIL(WANC_EFORMAT, "%s: needs the columns 'prompt' and 'video' (or 'image'), listed in --data_file_keys "
                  "(%s); it has %s", d->metadata_name, keys, have[0] ? have : "none");
    }
    const char *col = d->columns[d->file_column];
    for (int r = 0; r < d->n_rows; r++) {
        char **v = d->rows[r].values;
        if (!v[d->prompt_column])
            WANC_FAIL(WANC_EFORMAT, "%s row %d: empty prompt", d->metadata_name, r + 1);
        const char *f = v[d->file_column];
        if (!f) WANC_FAIL(WANC_EFORMAT, "%s row %d: empty '%s' column", d->metadata_name, r + 1, col);
        if (!file_kind(f))
            WANC_FAIL(WANC_EUNSUPPORTED, "%s row %d: %s: unsupported file type (images: jpg jpeg png webp bmp; "
                      "videos: gif mp4 avi mov wmv mkv flv webm)", d->metadata_name, r + 1, f);
        char *path = join_path(d->base_path, f);
        if (!path) WANC_FAIL(WANC_ENOMEM, "metadata: out of memory");
        struct stat st;
        int rc = stat(path, &st), e = errno;
        wanc_err err = NULL;
        if (rc != 0)
            err = wanc_error(WANC_EIO, "%s row %d: %s: %s", d->metadata_name, r + 1, path, strerror(e));
        else if (!S_ISREG(st.st_mode))
            err = wanc_error(WANC_EIO, "%s row %d: %s: not a regular file", d->metadata_name, r + 1, path);
        free(path);
        if (err) return err;
    }
    return NULL;
}

wanc_err wanc_dataset_open(wanc_dataset **out, const wanc_dataset_options *o)
{
    *out = NULL;
    if (!o->metadata_path || !o->metadata_path[0])
        WANC_FAIL(WANC_EINVAL, "--dataset_metadata_path: no metadata file given");
    if (o->repeat < 1) WANC_FAIL(WANC_EINVAL, "--dataset_repeat %d: must be at least 1", o->repeat);
    if (o->num_frames < 1 || o->num_frames % 4 != 1)
        WANC_FAIL(WANC_EINVAL, "--num_frames %d: must be 4k+1 (1, 5, 9, ..., 81)", o->num_frames);
    if ((o->height > 0) != (o->width > 0) || o->height < 0 || o->width < 0)
        WANC_FAIL(WANC_EINVAL, "--height %d --width %d: give both (fixed size) or neither (dynamic resolution)",
                  o->height, o->width);
    if (o->height % DIVISION || o->width % DIVISION)
        WANC_FAIL(WANC_EINVAL, "--height %d --width %d: both must be multiples of %d", o->height, o->width, DIVISION);
    if (o->height == 0 && o->max_pixels < DIVISION * DIVISION)
        WANC_FAIL(WANC_EINVAL, "--max_pixels %lld: must be at least %d", (long long)o->max_pixels,
                  DIVISION * DIVISION);
    wanc_dataset *d = calloc(1, sizeof *d);
    if (!d) WANC_FAIL(WANC_ENOMEM, "dataset");
    d->o = *o;
    d->base_path = strdup(o->base_path ? o->base_path : "");
    d->metadata_path = strdup(o->metadata_path);
    if (!d->o.data_file_keys) d->o.data_file_keys = WANC_DATASET_DEFAULT_FILE_KEYS;
    wanc_err err = NULL;
    char *text = NULL;
    size_t n = 0;
    if (!d->base_path || !d->metadata_path) {
        err = wanc_error(WANC_ENOMEM, "dataset");
        goto done;
    }
    d->o.base_path = d->base_path;
    d->o.metadata_path = d->metadata_path;
    const char *slash = strrchr(d->metadata_path, '/');
    d->metadata_name = slash ? slash + 1 : d->metadata_path;
    TRY_GOTO(err, done, wanc_read_file(o->metadata_path, METADATA_MAX_BYTES, "not a metadata file", &text, &n));
    if (ends_with_ci(o->metadata_path, ".jsonl")) err = parse_jsonl(d, text, n);
    else if (ends_with_ci(o->metadata_path, ".json")) err = parse_json(d, text);
    else err = parse_csv(d, text, n);
    if (!err) err = check_rows(d);
done:
    free(text);
    if (err) {
        wanc_dataset_free(d);
        return err;
    }
    *out = d;
    return NULL;
}

void wanc_dataset_free(wanc_dataset *d)
{
    if (!d) return;
    for (int r = 0; r < d->n_rows; r++) {
        for (int c = 0; c < d->n_columns; c++) free(d->rows[r].values[c]);
        free(d->rows[r].values);
    }
    for (int c = 0; c < d->n_columns; c++) free(d->columns[c]);
    free(d->rows);
    free(d->columns);
    free(d->base_path);
    free(d->metadata_path);
    free(d);
}

int wanc_dataset_rows(const wanc_dataset *d) { return d->n_rows; }

int64_t wanc_dataset_len(const wanc_dataset *d) { return (int64_t)d->n_rows * d->o.repeat; }

const char *wanc_dataset_value(const wanc_dataset *d, int row, const char *column)
{
    int c = column_index(d, column);
    if (c < 0 || row < 1 || row > d->n_rows) return NULL;
    return d->rows[row - 1].values[c];
}

/* ---- the data operator -------------------------------------------------------------- */

int wanc_dataset_frame_count(int want, int available)
{
    if (available >= want) return want;
    int n = available;
    while (n > 1 && n % 4 != 1) n--;
    return n < 1 ? 1 : n;
}

void wanc_dataset_target_size(int *h, int *w, int in_h, int in_w, int height, int width, int64_t max_pixels)
{
    if (height > 0 && width > 0) {
        *h = height;
        *w = width;
        return;
    }
    int hh = in_h, ww = in_w;
    if ((double)in_w * in_h > (double)max_pixels) {
        /* (width·height / max_pixels) ** 0.5, then int() of each side */
        double scale = pow((double)in_w * in_h / (double)max_pixels, 0.5);
        hh = (int)(in_h / scale);
        ww = (int)(in_w / scale);
    }
    *h = hh / DIVISION * DIVISION;
    *w = ww / DIVISION * DIVISION;
}

wanc_err wanc_dataset_get(const wanc_dataset *d, int64_t index, wanc_dataset_item *item)
{
    memset(item, 0, sizeof *item);
    if (index < 0 || index >= wanc_dataset_len(d))
        WANC_FAIL(WANC_EINVAL, "dataset item %lld outside [0, %lld)", (long long)index,
                  (long long)wanc_dataset_len(d));
    int r = (int)(index % d->n_rows);
    char **v = d->rows[r].values;
    item->row = r + 1;
    item->prompt = v[d->prompt_column];
    item->file = join_path(d->base_path, v[d->file_column]);
    if (!item->file) WANC_FAIL(WANC_ENOMEM, "dataset: out of memory");
    uint8_t *raw = NULL;
    int T = 0, H = 0, W = 0;
    wanc_err err = NULL;
    if (file_kind(item->file) == 1) {
        err = wanc_image_read(item->file, &raw, &H, &W);
        T = 1;
    } else err = wanc_video_read(item->file, &raw, &T, &H, &W, d->o.num_frames);
    if (!err && T < 1) err = wanc_error(WANC_EFORMAT, "%s: no frames", item->file);
    int n = 0, h = 0, w = 0;
    if (!err) {
        n = wanc_dataset_frame_count(d->o.num_frames, T);
        wanc_dataset_target_size(&h, &w, H, W, d->o.height, d->o.width, d->o.max_pixels);
        if (h < DIVISION || w < DIVISION)
            err = wanc_error(WANC_EINVAL, "%s: %dx%d frames give a %dx%d training size (sides must be at least %d)",
                             item->file, W, H, w, h, DIVISION);
    }
    if (!err) {
        item->frames = malloc((size_t)n * h * w * 3);
        if (!item->frames) err = wanc_error(WANC_ENOMEM, "%s: %d frames of %dx%d", item->file, n, w, h);
    }
    for (int t = 0; t < n && !err; t++)
        err = wanc_cover_resize_center_crop(item->frames + (size_t)t * h * w * 3, h, w,
                                            raw + (size_t)t * H * W * 3, H, W);
    free(raw);
    if (err) {
        err = wanc_error_context(err, "%s row %d", d->metadata_name, item->row);
        wanc_dataset_item_free(item);
        return err;
    }
    item->T = n;
    item->H = h;
    item->W = w;
    return NULL;
}

void wanc_dataset_item_free(wanc_dataset_item *item)
{
    free(item->file);
    free(item->frames);
    memset(item, 0, sizeof *item);
}
