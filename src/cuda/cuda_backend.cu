/* The CUDA backend's context: device selection, the caching pool, pinned
 * transfers, host-pointer staging for op arguments, the weight cache and
 * the op table. See cuda_backend.h for the contract, cuda_internal.h for
 * the pieces. */
#include <cstdint>
#include <cstring>
#include <new>

#include "cuda/cuda_internal.h"

/* ---- errors ------------------------------------------------------------------ */

wanc_err cuda_error_at(const char *file, int line, const char *call, cudaError_t e)
{
    return wanc_error(e == cudaErrorMemoryAllocation ? WANC_ENOMEM : WANC_EINTERNAL, "%s:%d: %s: %s (%s)", file,
                      line, call, cudaGetErrorString(e), cudaGetErrorName(e));
}

wanc_err cublas_error_at(const char *file, int line, const char *call, cublasStatus_t s)
{
    return wanc_error(s == CUBLAS_STATUS_ALLOC_FAILED ? WANC_ENOMEM : WANC_EINTERNAL, "%s:%d: %s: %s", file, line,
                      call, cublasGetStatusString(s));
}

/* ---- caching pool -------------------------------------------------------------- */

/* Sizes are rounded so that freed blocks fit later requests of about the
 * same size: 512 B steps up to 1 MiB, 2 MiB steps above. A free block is
 * reused for a request of at least half its size. */
static size_t pool_round(size_t bytes)
{
    if (bytes == 0) bytes = 1;
    if (bytes <= (1u << 20)) return (bytes + 511) & ~(size_t)511;
    return (bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
}

/* cudaFree every cached block (the caller holds pool_mu). cudaFree waits
 * for the device, so no queued kernel still uses them. */
static void pool_release_cached(cuda_ctx *c)
{
    for (auto &kv : c->free_blocks) cudaFree(kv.second);
    c->free_blocks.clear();
    c->cached_bytes = 0;
}

wanc_err cuda_pool_alloc(cuda_ctx *c, void **out, size_t bytes)
{
    *out = nullptr;
    size_t want = pool_round(bytes);
    if (want < bytes) WANC_FAIL(WANC_ENOMEM, "cuda alloc: %zu bytes overflows", bytes);
    std::lock_guard<std::mutex> lock(c->pool_mu);
    try {
        auto it = c->free_blocks.lower_bound(want);
        if (it != c->free_blocks.end() && it->first / 2 <= want) {
            void *p = it->second;
            size_t sz = it->first;
            c->free_blocks.erase(it);
            c->cached_bytes -= sz;
            c->live[p] = sz;
            c->live_bytes += sz;
            *out = p;
            return nullptr;
        }
        CU_TRY(cudaSetDevice(c->device));
        void *p = nullptr;
        cudaError_t e = cudaMalloc(&p, want);
        if (e == cudaErrorMemoryAllocation) { /* give the cached blocks back and try once more */
            (void)cudaGetLastError();
            pool_release_cached(c);
            e = cudaMalloc(&p, want);
        }
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            return wanc_error(WANC_ENOMEM, "cuda alloc: cudaMalloc(%zu bytes) on %s: %s (%zu bytes live, %zu cached)",
                              want, c->name, cudaGetErrorString(e), c->live_bytes, c->cached_bytes);
        }
        c->live[p] = want;
        c->live_bytes += want;
        *out = p;
        return nullptr;
    } catch (const std::bad_alloc &) {
        WANC_FAIL(WANC_ENOMEM, "cuda alloc: out of host memory for the pool's bookkeeping");
    }
}

void cuda_pool_free(cuda_ctx *c, void *p)
{
    if (!p) return;
    std::lock_guard<std::mutex> lock(c->pool_mu);
    auto it = c->live.find(p);
    if (it == c->live.end()) return; /* not ours: free() cannot report, so ignore it */
    size_t sz = it->second;
    c->live.erase(it);
    c->live_bytes -= sz;
    try {
        /* before its equals: the block freed last is reused first (LIFO, warm in L2) */
        c->free_blocks.emplace_hint(c->free_blocks.lower_bound(sz), sz, p);
        c->cached_bytes += sz;
    } catch (const std::bad_alloc &) {
        cudaFree(p);
    }
}

/* ---- transfers ------------------------------------------------------------------- */

static wanc_err ensure_pinned(cuda_ctx *c)
{
    if (c->pinned[0]) return nullptr;
    for (int i = 0; i < 2; i++) {
        CU_TRY(cudaMallocHost(&c->pinned[i], cuda_ctx::STAGE_BYTES));
        CU_TRY(cudaEventCreateWithFlags(&c->pinned_done[i], cudaEventDisableTiming));
    }
    return nullptr;
}

/* Chunks alternate between the two pinned buffers: the host copies chunk
 * k+1 into one while the device reads chunk k from the other. The host
 * source is free again when this returns (it has been copied to pinned). */
wanc_err cuda_upload(cuda_ctx *c, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return nullptr;
    if (!dst || !src) WANC_FAIL(WANC_EINVAL, "cuda upload: NULL buffer for %zu bytes", bytes);
    CU_TRY(cudaSetDevice(c->device));
    if (cuda_is_device_ptr(src)) {
        CU_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, c->stream));
        return nullptr;
    }
    TRY(ensure_pinned(c));
    size_t off = 0;
    for (int k = 0; off < bytes; k++) {
        int i = k & 1;
        size_t n = bytes - off < (size_t)cuda_ctx::STAGE_BYTES ? bytes - off : (size_t)cuda_ctx::STAGE_BYTES;
        CU_TRY(cudaEventSynchronize(c->pinned_done[i]));
        memcpy(c->pinned[i], (const char *)src + off, n);
        CU_TRY(cudaMemcpyAsync((char *)dst + off, c->pinned[i], n, cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaEventRecord(c->pinned_done[i], c->stream));
        off += n;
    }
    return nullptr;
}

/* Waits for everything queued before it on the stream (and reports a
 * failed kernel from earlier, as the CUDA runtime does). */
wanc_err cuda_download(cuda_ctx *c, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return nullptr;
    if (!dst || !src) WANC_FAIL(WANC_EINVAL, "cuda download: NULL buffer for %zu bytes", bytes);
    CU_TRY(cudaSetDevice(c->device));
    if (cuda_is_device_ptr(dst)) {
        CU_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, c->stream));
        CU_TRY(cudaStreamSynchronize(c->stream));
        return nullptr;
    }
    TRY(ensure_pinned(c));
    const size_t S = cuda_ctx::STAGE_BYTES;
    size_t nchunks = (bytes + S - 1) / S;
    for (size_t k = 0; k <= nchunks; k++) {
        if (k < nchunks) { /* queue chunk k */
            int i = (int)(k & 1);
            size_t off = k * S, n = bytes - off < S ? bytes - off : S;
            CU_TRY(cudaMemcpyAsync(c->pinned[i], (const char *)src + off, n, cudaMemcpyDeviceToHost, c->stream));
            CU_TRY(cudaEventRecord(c->pinned_done[i], c->stream));
        }
        if (k > 0) { /* drain chunk k-1 while chunk k is in flight */
            size_t j = k - 1;
            int i = (int)(j & 1);
            size_t off = j * S, n = bytes - off < S ? bytes - off : S;
            CU_TRY(cudaEventSynchronize(c->pinned_done[i]));
            memcpy((char *)dst + off, c->pinned[i], n);
        }
    }
    CU_TRY(cudaStreamSynchronize(c->stream));
    return nullptr;
}

bool cuda_is_device_ptr(const void *p)
{
    if (!p) return false;
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear it: not an error for us */
        return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* ---- op arguments ------------------------------------------------------------------ */

cuda_args::~cuda_args()
{
    for (int i = 0; i < n; i++) cuda_pool_free(c, e[i].dev);
    wanc_error_free(err);
}

static cuda_args::entry *args_find(cuda_args *a, const void *p, size_t bytes)
{
    for (int i = 0; i < a->n; i++)
        if (a->e[i].host == p) {
            if (a->e[i].bytes < bytes) {
                if (!a->err)
                    a->err = wanc_error(WANC_EINVAL, "cuda: host argument %p used with %zu and %zu bytes", p,
                                        a->e[i].bytes, bytes);
                return nullptr;
            }
            return &a->e[i];
        }
    return nullptr;
}

static cuda_args::entry *args_add(cuda_args *a, const void *p, size_t bytes)
{
    if (a->n == cuda_args::MAX) {
        if (!a->err) a->err = wanc_error(WANC_EINTERNAL, "cuda: more than %d host arguments", cuda_args::MAX);
        return nullptr;
    }
    void *dev = nullptr;
    wanc_err e = cuda_pool_alloc(a->c, &dev, bytes);
    if (e) {
        if (!a->err) a->err = wanc_error_context(e, "staging a host argument of %zu bytes", bytes);
        else wanc_error_free(e);
        return nullptr;
    }
    cuda_args::entry *en = &a->e[a->n++];
    *en = {p, dev, bytes, false, false};
    return en;
}

static bool args_upload(cuda_args *a, cuda_args::entry *en)
{
    if (en->uploaded) return true;
    wanc_err e = cuda_upload(a->c, en->dev, en->host, en->bytes);
    if (e) {
        if (!a->err) a->err = e;
        else wanc_error_free(e);
        return false;
    }
    en->uploaded = true;
    return true;
}

const void *cuda_args::in(const void *p, size_t bytes)
{
    if (!p || bytes == 0 || err) return err ? nullptr : p;
    if (cuda_is_device_ptr(p)) return p;
    entry *en = args_find(this, p, bytes);
    if (!en && !err) en = args_add(this, p, bytes);
    if (!en || !args_upload(this, en)) return nullptr;
    return en->dev;
}

void *cuda_args::out(void *p, size_t bytes, bool read_too)
{
    if (!p || bytes == 0 || err) return err ? nullptr : p;
    if (cuda_is_device_ptr(p)) return p;
    entry *en = args_find(this, p, bytes);
    if (!en && !err) en = args_add(this, p, bytes);
    if (!en) return nullptr;
    en->is_out = true;
    if (read_too && !args_upload(this, en)) return nullptr;
    return en->dev;
}

wanc_err cuda_args::finish()
{
    if (err) return take_err();
    for (int i = 0; i < n; i++)
        if (e[i].is_out) TRY(cuda_download(c, (void *)e[i].host, e[i].dev, e[i].bytes));
    return nullptr;
}

/* ---- weight cache ---------------------------------------------------------------------- */

/* FNV-1a over the dtype, size and 64 evenly spaced 8-byte samples (plus the
 * last 8 bytes): cheap, and tells a reused host address with new contents
 * from the weight that was cached there. */
static uint64_t weight_fingerprint(const void *data, size_t bytes, wanc_dtype dt)
{
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint64_t v) {
        for (int i = 0; i < 8; i++) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    };
    mix((uint64_t)dt);
    mix((uint64_t)bytes);
    const unsigned char *p = (const unsigned char *)data;
    if (bytes < 8) {
        for (size_t i = 0; i < bytes; i++) mix(p[i]);
        return h;
    }
    for (int s = 0; s < 64; s++) {
        size_t off = (bytes - 8) / 63 * (size_t)s;
        uint64_t v;
        memcpy(&v, p + off, 8);
        mix(v);
    }
    uint64_t last;
    memcpy(&last, p + bytes - 8, 8);
    mix(last);
    return h;
}

static wanc_err weight_malloc(cuda_ctx *c, void **p, size_t bytes)
{
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        {
            std::lock_guard<std::mutex> lock(c->pool_mu);
            pool_release_cached(c);
        }
        e = cudaMalloc(p, bytes);
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return wanc_error(WANC_ENOMEM, "cuda: cudaMalloc(%zu bytes) for a weight on %s: %s (%zu bytes of weights held)",
                          bytes, c->name, cudaGetErrorString(e), c->weight_bytes);
    }
    return nullptr;
}

wanc_err cuda_weight_get(cuda_ctx *c, const wanc_tensor *t, bool want_f32, const void **dev, cuda_scratch *tmp)
{
    *dev = nullptr;
    if (!t || !t->data) WANC_FAIL(WANC_EINVAL, "cuda: NULL weight tensor");
    if (t->dtype != WANC_F32 && t->dtype != WANC_BF16 && t->dtype != WANC_F16)
        WANC_FAIL(WANC_ESHAPE, "cuda: weight dtype %s not supported (F32, BF16, F16)", wanc_dtype_name(t->dtype));
    if (!wanc_tensor_is_contiguous(t)) WANC_FAIL(WANC_EINVAL, "cuda: weight must be contiguous");
    bool expand = want_f32 && t->dtype != WANC_F32;
    int64_t n = wanc_tensor_numel(t);
    size_t bytes = wanc_tensor_nbytes(t), dev_bytes = expand ? (size_t)n * sizeof(float) : bytes;
    if (cuda_is_device_ptr(t->data)) {
        if (!expand) {
            *dev = t->data;
            return nullptr;
        }
        TRY(tmp->get(dev_bytes));
        TRY(cuda_half_to_f32(c, (float *)tmp->p, t->data, t->dtype, n));
        *dev = tmp->p;
        return nullptr;
    }
    uint64_t key = ((uint64_t)(uintptr_t)t->data << 1) | (expand ? 1u : 0u);
    uint64_t fp = weight_fingerprint(t->data, bytes, t->dtype);
    try {
        auto it = c->weights.find(key);
        if (it != c->weights.end()) {
            if (it->second.bytes == dev_bytes && it->second.fingerprint == fp) {
                *dev = it->second.dev;
                return nullptr;
            }
            /* the address now holds another tensor: drop the stale copy
             * (cudaFree waits for queued kernels that may still read it) */
            CU_TRY(cudaFree(it->second.dev));
            c->weight_bytes -= it->second.bytes;
            c->weights.erase(it);
        }
        void *p = nullptr;
        TRY(weight_malloc(c, &p, dev_bytes));
        wanc_err err = nullptr;
        if (expand) {
            cuda_scratch raw(c);
            err = raw.get(bytes);
            if (!err) err = cuda_upload(c, raw.p, t->data, bytes);
            if (!err) err = cuda_half_to_f32(c, (float *)p, raw.p, t->dtype, n);
        } else {
            err = cuda_upload(c, p, t->data, bytes);
        }
        if (err) {
            cudaFree(p);
            return wanc_error_context(err, "uploading a %s weight of %zu bytes", wanc_dtype_name(t->dtype), bytes);
        }
        c->weights[key] = cuda_weight{p, dev_bytes, fp};
        c->weight_bytes += dev_bytes;
        *dev = p;
        return nullptr;
    } catch (const std::bad_alloc &) {
        WANC_FAIL(WANC_ENOMEM, "cuda: out of host memory for the weight cache");
    }
}

/* ---- table entries for memory ----------------------------------------------------------- */

static wanc_err be_alloc(const wanc_backend *be, void **out, size_t bytes)
{
    if (!out) WANC_FAIL(WANC_EINVAL, "cuda alloc: NULL out");
    return cuda_pool_alloc(cuda_ctx_of(be), out, bytes);
}

static void be_free(const wanc_backend *be, void *p) { cuda_pool_free(cuda_ctx_of(be), p); }

static wanc_err be_upload(const wanc_backend *be, void *dst, const void *src, size_t bytes)
{
    return cuda_upload(cuda_ctx_of(be), dst, src, bytes);
}

static wanc_err be_download(const wanc_backend *be, void *dst, const void *src, size_t bytes)
{
    return cuda_download(cuda_ctx_of(be), dst, src, bytes);
}

/* ---- creation ------------------------------------------------------------------------------ */

#define CUDA_MAX_DEVICES 64
static std::mutex ctx_mu;
static cuda_ctx *ctxs[CUDA_MAX_DEVICES];

extern "C" int wanc_cuda_device_count(wanc_err *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        (void)cudaGetLastError();
        if (err)
            *err = wanc_error(WANC_EUNSUPPORTED, "no CUDA device (%s)",
                              e != cudaSuccess ? cudaGetErrorString(e) : "the runtime reports 0 devices");
        return 0;
    }
    if (err) *err = nullptr;
    return n;
}

/* The op entries of the table (name and context are the caller's). */
static void cuda_fill_table(wanc_backend *t)
{
    t->alloc = be_alloc;
    t->free = be_free;
    t->upload = be_upload;
    t->download = be_download;
    t->linear = cuda_linear;
    t->gemm = cuda_gemm;
    t->layer_norm = cuda_layer_norm;
    t->rms_norm = cuda_rms_norm;
    t->softmax = cuda_softmax;
    t->gelu_tanh = cuda_gelu_tanh;
    t->gelu_erf = cuda_gelu_erf;
    t->silu = cuda_silu;
    t->add = cuda_add;
    t->mul = cuda_mul;
    t->scale = cuda_scale;
    t->round_bf16 = cuda_round_bf16;
    t->modulate = cuda_modulate;
    t->gated_add = cuda_gated_add;
    t->attention = cuda_attention;
    t->rope = cuda_rope;
    t->conv3d = cuda_conv3d;
    t->channel_rms_norm = cuda_channel_rms_norm;
    t->upsample_nearest2x = cuda_upsample_nearest2x;
    t->copy_strided = cuda_copy_strided;
    t->fill = cuda_fill;
    t->conv3d_hist = cuda_conv3d_hist;
    t->mul_rows = cuda_mul_rows;
    t->relu = cuda_relu;
}

static wanc_err ctx_init(cuda_ctx *c, int device)
{
    c->device = device;
    snprintf(c->name, sizeof c->name, "cuda:%d", device);
    c->opt.bf16_gemm = 1;
    c->opt.allow_tf32 = 0;
    c->opt.attention_bf16 = 0;
    CU_TRY(cudaSetDevice(device));
    CU_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUBLAS_TRY(cublasCreate(&c->blas));
    CUBLAS_TRY(cublasSetStream(c->blas, c->stream));
    wanc_backend *t = &c->table;
    t->name = c->name;
    cuda_fill_table(t);
    /* an op added to backend.h but not here is a named error, not a NULL call later */
    return wanc_backend_check_complete(t);
}

extern "C" wanc_err wanc_backend_cuda(int device, const wanc_backend **out)
{
    if (!out) WANC_FAIL(WANC_EINVAL, "wanc_backend_cuda: NULL out");
    *out = nullptr;
    wanc_err err = nullptr;
    int n = wanc_cuda_device_count(&err);
    if (err) return err;
    if (device < 0 || device >= n || device >= CUDA_MAX_DEVICES)
        WANC_FAIL(WANC_EINVAL, "CUDA device %d does not exist (%d device%s)", device, n, n == 1 ? "" : "s");
    std::lock_guard<std::mutex> lock(ctx_mu);
    if (!ctxs[device]) {
        cuda_ctx *c = new (std::nothrow) cuda_ctx();
        if (!c) WANC_FAIL(WANC_ENOMEM, "wanc_backend_cuda: out of memory");
        err = ctx_init(c, device);
        if (err) {
            /* leave the half-made context: its handles are released with
             * the process; a retry makes a fresh one */
            return wanc_error_context(err, "creating the CUDA backend on device %d", device);
        }
        ctxs[device] = c;
    }
    *out = &ctxs[device]->table;
    return nullptr;
}

static wanc_err ctx_check(const wanc_backend *be, cuda_ctx **out)
{
    for (int i = 0; i < CUDA_MAX_DEVICES; i++)
        if (be && ctxs[i] && be == &ctxs[i]->table) {
            *out = ctxs[i];
            return nullptr;
        }
    WANC_FAIL(WANC_EINVAL, "backend '%s' is not a CUDA backend", be && be->name ? be->name : "(null)");
}

extern "C" wanc_err wanc_cuda_configure(const wanc_backend *be, const wanc_cuda_options *opt)
{
    cuda_ctx *c;
    TRY(ctx_check(be, &c));
    if (!opt) WANC_FAIL(WANC_EINVAL, "wanc_cuda_configure: NULL options");
    c->opt = *opt;
    return nullptr;
}

extern "C" wanc_err wanc_cuda_synchronize(const wanc_backend *be)
{
    cuda_ctx *c;
    TRY(ctx_check(be, &c));
    CU_TRY(cudaSetDevice(c->device));
    CU_TRY(cudaStreamSynchronize(c->stream));
    CU_TRY(cudaGetLastError());
    return nullptr;
}

extern "C" wanc_err wanc_cuda_forget_weights(const wanc_backend *be)
{
    cuda_ctx *c;
    TRY(ctx_check(be, &c));
    CU_TRY(cudaSetDevice(c->device));
    CU_TRY(cudaStreamSynchronize(c->stream));
    cudaError_t first = cudaSuccess;
    for (auto &kv : c->weights) {
        cudaError_t e = cudaFree(kv.second.dev);
        if (first == cudaSuccess) first = e;
    }
    c->weights.clear();
    c->weight_bytes = 0;
    {
        std::lock_guard<std::mutex> lock(c->pool_mu);
        pool_release_cached(c);
    }
    CU_TRY(first);
    return nullptr;
}

extern "C" wanc_err wanc_cuda_mem_stats_get(const wanc_backend *be, wanc_cuda_mem_stats *out)
{
    cuda_ctx *c;
    TRY(ctx_check(be, &c));
    if (!out) WANC_FAIL(WANC_EINVAL, "wanc_cuda_mem_stats_get: NULL out");
    std::lock_guard<std::mutex> lock(c->pool_mu);
    out->pool_live_bytes = c->live_bytes;
    out->pool_cached_bytes = c->cached_bytes;
    out->weight_bytes = c->weight_bytes;
    out->weight_count = c->weights.size();
    return nullptr;
}

/* ---- host-side invariants (tests run these without a device) ------------------------ */

extern "C" wanc_err wanc_cuda_check_invariants(void)
{
    size_t prev = 0;
    for (size_t b = 0; b <= (64u << 20); b = b < 4096 ? b + 1 : b + 4093) {
        size_t r = pool_round(b);
        if (r < b || r < prev || r == 0 || (r % 512) != 0)
            WANC_FAIL(WANC_EINTERNAL, "pool_round(%zu) = %zu (previous %zu)", b, r, prev);
        if (b > (1u << 20) && r % (2u << 20))
            WANC_FAIL(WANC_EINTERNAL, "pool_round(%zu) = %zu is not a 2 MiB step", b, r);
        prev = r;
    }
    /* the fingerprint tells a changed sample or a changed size apart */
    unsigned char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7);
    uint64_t f0 = weight_fingerprint(buf, sizeof buf, WANC_F32);
    buf[sizeof buf - 1] ^= 1;
    uint64_t f1 = weight_fingerprint(buf, sizeof buf, WANC_F32);
    uint64_t f2 = weight_fingerprint(buf, sizeof buf - 4, WANC_F32);
    uint64_t f3 = weight_fingerprint(buf, sizeof buf, WANC_BF16);
    if (f0 == f1 || f1 == f2 || f1 == f3) WANC_FAIL(WANC_EINTERNAL, "weight fingerprint does not see a change");
    /* every op of backend.h has a CUDA entry (the same check ctx_init makes) */
    wanc_backend table;
    memset(&table, 0, sizeof table);
    table.name = "cuda (table check)";
    cuda_fill_table(&table);
    TRY(wanc_backend_check_complete(&table));
    return cuda_attention_check_layouts();
}
