# Generates src/text/text_tables.c from Python's unicodedata and html.entities.
import html, html.entities, unicodedata, sys
out = []
w = out.append
def cstr(s):
    b = s.encode('utf-8')
    r = '"'
    for x in b:
        if 32 <= x < 127 and chr(x) not in '"\\?':
            r += chr(x)
        else:
            r += '\\%03o' % x
    return r + '"'
w('/* Generated data tables for the Wan prompt cleaner (src/text/text_clean.c).')
w(' *')
w(' * Source: Python %s unicodedata (Unicode %s) and html.entities.html5' % (sys.version.split()[0], unicodedata.unidata_version))
w(' * (the WHATWG HTML5 named character references). Regenerate with')
w(' * src/text/gen_text_tables.py; do not edit by hand. */')
w('#include "text/text_tables.h"')
w('')
# html5 entities
ents = sorted(html.entities.html5.items())
w('const wanc_entity wanc_html5_entities[] = {')
for k, v in ents:
    w('    {%s, %s},' % (cstr(k), cstr(v)))
w('};')
w('const int wanc_html5_entity_count = %d;' % len(ents))
w('')
# ftfy upper-case extras: "&NAME;" -> char.upper() where name is lowercase and the upper form is not an entity
ups = {}
for name, char in html.entities.html5.items():
    if name.endswith(';') and name == name.lower():
        nu = name.upper()
        if html.unescape('&' + nu) == '&' + nu:
            ups[nu] = char.upper()
ups = sorted(ups.items())
w('/* Upper-cased entity names ("EACUTE;") that ftfy also decodes, to the upper-cased character. */')
w('const wanc_entity wanc_upper_entities[] = {')
for k, v in ups:
    w('    {%s, %s},' % (cstr(k), cstr(v)))
w('};')
w('const int wanc_upper_entity_count = %d;' % len(ups))
w('')
# width map
wm = {0x3000: ' '}
for i in range(0xFF01, 0xFFF0):
    a = unicodedata.normalize('NFKC', chr(i))
    if a != chr(i): wm[i] = a
w('/* Halfwidth/fullwidth forms (U+3000, U+FF01..U+FFEF) and their NFKC replacement. */')
w('const wanc_cp_map wanc_width_map[] = {')
for k in sorted(wm):
    w('    {0x%04X, %s},' % (k, cstr(wm[k])))
w('};')
w('const int wanc_width_map_count = %d;' % len(wm))
w('')
# NFC: canonical combining classes as ranges
ranges = []
prev = None
for cp in range(0x110000):
    c = unicodedata.combining(chr(cp))
    if c:
        if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == c:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, c])
w('/* Canonical combining class (non-zero only), as [first, last, class] ranges. */')
w('const wanc_ccc_range wanc_ccc_ranges[] = {')
for a, b, c in ranges:
    w('    {0x%04X, 0x%04X, %d},' % (a, b, c))
w('};')
w('const int wanc_ccc_range_count = %d;' % len(ranges))
w('')
# canonical decompositions (one level), excluding Hangul (algorithmic)
dec = []
comp = []
for cp in range(0x110000):
    if 0xAC00 <= cp <= 0xD7A3: continue
    d = unicodedata.decomposition(chr(cp))
    if not d or d.startswith('<'): continue
    parts = [int(x, 16) for x in d.split()]
    assert len(parts) in (1, 2)
    dec.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
    if len(parts) == 2 and unicodedata.normalize('NFC', chr(parts[0]) + chr(parts[1])) == chr(cp):
        comp.append((parts[0], parts[1], cp))
w('/* Canonical decompositions, one level: cp -> first [, second] (second 0 when a singleton). Sorted by cp. */')
w('const wanc_decomp wanc_decomps[] = {')
for a, b, c in dec:
    w('    {0x%04X, 0x%04X, 0x%04X},' % (a, b, c))
w('};')
w('const int wanc_decomp_count = %d;' % len(dec))
w('')
comp.sort()
w('/* Primary composites: (first, second) -> composed, sorted by (first, second). */')
w('const wanc_compose wanc_compositions[] = {')
for a, b, c in comp:
    w('    {0x%04X, 0x%04X, 0x%04X},' % (a, b, c))
w('};')
w('const int wanc_composition_count = %d;' % len(comp))
print('\n'.join(out))
