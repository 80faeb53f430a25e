/* Bounds on what a file from a stranger can make wanc allocate or loop over.
 * Each is far above what any released checkpoint, tokenizer or input video
 * needs; crossing one is a named error that states the bound (and the list is
 * in docs/architecture.md, "Limits on hostile input"). */
#ifndef WANC_CORE_LIMITS_H
#define WANC_CORE_LIMITS_H

/* safetensors JSON header, bytes: the format's own reference reader refuses
 * more (released headers are < 1 MB). */
#define WANC_LIMIT_SAFETENSORS_HEADER 100000000ull
/* *.safetensors.index.json, bytes, and the distinct shard files it may name. */
#define WANC_LIMIT_INDEX_JSON ((size_t)64 << 20)
#define WANC_LIMIT_SHARDS 4096
/* A .pth's data.pkl, bytes, and the values (objects, stack slots, marks) the
 * pickle machine may hold at once: a 14B state dict needs ~30 000. */
#define WANC_LIMIT_PICKLE_BYTES ((uint64_t)64 << 20)
#define WANC_LIMIT_PICKLE_VALUES (1u << 21)
/* Tensors copied out of strided or misaligned views may not add up to more
 * bytes than the checkpoint files themselves (a view that repeats its
 * storage is how a small file would ask for terabytes). */
/* spiece.model / tokenizer.json, bytes, and pieces (umt5-xxl: 4.3 MB, 256 384 pieces). */
#define WANC_LIMIT_TOKENIZER_FILE ((size_t)256 << 20)
#define WANC_LIMIT_TOKENIZER_PIECES (1 << 24)
/* Decoded images and videos: a frame's side and pixel count, the frames read
 * and the RGB bytes they take (81 frames of 1280x720 are 224 MB). */
#define WANC_LIMIT_FRAME_SIDE 16384
#ifndef WANC_LIMIT_FRAME_PIXELS /* the fuzz build lowers it (Makefile, FUZZ_OPT): see docs/fuzzing.md */
#define WANC_LIMIT_FRAME_PIXELS (1 << 26)
#endif
#define WANC_LIMIT_VIDEO_FRAMES 100000
#define WANC_LIMIT_VIDEO_BYTES ((size_t)2 << 30)

#endif
