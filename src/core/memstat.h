/* This process's memory as the kernel counts it (Linux /proc): resident set
 * now, its peak, and a reset of the peak so each pipeline stage can report its
 * own. Values in bytes; 0 where /proc is unavailable. */
#ifndef WANC_CORE_MEMSTAT_H
#define WANC_CORE_MEMSTAT_H

#include <stddef.h>

size_t wanc_rss_bytes(void);
size_t wanc_peak_rss_bytes(void);
void wanc_peak_rss_reset(void);

#endif
