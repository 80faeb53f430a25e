/* Text cleaning pieces behind wanc_wan_clean_prompt (exposed for tests). All
 * work on arrays of Unicode code points. */
#ifndef WANC_TEXT_CLEAN_H
#define WANC_TEXT_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    uint32_t *c;
    size_t n, cap;
} wanc_cps;

/* UTF-8 -> code points; ill-formed input becomes U+FFFD per maximal subpart
 * (Python's bytes.decode('utf-8', 'replace')). */
wanc_err wanc_cps_from_utf8(wanc_cps *out, const char *s, size_t n);
/* Code points -> malloc'ed NUL-terminated UTF-8. */
wanc_err wanc_cps_to_utf8(const wanc_cps *in, char **out, size_t *n);
void wanc_cps_free(wanc_cps *c);

/* Python's html.unescape. */
wanc_err wanc_html_unescape(wanc_cps *t);
/* ftfy.fix_text (subset, see text_clean.c). */
wanc_err wanc_ftfy_fix_text(wanc_cps *t);
/* Unicode NFC. */
wanc_err wanc_nfc(wanc_cps *t);

#endif
