// SPDX-License-Identifier: Apache-2.0
/* The printer: exact text and JSON renderings, and parity between them
 * (every value the JSON carries shows in the text). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../../cnictl/print.h"

/* Run fn with the printer writing to memory; returns the output (free it). */
static char *capture(void (*fn)(void), bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	pr_init(json, f);
	fn();
	cr_assert_eq(pr_end_all(), 0, "printer reported an error (unbalanced calls?)");
	pr_init(false, stdout); /* before fclose: pr_init flushes the old stream */
	fclose(f);
	return buf;
}

static void table_two_rows(void)
{
	pr_table_begin(NULL);
	pr_row_begin();
	pr_str("name", "sluice_ct");
	pr_u64("maxEntries", 262144);
	pr_map_begin("labels");
	pr_str("app", "web");
	pr_str("tier", "fe");
	pr_map_end();
	pr_row_end();
	pr_row_begin();
	pr_str("name", "sluice_ep");
	pr_u64("maxEntries", 7);
	pr_map_begin("labels");
	pr_map_end();
	pr_row_end();
	pr_table_end();
}

Test(print, table_text_is_aligned)
{
	char *out = capture(table_two_rows, false);

	cr_assert_str_eq(out,
			 "NAME       MAX-ENTRIES  LABELS\n"
			 "sluice_ct       262144  app=web,tier=fe\n"
			 "sluice_ep            7  -\n",
			 "got:\n%s", out);
	free(out);
}

Test(print, table_json)
{
	char *out = capture(table_two_rows, true);

	cr_assert_str_eq(
	    out,
	    "[{\"name\":\"sluice_ct\",\"maxEntries\":262144,\"labels\":{\"app\":\"web\","
	    "\"tier\":\"fe\"}},{\"name\":\"sluice_ep\",\"maxEntries\":7,\"labels\":{}}]\n",
	    "got: %s", out);
	free(out);
}

static void nested_rows(void)
{
	pr_table_begin(NULL);
	pr_row_begin();
	pr_obj_begin("key");
	pr_str("src", "10.0.0.1");
	pr_u64("port", 80);
	pr_obj_end();
	pr_obj_begin("value");
	pr_str("state", "new");
	pr_arr_begin("flags");
	pr_str(NULL, "svc");
	pr_str(NULL, "hairpin");
	pr_arr_end();
	pr_u64("port", 8080); /* same leaf name as the key's: qualified */
	pr_arr_begin("empty");
	pr_arr_end();
	pr_obj_end();
	pr_row_end();
	pr_table_end();
}

Test(print, rows_flatten_nested_objects)
{
	char *out = capture(nested_rows, false);

	cr_assert_str_eq(out,
			 "SRC       PORT  STATE  FLAGS        VALUE-PORT  EMPTY\n"
			 "10.0.0.1    80  new    svc,hairpin        8080  -\n",
			 "got:\n%s", out);
	free(out);
	out = capture(nested_rows, true);
	cr_assert_str_eq(
	    out,
	    "[{\"key\":{\"src\":\"10.0.0.1\",\"port\":80},\"value\":{\"state\":\"new\","
	    "\"flags\":[\"svc\",\"hairpin\"],\"port\":8080,\"empty\":[]}}]\n",
	    "got: %s", out);
	free(out);
}

static void detail_object(void)
{
	pr_obj_begin(NULL);
	pr_bool("running", false);
	pr_str("socket", "/run/x.sock");
	pr_obj_begin("controller");
	pr_s64("uptime", -3);
	pr_null("podCIDR");
	pr_obj_end();
	pr_table_begin("maps");
	pr_row_begin();
	pr_str("name", "a");
	pr_row_end();
	pr_table_end();
	pr_table_begin("none");
	pr_table_end();
	pr_obj_end();
}

Test(print, object_text_and_json)
{
	char *out = capture(detail_object, false);

	cr_assert_str_eq(out,
			 "running: false\n"
			 "socket:  /run/x.sock\n"
			 "controller:\n"
			 "  uptime:  -3\n"
			 "  podCIDR: -\n"
			 "maps:\n"
			 "  NAME\n"
			 "  a\n"
			 "none:\n"
			 "  (none)\n",
			 "got:\n%s", out);
	free(out);
	out = capture(detail_object, true);
	cr_assert_str_eq(
	    out,
	    "{\"running\":false,\"socket\":\"/run/x.sock\",\"controller\":{\"uptime\":-3,"
	    "\"podCIDR\":null},\"maps\":[{\"name\":\"a\"}],\"none\":[]}\n",
	    "got: %s", out);
	free(out);
}

static void two_lines(void)
{
	for (int i = 0; i < 2; i++) {
		pr_line_begin(NULL);
		pr_str("type", "drop");
		pr_str("src", "10.0.0.1");
		pr_u64("ifindex", (uint64_t)i + 4);
		pr_line_end();
	}
}

Test(print, lines_stream_one_per_value)
{
	char *out = capture(two_lines, false);

	cr_assert_str_eq(out, "drop 10.0.0.1 ifindex=4\ndrop 10.0.0.1 ifindex=5\n", "got:\n%s",
			 out);
	free(out);
	out = capture(two_lines, true);
	cr_assert_str_eq(out,
			 "{\"type\":\"drop\",\"src\":\"10.0.0.1\",\"ifindex\":4}\n"
			 "{\"type\":\"drop\",\"src\":\"10.0.0.1\",\"ifindex\":5}\n",
			 "got:\n%s", out);
	free(out);
}

static void escapes(void)
{
	pr_obj_begin(NULL);
	pr_str("s", "a\"b\\c\nd\x01");
	pr_hex("h", "\x0a\xff", 2);
	pr_note("text only");
	pr_obj_end();
}

Test(print, json_escapes_and_hex)
{
	char *out = capture(escapes, true);
	json_error_t e;
	json_t *v = json_loads(out, 0, &e);

	cr_assert_not_null(v, "not JSON (%s): %s", e.text, out);
	cr_assert_str_eq(json_string_value(json_object_get(v, "s")), "a\"b\\c\nd\x01");
	cr_assert_str_eq(json_string_value(json_object_get(v, "h")), "0aff");
	json_decref(v);
	free(out);
	out = capture(escapes, false);
	cr_assert(strstr(out, "h: 0a ff\n"), "hex text: %s", out);
	cr_assert(strstr(out, "text only\n"), "note: %s", out);
	free(out);
}

static json_t *jv;
static void render_jv(void)
{
	pr_render(jv);
}

Test(print, json_value_arrays_of_objects_are_tables)
{
	char *out;

	jv = json_loads(
	    "{\"identities\":[{\"id\":256,\"labels\":{\"app\":\"web\"},\"pods\":[\"a/b\",\"a/c\"]},"
	    "{\"id\":257,\"labels\":{},\"pods\":[]}],\"n\":2.5}",
	    0, NULL);
	cr_assert_not_null(jv);
	out = capture(render_jv, false);
	cr_assert_str_eq(out,
			 "identities:\n"
			 "   ID  LABELS   PODS\n"
			 "  256  app=web  a/b,a/c\n"
			 "  257  -        -\n"
			 "n: 2.5\n",
			 "got:\n%s", out);
	free(out);
	out = capture(render_jv, true);
	cr_assert_str_eq(
	    out,
	    "{\"identities\":[{\"id\":256,\"labels\":{\"app\":\"web\"},\"pods\":[\"a/b\",\"a/c\"]},"
	    "{\"id\":257,\"labels\":{},\"pods\":[]}],\"n\":2.5}\n",
	    "got: %s", out);
	free(out);
	json_decref(jv);
}

static void json_table_cols(void)
{
	static const char *const cols[] = {"id", "status.ip", NULL};

	pr_json_table(NULL, jv, cols);
}

Test(print, json_table_text_columns_json_everything)
{
	char *out;

	jv = json_loads("[{\"id\":1,\"secret\":\"x\",\"status\":{\"ip\":\"10.0.0.9\"}}]", 0, NULL);
	out = capture(json_table_cols, false);
	cr_assert_str_eq(out, "ID  IP\n 1  10.0.0.9\n", "got:\n%s", out);
	free(out);
	out = capture(json_table_cols, true);
	cr_assert_str_eq(out, "[{\"id\":1,\"secret\":\"x\",\"status\":{\"ip\":\"10.0.0.9\"}}]\n",
			 "got: %s", out);
	free(out);
	json_decref(jv);
}

/* Parity: every scalar in the JSON rendering appears in the text one. */
static void leaves(const json_t *v, json_t *acc)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m) leaves(m, acc);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m) leaves(m, acc);
	} else if (json_is_string(v)) {
		json_array_append_new(acc, json_string(json_string_value(v)));
	} else if (json_is_integer(v)) {
		json_array_append_new(acc, json_sprintf("%lld", (long long)json_integer_value(v)));
	}
}

Test(print, text_and_json_carry_the_same_values)
{
	void (*fns[])(void) = {table_two_rows, nested_rows, detail_object, two_lines};

	for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
		char *text = capture(fns[f], false), *js = capture(fns[f], true);
		json_t *acc = json_array(), *s;
		size_t i;

		/* JSON may be several documents, one per line. */
		for (char *line = strtok(js, "\n"); line; line = strtok(NULL, "\n")) {
			json_t *v = json_loads(line, 0, NULL);

			cr_assert_not_null(v, "case %zu: invalid JSON line: %s", f, line);
			leaves(v, acc);
			json_decref(v);
		}
		json_array_foreach(acc, i, s)
		    cr_assert(strstr(text, json_string_value(s)),
			      "case %zu: JSON value '%s' missing from text:\n%s", f,
			      json_string_value(s), text);
		json_decref(acc);
		free(text);
		free(js);
	}
}

Test(print, header_names)
{
	static const struct {
		const char *key, *want;
	} cases[] = {
	    {"name", "NAME"},
	    {"maxEntries", "MAX-ENTRIES"},
	    {"tx_bytes", "TX-BYTES"},
	    {"value.port", "VALUE-PORT"},
	    {"ID", "ID"},
	    {"hostMAC", "HOST-MAC"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pr_header_name(cases[i].key, buf, sizeof(buf));
		cr_expect_str_eq(buf, cases[i].want, "%s: got %s, want %s", cases[i].key, buf,
				 cases[i].want);
	}
	pr_header_name("abcdefgh", buf, 4);
	cr_expect_str_eq(buf, "ABC", "truncation: got %s", buf);
}

Test(print, unbalanced_calls_are_reported)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	pr_init(true, f);
	pr_obj_begin(NULL);
	pr_arr_begin("a");
	cr_assert_eq(pr_end_all(), -EINVAL, "open containers must be reported");
	pr_init(false, stdout);
	fclose(f);
	cr_assert_str_eq(buf, "{\"a\":[]}\n", "closed anyway: %s", buf);
	free(buf);
}

static void reals(void)
{
	pr_obj_begin(NULL);
	pr_f64("fill", 12.345, 1);
	pr_f64("zero", 0, 0);
	pr_f64("nan", 0.0 / 0.0, 2);
	pr_obj_end();
}

Test(print, reals)
{
	char *out = capture(reals, true);

	cr_expect_str_eq(out, "{\"fill\":12.3,\"zero\":0,\"nan\":null}\n", "got: %s", out);
	free(out);
	out = capture(reals, false);
	cr_expect_str_eq(out, "fill: 12.3\nzero: 0\nnan:  -\n", "got:\n%s", out);
	free(out);
}
