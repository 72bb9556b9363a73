/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one printer behind every cnictl command (modelled on iproute2's
 * json_print.h): commands describe their output once, as a tree of keyed
 * values, and the printer renders it either as JSON (-o json) or as text
 * for people. Text and JSON therefore always carry the same fields.
 *
 * Calls build a value; when a top-level value is complete (the outermost
 * begin/end pair closes, or a scalar is printed at top level) it is
 * rendered and written at once, so streams (cnictl monitor) print as they go:
 *  - JSON: one compact JSON document per top-level value, one per line.
 *  - text, by shape of the value:
 *    table    aligned columns with an upper-case header. Each row is an
 *             object; nested objects inside a row are flattened (their
 *             leaves become columns, header = leaf key, camelCase shown as
 *             CAMEL-CASE); arrays and "maps" collapse into one cell
 *             ("a,b" / "k=v,k=v"); a column a row lacks shows "-".
 *             Columns appear in first-seen order.
 *    object   "key: value" lines; nested objects and tables indented.
 *    line     (pr_line_begin) one line: string members as their value,
 *             numbers and booleans as key=value, separated by spaces.
 *    scalar   printed alone on a line.
 *
 * key is the member name inside objects and rows, and NULL inside arrays
 * and at top level. Strings are copied. Nothing here fails visibly: on
 * allocation failure output is dropped and pr_end_all() returns -ENOMEM.
 *
 * Typical use:
 *	pr_table_begin(NULL);
 *	for (...) {
 *		pr_row_begin();
 *		pr_str("name", name);
 *		pr_u64("entries", n);
 *		pr_map_begin("labels");  pr_str("app", "web");  pr_map_end();
 *		pr_row_end();
 *	}
 *	pr_table_end();
 */
#ifndef CNICTL_PRINT_H
#define CNICTL_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* Select the output mode and stream (default: text on stdout). */
void pr_init(bool json, FILE *out);
bool pr_is_json(void);
FILE *pr_out(void);

/* Containers. Every begin needs its end. */
void pr_obj_begin(const char *key); /* object with fields */
void pr_obj_end(void);
void pr_arr_begin(const char *key); /* list of values */
void pr_arr_end(void);
void pr_map_begin(const char *key); /* object whose members are data (labels): one text cell */
void pr_map_end(void);
void pr_table_begin(const char *key); /* list of rows: aligned in text */
void pr_table_end(void);
void pr_row_begin(void); /* one row (an object) of the open table */
void pr_row_end(void);
void pr_line_begin(const char *key); /* object shown on one text line (event streams) */
void pr_line_end(void);

/* Leaves. */
void pr_str(const char *key, const char *s); /* s NULL: null / "-" */
void pr_strf(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pr_u64(const char *key, uint64_t v);
void pr_s64(const char *key, int64_t v);
void pr_bool(const char *key, bool v);
/* A real number with the given decimals (JSON number, text the same digits). */
void pr_f64(const char *key, double v, int decimals);
void pr_null(const char *key);
/* Bytes: JSON "0a1b2c", text "0a 1b 2c". */
void pr_hex(const char *key, const void *p, size_t n);
/* Any jansson value (e.g. from a sluiced reply), rendered with the rules
 * above: objects as objects, arrays of objects as tables. */
void pr_json_value(const char *key, const json_t *v);

/* A list of records from sluiced (array of objects): JSON gets the records
 * unchanged; text shows a table of the given members only (cols is
 * NULL-terminated; NULL means every member). A column may name a nested
 * member as "a.b". Shown with header = last path element. */
void pr_json_table(const char *key, const json_t *arr, const char *const *cols);

/* Text-only remark printed in place (ignored in JSON mode), e.g.
 * "sluice_events is a ring buffer: nothing to dump". */
void pr_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Close whatever is still open and flush. Returns 0, or -ENOMEM if output
 * was lost, or -EINVAL if begin/end calls did not pair up. */
int pr_end_all(void);

/* Render a complete json_t in the current mode (exposed for tests and for
 * commands that already hold a whole document). */
void pr_render(const json_t *v);

/* Column header for a key in text tables ("maxEntries" -> "MAX-ENTRIES").
 * Writes into buf (NUL-terminated, truncated to len). Exposed for tests. */
void pr_header_name(const char *key, char *buf, size_t len);

#endif
