/* wanc — the Wan video-generation models in C.
 *
 * Usage (the whole public API grows here; the CLI `wanc` is a thin layer on it):
 *
 *   #include <wanc.h>
 *
 *   wanc_err err = wanc_info_print(stdout, "Wan2.1_VAE.pth");   // list a checkpoint
 *   if (err) { fprintf(stderr, "%s\n", wanc_error_message(err)); wanc_error_free(err); }
 */
#ifndef WANC_H
#define WANC_H

#include <stdio.h>

#include "../src/core/error.h"

#define WANC_VERSION "0.1.0"

/* Print every tensor of a checkpoint as `name<TAB>dtype<TAB>shape`, sorted by
 * name, then `tensors: N`. */
wanc_err wanc_info_print(FILE *out, const char *path);

/* Write a random Wan2.1 DiT (released key names and shapes, `num_heads` in
 * __metadata__) to DIR/diffusion_pytorch_model.safetensors, streamed tensor by
 * tensor. arch: wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan2.1-i2v-14b; layers 0 = all;
 * dtype "bf16" (default when NULL) or "f32". */
wanc_err wanc_random_model_dit(const char *arch, const char *out_dir, int layers, const char *dtype,
                               unsigned long long seed);

/* `wanc bench dit [options]` (argv after "dit"); results printed to out, last line
 * `dit forward_s=... gflop=... gflops=... sgemm_gflops=... ratio=... peak_rss_mb=...`. */
wanc_err wanc_bench_dit(FILE *out, int argc, char **argv);

#endif
