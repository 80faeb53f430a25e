/* Runtime CPU dispatch: which instruction-set path the CPU backend runs.
 *
 * The library is built for x86-64-v3 (AVX2 + FMA + F16C) and never with
 * -march=native; the kernels that need more (AVX-512 BF16's vdpbf16ps,
 * the VNNI int8 dot products) sit in their own functions compiled with
 * __attribute__((target(...))) and run only when this module says the CPU
 * and the OS support them. Detection is cpuid + xgetbv, once, on the first
 * call; WANC_CPU=avx2|avx512|avx512bf16 forces a path (WANC_CPU_INT8 the
 * int8 kernel of Q8_0 weights), and a forced path the CPU lacks is refused
 * with a named error (wanc_backend_get("cpu")
 * returns it; a table obtained with wanc_backend_cpu() stays on the
 * detected path). */
#include <cpuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "wanc.h"

static const char *const isa_names[CPU_ISA_COUNT] = {"avx2", "avx512", "avx512bf16"};

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static cpu_isa isa_best;         /* what the CPU supports */
static int isa_has_avx_vnni;     /* AVX-VNNI (VEX vpdpbusd on ymm) */
static int isa_has_avx512_vnni;  /* AVX512-VNNI (EVEX vpdpbusd on zmm) */
static atomic_int isa_current;   /* the path that runs */
static char isa_env_error[160];  /* a refused WANC_CPU or WANC_CPU_INT8, reported by cpu_isa_status */
static const char *const int8_names[CPU_INT8_COUNT] = {"avx2", "avxvnni", "avx512vnni"};
static atomic_int int8_forced = -1; /* a cpu_int8 forced by WANC_CPU_INT8 / cpu_int8_set, or -1 */

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

/* (detection done) */
static int int8_present(cpu_int8 kern)
{
    return kern == CPU_INT8_AVX2 || (kern == CPU_INT8_AVXVNNI && isa_has_avx_vnni) ||
           (kern == CPU_INT8_AVX512VNNI && isa_has_avx512_vnni);
}

static void isa_detect(void)
{
    unsigned a, b, c, d;
    cpu_isa best = CPU_ISA_AVX2; /* the build's baseline: x86-64-v3 */
    if (__get_cpuid_count(1, 0, &a, &b, &c, &d) && (c & bit_OSXSAVE)) {
        uint64_t xcr0 = xgetbv0();
        int os_zmm = (xcr0 & 0xe6) == 0xe6; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state saved */
        int os_ymm = (xcr0 & 0x6) == 0x6;
        unsigned b7 = 0, c7 = 0, a71 = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            b7 = b;
            c7 = c;
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) a71 = a;
        int f = (b7 >> 16) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1;
        isa_has_avx_vnni = os_ymm && ((a71 >> 4) & 1);
        if (os_zmm && f && bw && vl) {
            best = CPU_ISA_AVX512;
            isa_has_avx512_vnni = (c7 >> 11) & 1;
            if ((a71 >> 5) & 1) best = CPU_ISA_AVX512BF16;
        }
    }
    isa_best = best;
    cpu_isa chosen = best;
    const char *env = getenv("WANC_CPU");
    if (env && *env) {
        int found = -1;
        for (int i = 0; i < CPU_ISA_COUNT; i++)
            if (strcmp(env, isa_names[i]) == 0) found = i;
        if (found < 0)
            snprintf(isa_env_error, sizeof isa_env_error,
                     "WANC_CPU=%.40s: unknown path (avx2, avx512 or avx512bf16)", env);
        else if ((cpu_isa)found > best)
            snprintf(isa_env_error, sizeof isa_env_error,
                     "WANC_CPU=%s: this CPU lacks it (it supports up to %s)", isa_names[found], isa_names[best]);
        else
            chosen = (cpu_isa)found;
    }
    atomic_store(&isa_current, (int)chosen);
    const char *env8 = getenv("WANC_CPU_INT8");
    if (env8 && *env8 && !isa_env_error[0]) {
        int found = -1;
        for (int i = 0; i < CPU_INT8_COUNT; i++)
            if (strcmp(env8, int8_names[i]) == 0) found = i;
        if (found < 0)
            snprintf(isa_env_error, sizeof isa_env_error,
                     "WANC_CPU_INT8=%.40s: unknown int8 kernel (avx2, avxvnni or avx512vnni)", env8);
        else if (!int8_present((cpu_int8)found))
            snprintf(isa_env_error, sizeof isa_env_error, "WANC_CPU_INT8=%s: this CPU lacks it", int8_names[found]);
        else
            atomic_store(&int8_forced, found);
    }
}

cpu_isa cpu_isa_get(void)
{
    pthread_once(&isa_once, isa_detect);
    return (cpu_isa)atomic_load(&isa_current);
}

cpu_isa cpu_isa_best(void)
{
    pthread_once(&isa_once, isa_detect);
    return isa_best;
}

int cpu_isa_avx_vnni(void)
{
    pthread_once(&isa_once, isa_detect);
    return isa_has_avx_vnni;
}

int cpu_isa_avx512_vnni(void)
{
    pthread_once(&isa_once, isa_detect);
    return isa_has_avx512_vnni;
}

int cpu_int8_supported(cpu_int8 kern)
{
    pthread_once(&isa_once, isa_detect);
    return int8_present(kern);
}

cpu_int8 cpu_int8_get(void)
{
    cpu_isa path = cpu_isa_get();
    int forced = atomic_load(&int8_forced);
    /* a forced zmm kernel still needs an avx512 path */
    if (forced >= 0 && (forced != CPU_INT8_AVX512VNNI || path >= CPU_ISA_AVX512)) return (cpu_int8)forced;
    if (path >= CPU_ISA_AVX512 && isa_has_avx512_vnni) return CPU_INT8_AVX512VNNI;
    return isa_has_avx_vnni ? CPU_INT8_AVXVNNI : CPU_INT8_AVX2;
}

const char *cpu_int8_name(cpu_int8 kern)
{
    return kern >= 0 && kern < CPU_INT8_COUNT ? int8_names[kern] : "?";
}

wanc_err cpu_int8_set(const char *name)
{
    pthread_once(&isa_once, isa_detect);
    if (!name) {
        atomic_store(&int8_forced, -1);
        return NULL;
    }
    for (int i = 0; i < CPU_INT8_COUNT; i++)
        if (strcmp(name, int8_names[i]) == 0) {
            if (!cpu_int8_supported((cpu_int8)i))
                WANC_FAIL(WANC_EUNSUPPORTED, "cpu backend: int8 kernel %s: this CPU lacks it", name);
            atomic_store(&int8_forced, i);
            return NULL;
        }
    WANC_FAIL(WANC_EINVAL, "cpu backend: unknown int8 kernel %s (avx2, avxvnni or avx512vnni)", name);
}

const char *wanc_cpu_int8(void) { return cpu_int8_name(cpu_int8_get()); }

const char *cpu_isa_name(cpu_isa isa) { return isa >= 0 && isa < CPU_ISA_COUNT ? isa_names[isa] : "?"; }

wanc_err cpu_isa_status(void)
{
    pthread_once(&isa_once, isa_detect);
    if (isa_env_error[0]) WANC_FAIL(WANC_EUNSUPPORTED, "cpu backend: %s", isa_env_error);
    return NULL;
}

wanc_err cpu_isa_set(const char *name)
{
    pthread_once(&isa_once, isa_detect);
    for (int i = 0; i < CPU_ISA_COUNT; i++)
        if (name && strcmp(name, isa_names[i]) == 0) {
            if ((cpu_isa)i > isa_best)
                WANC_FAIL(WANC_EUNSUPPORTED, "cpu backend: path %s: this CPU lacks it (it supports up to %s)",
                          isa_names[i], isa_names[isa_best]);
            atomic_store(&isa_current, i);
            return NULL;
        }
    WANC_FAIL(WANC_EINVAL, "cpu backend: unknown path %s (avx2, avx512 or avx512bf16)", name ? name : "(null)");
}

const char *wanc_cpu_isa(void) { return cpu_isa_name(cpu_isa_get()); }

wanc_err wanc_cpu_path(const char **name)
{
    if (name) *name = wanc_cpu_isa();
    return cpu_isa_status();
}
