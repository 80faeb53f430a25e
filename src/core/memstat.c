/* Resident-set figures from /proc/self/status (VmRSS, VmHWM); the peak is
 * reset through /proc/self/clear_refs ("5"), Linux's per-process HWM reset. */
#include "core/memstat.h"

#include <stdio.h>
#include <string.h>

static size_t status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0, kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            sscanf(line + kl + 1, "%zu", &kb);
            break;
        }
    fclose(f);
    return kb * 1024;
}

size_t wanc_rss_bytes(void) { return status_kb("VmRSS"); }
size_t wanc_peak_rss_bytes(void) { return status_kb("VmHWM"); }

void wanc_peak_rss_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}
