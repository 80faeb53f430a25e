/* Generated Unicode / HTML tables used by the prompt cleaner (see text_tables.c). */
#ifndef WANC_TEXT_TABLES_H
#define WANC_TEXT_TABLES_H

#include <stdint.h>

typedef struct { const char *name, *value; } wanc_entity;   /* name without '&', UTF-8 value */
typedef struct { uint32_t cp; const char *value; } wanc_cp_map;
typedef struct { uint32_t first, last; uint8_t ccc; } wanc_ccc_range;
typedef struct { uint32_t cp, a, b; } wanc_decomp;            /* b == 0: singleton */
typedef struct { uint32_t a, b, cp; } wanc_compose;

extern const wanc_entity wanc_html5_entities[];
extern const int wanc_html5_entity_count;
extern const wanc_entity wanc_upper_entities[];
extern const int wanc_upper_entity_count;
extern const wanc_cp_map wanc_width_map[];
extern const int wanc_width_map_count;
extern const wanc_ccc_range wanc_ccc_ranges[];
extern const int wanc_ccc_range_count;
extern const wanc_decomp wanc_decomps[];
extern const int wanc_decomp_count;
extern const wanc_compose wanc_compositions[];
extern const int wanc_composition_count;

#endif
