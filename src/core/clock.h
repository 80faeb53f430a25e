/* Time and memory measurements shared by the pipeline and the benchmarks. */
#ifndef WANC_CORE_CLOCK_H
#define WANC_CORE_CLOCK_H

/* Monotonic wall-clock seconds (for differences only). */
double wanc_now_seconds(void);
/* Median of v[0..n) (sorts v in place); 0 for n <= 0. */
double wanc_median(double *v, int n);
/* Peak resident set size of this process so far, in MiB. */
double wanc_peak_rss_mb(void);

#endif
