// SPDX-License-Identifier: Apache-2.0
/* The printer (print.h). JSON is written as the calls come (so a dump of
 * half a million entries needs no memory); text is collected per top-level
 * value into a small tree, because aligning a table needs every row first. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "print.h"

enum ntype {
	N_OBJ,	 /* object with fields */
	N_ARR,	 /* list of values */
	N_MAP,	 /* object of data members: one cell */
	N_TABLE, /* list of rows */
	N_ROW,	 /* object in a table */
	N_LINE,	 /* object on one line */
	N_LEAF,	 /* scalar, kept as its text */
	N_NOTE,	 /* text-only remark */
};

struct node {
	enum ntype t;
	char *key;
	char *s; /* N_LEAF / N_NOTE */
	struct node **kids;
	size_t n, cap;
	bool numeric; /* N_LEAF from a number or boolean */
};

#define PR_MAX_DEPTH 64

static struct {
	bool json;
	FILE *out;
	int depth;
	int err;
	/* JSON mode: the open containers and how many members each has. */
	enum ntype jtype[PR_MAX_DEPTH];
	size_t jcount[PR_MAX_DEPTH];
	/* text mode: the open containers (stack[0] is the top-level value). */
	struct node *stack[PR_MAX_DEPTH];
} P = {.json = false};

static bool is_container_obj(enum ntype t)
{
	return t == N_OBJ || t == N_MAP || t == N_ROW || t == N_LINE;
}

void pr_init(bool json, FILE *out)
{
	pr_end_all();
	P.json = json;
	P.out = out;
	P.err = 0;
}

bool pr_is_json(void)
{
	return P.json;
}

FILE *pr_out(void)
{
	return P.out ? P.out : stdout;
}

/* ---- JSON writer ---------------------------------------------------------- */

static void json_write_str(const char *s)
{
	FILE *f = pr_out();

	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Comma and key before a value in the current JSON container. */
static void json_prefix(const char *key)
{
	FILE *f = pr_out();
	int d = P.depth - 1;

	if (d < 0)
		return;
	if (P.jcount[d]++)
		fputc(',', f);
	if (is_container_obj(P.jtype[d])) {
		json_write_str(key ? key : "");
		fputc(':', f);
	}
}

static void json_done_top(void)
{
	if (P.depth == 0) {
		fputc('\n', pr_out());
		fflush(pr_out());
	}
}

/* ---- text tree -------------------------------------------------------------- */

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->key);
	free(n->s);
	free(n);
}

static struct node *node_new(enum ntype t, const char *key, const char *s)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		goto oom;
	n->t = t;
	if (key && !(n->key = strdup(key)))
		goto oom;
	if (s && !(n->s = strdup(s)))
		goto oom;
	return n;
oom:
	node_free(n);
	P.err = -ENOMEM;
	return NULL;
}

static void node_add(struct node *parent, struct node *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct node **k = realloc(parent->kids, cap * sizeof(*k));

		if (!k) {
			P.err = -ENOMEM;
			node_free(kid);
			return;
		}
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
}

static void text_render(struct node *n);

/* Attach a finished node to the open container, or render it if top-level. */
static void text_attach(struct node *n)
{
	if (!n)
		return;
	if (P.depth == 0) {
		text_render(n);
		node_free(n);
		fflush(pr_out());
		return;
	}
	if (!P.stack[P.depth - 1]) { /* parent lost to OOM */
		node_free(n);
		return;
	}
	node_add(P.stack[P.depth - 1], n);
}

/* ---- public: containers ------------------------------------------------------ */

static void begin(enum ntype t, const char *key)
{
	if (P.depth >= PR_MAX_DEPTH) {
		P.err = -EINVAL;
		return;
	}
	if (P.json) {
		json_prefix(key);
		fputc(is_container_obj(t) ? '{' : '[', pr_out());
		P.jtype[P.depth] = t;
		P.jcount[P.depth] = 0;
		P.depth++;
		return;
	}
	/* Text nodes are attached to their parent at begin, so members stay in
	 * call order; a top-level one is rendered at its end. */
	struct node *n = node_new(t, key, NULL);

	if (P.depth > 0 && n) {
		if (P.stack[P.depth - 1]) {
			node_add(P.stack[P.depth - 1], n);
		} else {
			node_free(n);
			n = NULL;
		}
	}
	P.stack[P.depth++] = n;
}

static void end(enum ntype t)
{
	if (P.depth == 0) {
		P.err = -EINVAL;
		return;
	}
	if (P.json) {
		if (P.jtype[P.depth - 1] != t)
			P.err = -EINVAL;
		fputc(is_container_obj(P.jtype[P.depth - 1]) ? '}' : ']', pr_out());
		P.depth--;
		json_done_top();
		return;
	}
	struct node *n = P.stack[--P.depth];

	if (n && n->t != t)
		P.err = -EINVAL;
	if (P.depth == 0 && n) {
		text_render(n);
		node_free(n);
		fflush(pr_out());
	}
}

void pr_obj_begin(const char *key)
{
	begin(N_OBJ, key);
}
void pr_obj_end(void)
{
	end(N_OBJ);
}
void pr_arr_begin(const char *key)
{
	begin(N_ARR, key);
}
void pr_arr_end(void)
{
	end(N_ARR);
}
void pr_map_begin(const char *key)
{
	begin(N_MAP, key);
}
void pr_map_end(void)
{
	end(N_MAP);
}
void pr_table_begin(const char *key)
{
	begin(N_TABLE, key);
}
void pr_table_end(void)
{
	end(N_TABLE);
}
void pr_row_begin(void)
{
	begin(N_ROW, NULL);
}
void pr_row_end(void)
{
	end(N_ROW);
}
void pr_line_begin(const char *key)
{
	begin(N_LINE, key);
}
void pr_line_end(void)
{
	end(N_LINE);
}

/* ---- public: leaves -------------------------------------------------------- */

/* raw: the JSON text of the value (NULL: use text as a JSON string). */
static void leaf(const char *key, const char *text, const char *raw)
{
	if (P.json) {
		json_prefix(key);
		if (raw)
			fputs(raw, pr_out());
		else
			json_write_str(text);
		json_done_top();
		return;
	}
	struct node *n = node_new(N_LEAF, key, text);

	if (n)
		n->numeric = raw && strcmp(raw, "null");
	text_attach(n);
}

void pr_str(const char *key, const char *s)
{
	if (!s)
		leaf(key, "-", "null");
	else
		leaf(key, s, NULL);
}

void pr_strf(const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		va_end(ap);
		P.err = -ENOMEM;
		return;
	}
	va_end(ap);
	pr_str(key, s);
	free(s);
}

void pr_u64(const char *key, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	leaf(key, b, b);
}

void pr_s64(const char *key, int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, v);
	leaf(key, b, b);
}

void pr_f64(const char *key, double v, int decimals)
{
	char b[64];

	if (v != v || v > 1e300 || v < -1e300) { /* NaN/inf: JSON has none */
		pr_null(key);
		return;
	}
	snprintf(b, sizeof(b), "%.*f", decimals < 0 ? 0 : decimals > 17 ? 17 : decimals, v);
	leaf(key, b, b);
}

void pr_bool(const char *key, bool v)
{
	leaf(key, v ? "true" : "false", v ? "true" : "false");
}

void pr_null(const char *key)
{
	leaf(key, "-", "null");
}

void pr_hex(const char *key, const void *p, size_t n)
{
	const unsigned char *b = p;
	char *s = malloc(n * 3 + 1);
	size_t o = 0;

	if (!s) {
		P.err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!P.json && i)
			s[o++] = ' ';
		o += (size_t)sprintf(s + o, "%02x", b[i]);
	}
	s[o] = 0;
	pr_str(key, s);
	free(s);
}

void pr_note(const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (P.json)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		va_end(ap);
		P.err = -ENOMEM;
		return;
	}
	va_end(ap);
	if (P.depth == 0) {
		fprintf(pr_out(), "%s\n", s);
		fflush(pr_out());
	} else {
		text_attach(node_new(N_NOTE, NULL, s));
	}
	free(s);
}

/* True when every member of an object is a string: labels and the like. */
static bool json_is_string_map(const json_t *v)
{
	const char *k;
	json_t *m;

	if (!json_object_size(v))
		return false;
	json_object_foreach((json_t *)v, k, m) if (!json_is_string(m)) return false;
	return true;
}

static bool json_is_object_array(const json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_array_size(v))
		return false;
	json_array_foreach(v, i, e) if (!json_is_object(e)) return false;
	return true;
}

static bool in_row(void)
{
	for (int d = 0; d < P.depth; d++)
		if (P.stack[d] && P.stack[d]->t == N_ROW)
			return true;
	return false;
}

static void json_value_text(const char *key, const json_t *v, bool row_ctx)
{
	const char *k;
	json_t *m;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		enum ntype t = row_ctx && json_is_string_map(v) ? N_MAP : N_OBJ;

		begin(t, key);
		json_object_foreach((json_t *)v, k, m) json_value_text(k, m, row_ctx);
		end(t);
		break;
	}
	case JSON_ARRAY:
		if (!row_ctx && json_is_object_array(v)) {
			pr_table_begin(key);
			json_array_foreach(v, i, m)
			{
				const char *rk;
				json_t *rv;

				pr_row_begin();
				json_object_foreach(m, rk, rv) json_value_text(rk, rv, true);
				pr_row_end();
			}
			pr_table_end();
		} else {
			pr_arr_begin(key);
			json_array_foreach(v, i, m) json_value_text(NULL, m, row_ctx);
			pr_arr_end();
		}
		break;
	case JSON_STRING:
		pr_str(key, json_string_value(v));
		break;
	case JSON_INTEGER:
		pr_s64(key, (int64_t)json_integer_value(v));
		break;
	case JSON_REAL:
		pr_strf(key, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		pr_bool(key, true);
		break;
	case JSON_FALSE:
		pr_bool(key, false);
		break;
	case JSON_NULL:
		pr_null(key);
		break;
	}
}

void pr_json_value(const char *key, const json_t *v)
{
	if (!v) {
		pr_null(key);
		return;
	}
	if (P.json) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!s) {
			P.err = -ENOMEM;
			return;
		}
		leaf(key, NULL, s);
		free(s);
		return;
	}
	json_value_text(key, v, in_row());
}

/* Member at a dotted path ("status.podIP"). */
static const json_t *json_path(const json_t *obj, const char *path)
{
	char *dup = strdup(path), *save = NULL;
	const json_t *v = obj;

	if (!dup)
		return NULL;
	for (char *p = strtok_r(dup, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
		v = json_object_get(v, p);
	free(dup);
	return v;
}

void pr_json_table(const char *key, const json_t *arr, const char *const *cols)
{
	size_t i;
	json_t *rec;

	if (P.json || !cols) {
		if (json_is_array(arr) && !json_array_size(arr)) {
			pr_table_begin(key);
			pr_table_end();
		} else {
			pr_json_value(key, arr);
		}
		return;
	}
	pr_table_begin(key);
	json_array_foreach(arr, i, rec)
	{
		pr_row_begin();
		for (const char *const *c = cols; *c; c++) {
			const char *dot = strrchr(*c, '.');
			const json_t *v = json_path(rec, *c);

			json_value_text(dot ? dot + 1 : *c, v ? v : json_null(), true);
		}
		pr_row_end();
	}
	pr_table_end();
}

void pr_render(const json_t *v)
{
	pr_json_value(NULL, v);
}

int pr_end_all(void)
{
	int err;

	while (P.depth > 0) {
		P.err = P.err ? P.err : -EINVAL;
		if (P.json) {
			end(P.jtype[P.depth - 1]);
		} else {
			struct node *n = P.stack[P.depth - 1];

			end(n ? n->t : N_OBJ);
		}
	}
	fflush(pr_out());
	err = P.err;
	P.err = 0;
	return err;
}

/* ---- text rendering --------------------------------------------------------- */

void pr_header_name(const char *key, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	for (const char *p = key ? key : ""; *p && o + 1 < len; p++) {
		unsigned char c = (unsigned char)*p;

		if (isupper(c) && p != key && islower((unsigned char)p[-1])) {
			buf[o++] = '-';
			if (o + 1 >= len)
				break;
		}
		buf[o++] = (c == '_' || c == '.') ? '-' : (char)toupper(c);
	}
	buf[o] = 0;
}

/* A growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (!p) {
			P.err = -ENOMEM;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

/* One node as the text of one cell: leaves as they are, lists joined with
 * ",", maps as k=v, objects as their values. */
static void cell_text(const struct node *n, struct sbuf *b)
{
	switch (n->t) {
	case N_LEAF:
		sb_add(b, n->s ? n->s : "-");
		break;
	case N_NOTE:
		break;
	case N_MAP:
	case N_OBJ:
	case N_ROW:
	case N_LINE:
		for (size_t i = 0; i < n->n; i++) {
			if (i)
				sb_add(b, n->t == N_MAP ? "," : " ");
			if ((n->t == N_MAP || n->t == N_OBJ) && n->kids[i]->key) {
				sb_add(b, n->kids[i]->key);
				sb_add(b, "=");
			}
			cell_text(n->kids[i], b);
		}
		break;
	case N_ARR:
	case N_TABLE:
		for (size_t i = 0; i < n->n; i++) {
			if (i)
				sb_add(b, ",");
			cell_text(n->kids[i], b);
		}
		break;
	}
	if (!b->s)
		sb_add(b, "");
}

struct col {
	char *id;
	size_t width;
	bool numeric;	 /* every cell a number or "-" ... */
	bool any_number; /* ... and at least one a number: right-align */
};

struct table {
	struct col *cols;
	size_t ncols;
	char ***cells; /* [row][col], NULL = missing */
	size_t nrows;
};

static size_t table_col(struct table *t, const char *id)
{
	char hdr[64];

	for (size_t i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].id, id))
			return i;
	struct col *c = realloc(t->cols, (t->ncols + 1) * sizeof(*c));

	if (!c) {
		P.err = -ENOMEM;
		return SIZE_MAX;
	}
	t->cols = c;
	pr_header_name(id, hdr, sizeof(hdr));
	c[t->ncols] = (struct col){.id = strdup(id), .width = strlen(hdr), .numeric = true};
	if (!c[t->ncols].id) {
		P.err = -ENOMEM;
		return SIZE_MAX;
	}
	/* Rows seen so far lack the new column. */
	for (size_t r = 0; r < t->nrows; r++) {
		char **row = realloc(t->cells[r], (t->ncols + 1) * sizeof(char *));

		if (!row) {
			P.err = -ENOMEM;
			free(c[t->ncols].id);
			return SIZE_MAX;
		}
		row[t->ncols] = NULL;
		t->cells[r] = row;
	}
	return t->ncols++;
}

/* A number a person would want right-aligned: "-12", "3.5"; not "10.1.0.5". */
static bool is_number(const char *s)
{
	int dots = 0;

	if (!strcmp(s, "-"))
		return true; /* missing value: keeps a numeric column numeric */
	if (*s == '-')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s == '.' && ++dots == 1)
			continue;
		if (!isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

static void table_set(struct table *t, const char *id, const char *parent, char *text)
{
	size_t c = table_col(t, id);
	char **row = t->cells[t->nrows - 1];

	if (c == SIZE_MAX) {
		free(text);
		return;
	}
	if (row[c] && parent) {
		/* Same leaf name twice in one row (key.x and value.x): qualify. */
		char *qid;

		if (asprintf(&qid, "%s.%s", parent, id) < 0) {
			free(text);
			P.err = -ENOMEM;
			return;
		}
		table_set(t, qid, NULL, text);
		free(qid);
		return;
	}
	row = t->cells[t->nrows - 1];
	free(row[c]);
	row[c] = text;
	if (strlen(text) > t->cols[c].width)
		t->cols[c].width = strlen(text);
	if (!is_number(text))
		t->cols[c].numeric = false;
	else if (strcmp(text, "-"))
		t->cols[c].any_number = true;
}

/* Flatten one row: nested objects contribute their leaves as columns. */
static void table_flatten(struct table *t, const struct node *n, const char *parent)
{
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->kids[i];

		if (k->t == N_NOTE)
			continue;
		if (k->t == N_OBJ || k->t == N_ROW || k->t == N_LINE) {
			table_flatten(t, k, k->key);
			continue;
		}
		struct sbuf b = {0};

		cell_text(k, &b);
		if (b.s && !*b.s) { /* empty list */
			free(b.s);
			b.s = strdup("-");
		}
		if (!b.s)
			continue;
		table_set(t, k->key ? k->key : "value", parent, b.s);
	}
}

static void table_free(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			free(t->cells[r][c]);
		free(t->cells[r]);
	}
	free(t->cells);
	for (size_t c = 0; c < t->ncols; c++)
		free(t->cols[c].id);
	free(t->cols);
}

static void render_table(const struct node *n, int indent)
{
	FILE *f = pr_out();
	struct table t = {0};
	char hdr[64];

	if (!n->n) {
		fprintf(f, "%*s(none)\n", indent, "");
		return;
	}
	t.cells = calloc(n->n, sizeof(*t.cells));
	if (!t.cells) {
		P.err = -ENOMEM;
		return;
	}
	for (size_t r = 0; r < n->n; r++) {
		t.cells[r] = calloc(t.ncols + 1, sizeof(char *));
		if (!t.cells[r]) {
			P.err = -ENOMEM;
			break;
		}
		t.nrows++;
		if (n->kids[r]->t == N_LEAF || n->kids[r]->t == N_ARR || n->kids[r]->t == N_MAP) {
			struct sbuf b = {0};

			cell_text(n->kids[r], &b);
			if (b.s)
				table_set(&t, "value", NULL, b.s);
		} else {
			table_flatten(&t, n->kids[r], NULL);
		}
	}
	fprintf(f, "%*s", indent, "");
	for (size_t c = 0; c < t.ncols; c++) {
		pr_header_name(t.cols[c].id, hdr, sizeof(hdr));
		if (c + 1 == t.ncols)
			fprintf(f, "%s", hdr);
		else if ((t.cols[c].numeric && t.cols[c].any_number))
			fprintf(f, "%*s  ", (int)t.cols[c].width, hdr);
		else
			fprintf(f, "%-*s  ", (int)t.cols[c].width, hdr);
	}
	fputc('\n', f);
	for (size_t r = 0; r < t.nrows; r++) {
		fprintf(f, "%*s", indent, "");
		for (size_t c = 0; c < t.ncols; c++) {
			const char *s = t.cells[r][c] ? t.cells[r][c] : "-";

			if (c + 1 == t.ncols && !(t.cols[c].numeric && t.cols[c].any_number))
				fprintf(f, "%s", s);
			else if ((t.cols[c].numeric && t.cols[c].any_number))
				fprintf(f, "%*s%s", (int)t.cols[c].width, s,
					c + 1 == t.ncols ? "" : "  ");
			else
				fprintf(f, "%-*s  ", (int)t.cols[c].width, s);
		}
		fputc('\n', f);
	}
	table_free(&t);
}

static bool node_is_scalar_like(const struct node *n)
{
	if (n->t == N_LEAF || n->t == N_MAP)
		return true;
	if (n->t == N_ARR) {
		for (size_t i = 0; i < n->n; i++)
			if (n->kids[i]->t != N_LEAF)
				return false;
		return true;
	}
	return false;
}

static void render_object(const struct node *n, int indent);

static void render_line(const struct node *n)
{
	struct sbuf b = {0};

	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->kids[i];

		if (k->t == N_NOTE)
			continue;
		if (b.len)
			sb_add(&b, " ");
		/* Numbers alone mean nothing to a reader: name them. */
		if (k->t == N_LEAF && k->key && k->numeric) {
			sb_add(&b, k->key);
			sb_add(&b, "=");
		}
		cell_text(k, &b);
	}
	fprintf(pr_out(), "%s\n", b.s ? b.s : "");
	free(b.s);
}

/* A member of an object, "key: value" or "key:" and the value indented. */
static void render_member(const struct node *k, int indent, int keyw)
{
	FILE *f = pr_out();
	const char *key = k->key ? k->key : "-";

	if (k->t == N_NOTE) {
		fprintf(f, "%*s%s\n", indent, "", k->s);
		return;
	}
	if (node_is_scalar_like(k)) {
		struct sbuf b = {0};

		cell_text(k, &b);
		if (k->t == N_ARR && !k->n)
			sb_add(&b, "-");
		fprintf(f, "%*s%s:%*s %s\n", indent, "", key, keyw - (int)strlen(key), "",
			b.s ? b.s : "");
		free(b.s);
		return;
	}
	fprintf(f, "%*s%s:\n", indent, "", key);
	if (k->t == N_TABLE || k->t == N_ARR)
		render_table(k, indent + 2);
	else
		render_object(k, indent + 2);
}

static void render_object(const struct node *n, int indent)
{
	int keyw = 0;

	for (size_t i = 0; i < n->n; i++)
		if (n->kids[i]->key && node_is_scalar_like(n->kids[i]) &&
		    (int)strlen(n->kids[i]->key) > keyw)
			keyw = (int)strlen(n->kids[i]->key);
	for (size_t i = 0; i < n->n; i++)
		render_member(n->kids[i], indent, keyw);
}

static void text_render(struct node *n)
{
	switch (n->t) {
	case N_TABLE:
		render_table(n, 0);
		break;
	case N_ARR:
		if (node_is_scalar_like(n)) {
			for (size_t i = 0; i < n->n; i++)
				fprintf(pr_out(), "%s\n", n->kids[i]->s ? n->kids[i]->s : "-");
		} else {
			render_table(n, 0);
		}
		break;
	case N_OBJ:
	case N_ROW:
		render_object(n, 0);
		break;
	case N_LINE:
	case N_MAP:
		render_line(n);
		break;
	case N_LEAF:
	case N_NOTE:
		fprintf(pr_out(), "%s\n", n->s ? n->s : "-");
		break;
	}
}
