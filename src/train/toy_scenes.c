/* The demo's procedural video dataset: one coloured shape moving over a plain
 * background, captioned in words (`wanc make-dataset`), and the measurement
 * that reads those attributes back from generated frames (the demo's prompt
 * adherence test).
 *
 * A scene is (shape, colour, motion, background). Five (shape, colour) pairs
 * are held out of the dataset, one per colour and each shape at least once, so
 * every colour, shape, motion and background is seen in training but never
 * these combinations: a model that draws a yellow triangle has composed it.
 * Clips place the object at random and vary its size and speed a little;
 * the caption picks one of several word orders and synonyms.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/video_out.h"
#include "pipeline/pipeline_internal.h"
#include "wanc.h"

static const char *const shape_names[WANC_TOY_SHAPES] = {"circle", "square", "triangle"};
static const char *const colour_names[WANC_TOY_COLOURS] = {"red", "green", "blue", "yellow", "white"};
static const char *const motion_names[WANC_TOY_MOTIONS] = {"moving left", "moving right", "moving up",
                                                           "moving down", "growing",     "shrinking",
                                                           "still"};
static const char *const background_names[WANC_TOY_BACKGROUNDS] = {"black", "gray", "sky-blue gradient"};

static const uint8_t colour_rgb[WANC_TOY_COLOURS][3] = {
    {225, 35, 35}, {40, 200, 60}, {40, 70, 235}, {245, 215, 30}, {245, 245, 245}};

/* (shape, colour) pairs that never appear in the dataset. */
static const int held_out_pairs[][2] = {
    {2, 3}, /* yellow triangle */
    {1, 0}, /* red square */
    {0, 2}, /* blue circle */
    {2, 1}, /* green triangle */
    {1, 4}, /* white square */
};

const char *wanc_toy_name(wanc_toy_attr attr, int index)
{
    switch (attr) {
    case WANC_TOY_ATTR_SHAPE: return index >= 0 && index < WANC_TOY_SHAPES ? shape_names[index] : NULL;
    case WANC_TOY_ATTR_COLOUR: return index >= 0 && index < WANC_TOY_COLOURS ? colour_names[index] : NULL;
    case WANC_TOY_ATTR_MOTION: return index >= 0 && index < WANC_TOY_MOTIONS ? motion_names[index] : NULL;
    case WANC_TOY_ATTR_BACKGROUND:
        return index >= 0 && index < WANC_TOY_BACKGROUNDS ? background_names[index] : NULL;
    }
    return NULL;
}

bool wanc_toy_held_out(const wanc_toy_scene *s)
{
    for (size_t i = 0; i < sizeof held_out_pairs / sizeof held_out_pairs[0]; i++)
        if (s->shape == held_out_pairs[i][0] && s->colour == held_out_pairs[i][1]) return true;
    return false;
}

/* ---- captions ------------------------------------------------------------------ */

static const char *const shape_words[WANC_TOY_SHAPES][2] = {{"circle", "disc"}, {"square", "box"},
                                                             {"triangle", "triangle"}};
static const char *const motion_words[WANC_TOY_MOTIONS][2] = {
    {"moving left", "sliding to the left"}, {"moving right", "sliding to the right"},
    {"moving up", "rising upward"},         {"moving down", "falling downward"},
    {"growing", "getting bigger"},          {"shrinking", "getting smaller"},
    {"still", "standing still"}};
static const char *const background_words[WANC_TOY_BACKGROUNDS][2] = {
    {"a black background", "a dark black background"},
    {"a gray background", "a plain grey background"},
    {"a sky-blue gradient background", "a blue sky gradient"}};

void wanc_toy_caption(char *buf, size_t cap, const wanc_toy_scene *s, int variant)
{
    /* variant < 0: the canonical caption; else bits pick synonyms and the order */
    unsigned v = variant < 0 ? 0u : (unsigned)variant;
    const char *shape = shape_words[s->shape][v & 1], *motion = motion_words[s->motion][(v >> 1) & 1],
               *bg = background_words[s->background][(v >> 2) & 1], *colour = colour_names[s->colour];
    if (variant < 0 || ((v >> 3) % 3) == 0) snprintf(buf, cap, "a %s %s %s on %s", colour, shape, motion, bg);
    else if ((v >> 3) % 3 == 1) snprintf(buf, cap, "on %s, a %s %s %s", bg, colour, shape, motion);
    else snprintf(buf, cap, "a %s %s, %s, on %s", colour, shape, motion, bg);
}

/* ---- rendering ----------------------------------------------------------------- */

static void background_rgb(int background, int y, int H, float rgb[3])
{
    if (background == 0) rgb[0] = rgb[1] = rgb[2] = 0.0f;
    else if (background == 1) rgb[0] = rgb[1] = rgb[2] = 128.0f;
    else { /* sky: deeper blue at the top, paler at the bottom */
        float t = H > 1 ? (float)y / (float)(H - 1) : 0.0f;
        rgb[0] = 100.0f + 90.0f * t;
        rgb[1] = 160.0f + 55.0f * t;
        rgb[2] = 230.0f + 15.0f * t;
    }
}

/* Inside the shape of "radius" r centred at (cx, cy)? The triangle points up. */
static bool inside(int shape, double x, double y, double cx, double cy, double r)
{
    double dx = x - cx, dy = y - cy;
    if (shape == 0) return dx * dx + dy * dy <= r * r;
    if (shape == 1) return fabs(dx) <= r * 0.9 && fabs(dy) <= r * 0.9;
    /* apex (0, -r), base y = +0.8r from -r to +r */
    if (dy > 0.8 * r || dy < -r) return false;
    double half = r * (dy + r) / (1.8 * r);
    return fabs(dx) <= half;
}

/* The object's path: centre and radius at each frame, as fractions of the side. */
typedef struct {
    double x0, y0, x1, y1, r0, r1;
} toy_path;

static double urand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static double lerp(double a, double b, double t) { return a + (b - a) * t; }

/* Where the object is, is random; only the motion follows the caption. Wan's
 * DiT knows positions only relative to each other (3-D RoPE, no absolute
 * embedding, flat backgrounds), so it cannot learn where in the frame a
 * caption's object is: what it can learn is the displacement from frame to
 * frame. The clips therefore make position carry no information about the
 * caption: the middle of a path is uniform over most of the frame and the
 * object may leave it partly at either end. (With paths that had to stay
 * inside, a rightward object always started in the left fifth: a band the
 * model cannot express, which it learned as a blob that jumps between the
 * latent frames.) The object is about 1.5 DiT tokens wide and travels half
 * the frame: at 96x96 and 17 frames (6x6 tokens, 5 latent frames) about 0.7
 * of a token per latent frame. */
static toy_path make_path(int motion, uint64_t *rng)
{
    toy_path p;
    const double r = lerp(0.18, 0.22, urand(rng)), travel = lerp(0.45, 0.50, urand(rng)), edge = 0.02;
    const double lo = r + edge, hi = 1.0 - r - edge; /* centres that keep the object inside */
    const double mid = lerp(0.20, 0.80, urand(rng)), start = mid - travel / 2, across = lerp(lo, hi, urand(rng));
    p.r0 = p.r1 = r;
    p.x0 = p.x1 = across;
    p.y0 = p.y1 = lerp(lo, hi, urand(rng));
    switch (motion) {
    case 0: p.x0 = start + travel, p.x1 = start; break; /* left */
    case 1: p.x0 = start, p.x1 = start + travel; break; /* right */
    case 2: p.x0 = p.x1 = across, p.y0 = start + travel, p.y1 = start; break; /* up */
    case 3: p.x0 = p.x1 = across, p.y0 = start, p.y1 = start + travel; break; /* down */
    case 4: /* growing */
    case 5: { /* shrinking: the centre keeps the largest size inside */
        const double small = lerp(0.07, 0.09, urand(rng)), large = lerp(0.25, 0.28, urand(rng));
        p.x0 = p.x1 = lerp(large + edge, 1.0 - large - edge, urand(rng));
        p.y0 = p.y1 = lerp(large + edge, 1.0 - large - edge, urand(rng));
        p.r0 = motion == 4 ? small : large, p.r1 = motion == 4 ? large : small;
        break;
    }
    default: break; /* still */
    }
    return p;
}

void wanc_toy_render(uint8_t *frames, int T, int H, int W, const wanc_toy_scene *s, uint64_t seed)
{
    uint64_t rng = seed * 0x2545f4914f6cdd1dull + 7;
    toy_path p = make_path(s->motion, &rng);
    const double side = H < W ? H : W;
    const uint8_t *c = colour_rgb[s->colour];
    for (int t = 0; t < T; t++) {
        double u = T > 1 ? (double)t / (T - 1) : 0.0;
        double cx = lerp(p.x0, p.x1, u) * W, cy = lerp(p.y0, p.y1, u) * H, r = lerp(p.r0, p.r1, u) * side;
        for (int y = 0; y < H; y++) {
            float bg[3];
            background_rgb(s->background, y, H, bg);
            for (int x = 0; x < W; x++) {
                int hits = 0; /* 4x4 supersampling for smooth edges */
                for (int sy = 0; sy < 4; sy++)
                    for (int sx = 0; sx < 4; sx++)
                        hits += inside(s->shape, x + (sx + 0.5) / 4, y + (sy + 0.5) / 4, cx, cy, r);
                float a = hits / 16.0f;
                uint8_t *px = frames + (((size_t)t * H + y) * W + x) * 3;
                for (int k = 0; k < 3; k++) px[k] = (uint8_t)lrintf(bg[k] * (1 - a) + c[k] * a);
            }
        }
    }
}

/* ---- the dataset ------------------------------------------------------------- */

int wanc_toy_list(wanc_toy_scene *out, bool held_out)
{
    int n = 0;
    for (int sh = 0; sh < WANC_TOY_SHAPES; sh++)
        for (int co = 0; co < WANC_TOY_COLOURS; co++)
            for (int mo = 0; mo < WANC_TOY_MOTIONS; mo++)
                for (int bg = 0; bg < WANC_TOY_BACKGROUNDS; bg++) {
                    wanc_toy_scene s = {sh, co, mo, bg};
                    if (wanc_toy_held_out(&s) == held_out) out[n++] = s;
                }
    return n;
}

/* A CSV field: quoted, with inner quotes doubled. */
static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

wanc_err wanc_make_dataset(const char *out_dir, int count, uint64_t seed, int size, int frames,
                           int (*progress)(void *user, int done, int total), void *user)
{
    if (!out_dir || count <= 0 || size < 16 || size > 1024 || size % 16 || frames < 1 || frames > 1000)
        WANC_FAIL(WANC_EINVAL, "make-dataset: needs an output folder, count > 0, a size that is a multiple of 16 in "
                  "16..1024 and 1..1000 frames (got count %d, size %d, frames %d)", count, size, frames);
    TRY(wanc_make_dir(out_dir));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/train", out_dir);
    TRY(wanc_make_dir(path));
    /* the training combinations, in an order shuffled by the seed so any count is balanced */
    wanc_toy_scene combos[WANC_TOY_SCENES];
    const int n = wanc_toy_list(combos, false);
    uint64_t rng = seed ^ 0x5eedda7a5e7ull;
    uint8_t *video = malloc((size_t)frames * size * size * 3);
    if (!video) WANC_FAIL(WANC_ENOMEM, "make-dataset: %d frames of %dx%d", frames, size, size);
    snprintf(path, sizeof path, "%s/metadata.csv", out_dir);
    wanc_atomic_file meta;
    wanc_err err = wanc_atomic_open(&meta, path);
    if (err) {
        free(video);
        return err;
    }
    fprintf(meta.f, "video,prompt\n");
    for (int i = 0; i < count && !err; i++) {
        if (i % n == 0) /* a fresh permutation of the combinations each round */
            for (int k = n - 1; k > 0; k--) {
                int j = (int)(urand(&rng) * (k + 1));
                wanc_toy_scene tmp = combos[k];
                combos[k] = combos[j];
                combos[j] = tmp;
            }
        const wanc_toy_scene *s = &combos[i % n];
        uint64_t clip_seed = (uint64_t)(urand(&rng) * 0x1.0p53);
        wanc_toy_render(video, frames, size, size, s, clip_seed);
        char name[64], caption[256];
        snprintf(name, sizeof name, "train/%06d.mp4", i);
        snprintf(path, sizeof path, "%s/%s", out_dir, name);
        err = wanc_video_write_mp4(path, video, frames, size, size, WANC_VIDEO_DEFAULT_FPS, 9);
        if (err) break;
        wanc_toy_caption(caption, sizeof caption, s, (int)(urand(&rng) * 64));
        csv_field(meta.f, name);
        fputc(',', meta.f);
        csv_field(meta.f, caption);
        fputc('\n', meta.f);
        if (progress && progress(user, i + 1, count)) err = wanc_error(WANC_ECANCELLED, "make-dataset: interrupted");
    }
    free(video);
    if (!err && ferror(meta.f)) err = wanc_error(WANC_EIO, "%s: write failed: %s", path, strerror(errno));
    if (err) {
        wanc_atomic_abort(&meta);
        return err;
    }
    return wanc_atomic_commit(&meta);
}

/* ---- measuring generated frames ------------------------------------------------ */

/* |pixel - background| summed over R, G, B */
static float off_background(const uint8_t *frames, int t, int y, int x, int H, int W, int background)
{
    float bg[3];
    background_rgb(background, y, H, bg);
    const uint8_t *px = frames + (((size_t)t * H + y) * W + x) * 3;
    return fabsf(px[0] - bg[0]) + fabsf(px[1] - bg[1]) + fabsf(px[2] - bg[2]);
}

wanc_err wanc_toy_measure(const uint8_t *frames, int T, int H, int W, int background, wanc_toy_measurement *m)
{
    if (!frames || T < 2 || H < 4 || W < 4 || background < 0 || background >= WANC_TOY_BACKGROUNDS || !m)
        WANC_FAIL(WANC_EINVAL, "toy measure: needs >= 2 frames of >= 4x4 and a known background");
    memset(m, 0, sizeof *m);
    /* A pixel belongs to the object when it differs from the background by
     * more than a third of the largest difference in the clip. */
    float maxd = 0.0f;
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) maxd = fmaxf(maxd, off_background(frames, t, y, x, H, W, background));
    const float thresh = fmaxf(maxd / 3.0f, 40.0f);
    double sum_rgb[3] = {0}, n_total = 0;
    const int k = T / 4 > 0 ? T / 4 : 1; /* first and last quarter of the clip */
    double cx[2] = {0}, cy[2] = {0}, area[2] = {0};
    for (int t = 0; t < T; t++) {
        int part = t < k ? 0 : t >= T - k ? 1 : -1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                if (off_background(frames, t, y, x, H, W, background) < thresh) continue;
                const uint8_t *px = frames + (((size_t)t * H + y) * W + x) * 3;
                for (int c = 0; c < 3; c++) sum_rgb[c] += px[c];
                n_total++;
                if (part >= 0) {
                    cx[part] += x, cy[part] += y, area[part] += 1;
                }
            }
    }
    if (n_total == 0 || area[0] == 0 || area[1] == 0) {
        m->found = false;
        m->colour = m->motion = -1;
        return NULL;
    }
    m->found = true;
    for (int c = 0; c < 3; c++) m->rgb[c] = (float)(sum_rgb[c] / n_total);
    /* hue in degrees of the mean object colour (white: saturation near 0) */
    float r = m->rgb[0] / 255, g = m->rgb[1] / 255, b = m->rgb[2] / 255;
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), h = 0;
    if (mx > mn) {
        if (mx == r) h = 60 * fmodf((g - b) / (mx - mn) + 6, 6);
        else if (mx == g) h = 60 * ((b - r) / (mx - mn) + 2);
        else h = 60 * ((r - g) / (mx - mn) + 4);
    }
    m->hue = h;
    m->saturation = mx > 0 ? (mx - mn) / mx : 0;
    /* the colour: white when unsaturated (the only grey of the palette), else the palette hue nearest */
    if (m->saturation < 0.25f) m->colour = 4;
    else {
        static const float hues[4] = {0, 125, 228, 52}; /* red, green, blue, yellow */
        float best = 1e9f;
        for (int c = 0; c < 4; c++) {
            float dh = fabsf(h - hues[c]);
            if (dh > 180) dh = 360 - dh;
            if (dh < best) best = dh, m->colour = c;
        }
    }
    for (int p = 0; p < 2; p++) cx[p] /= area[p], cy[p] /= area[p], area[p] /= k;
    m->dx = (float)((cx[1] - cx[0]) / W);
    m->dy = (float)((cy[1] - cy[0]) / H);
    m->growth = (float)(area[1] / area[0]);
    /* the motion: a large shift first (an object moving into a background of
     * its own hue, blue into the sky's top, loses pixels and looks as if it
     * shrank), then a clear change of area, then a smaller shift, else still */
    const float shift = fmaxf(fabsf(m->dx), fabsf(m->dy));
    if (shift >= 0.2f) m->motion = fabsf(m->dx) >= fabsf(m->dy) ? (m->dx < 0 ? 0 : 1) : (m->dy < 0 ? 2 : 3);
    else if (m->growth > 1.6f) m->motion = 4;
    else if (m->growth < 1 / 1.6f) m->motion = 5;
    else if (shift < 0.08f) m->motion = 6;
    else if (fabsf(m->dx) >= fabsf(m->dy)) m->motion = m->dx < 0 ? 0 : 1;
    else m->motion = m->dy < 0 ? 2 : 3;
    return NULL;
}
