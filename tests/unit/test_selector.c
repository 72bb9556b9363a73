// SPDX-License-Identifier: Apache-2.0
/* Label selectors (controller/selector.c): table of selector x labels. */
#include <criterion/criterion.h>
#include <jansson.h>

#include "../../controller/selector.h"

struct sel_case {
	const char *desc;
	const char *sel;    /* JSON, or NULL for an absent selector */
	const char *labels; /* JSON object, or NULL for none */
	bool want;
};

static const struct sel_case cases[] = {
	{ "absent selector matches all", NULL, "{\"a\":\"1\"}", true },
	{ "empty selector matches all", "{}", "{\"a\":\"1\"}", true },
	{ "empty selector matches no labels", "{}", NULL, true },
	{ "empty matchLabels/expressions", "{\"matchLabels\":{},\"matchExpressions\":[]}", NULL, true },
	{ "matchLabels equal", "{\"matchLabels\":{\"a\":\"1\"}}", "{\"a\":\"1\",\"b\":\"2\"}", true },
	{ "matchLabels other value", "{\"matchLabels\":{\"a\":\"1\"}}", "{\"a\":\"2\"}", false },
	{ "matchLabels missing key", "{\"matchLabels\":{\"a\":\"1\"}}", "{\"b\":\"1\"}", false },
	{ "matchLabels no labels", "{\"matchLabels\":{\"a\":\"1\"}}", NULL, false },
	{ "matchLabels all pairs", "{\"matchLabels\":{\"a\":\"1\",\"b\":\"2\"}}", "{\"a\":\"1\"}", false },
	{ "matchLabels empty value", "{\"matchLabels\":{\"a\":\"\"}}", "{\"a\":\"\"}", true },
	{ "In hit", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"1\",\"2\"]}]}",
	  "{\"a\":\"2\"}", true },
	{ "In miss", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"1\",\"2\"]}]}",
	  "{\"a\":\"3\"}", false },
	{ "In absent key", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"1\"]}]}",
	  "{}", false },
	{ "NotIn hit", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\",\"values\":[\"1\"]}]}",
	  "{\"a\":\"1\"}", false },
	{ "NotIn other value", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\",\"values\":[\"1\"]}]}",
	  "{\"a\":\"2\"}", true },
	{ "NotIn absent key matches", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\",\"values\":[\"1\"]}]}",
	  NULL, true },
	{ "Exists", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}", "{\"a\":\"\"}", true },
	{ "Exists absent", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}", "{\"b\":\"x\"}", false },
	{ "DoesNotExist", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"DoesNotExist\"}]}", "{\"b\":\"x\"}", true },
	{ "DoesNotExist present", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"DoesNotExist\"}]}",
	  "{\"a\":\"x\"}", false },
	{ "labels AND expressions", "{\"matchLabels\":{\"a\":\"1\"},\"matchExpressions\":[{\"key\":\"b\",\"operator\":\"Exists\"}]}",
	  "{\"a\":\"1\"}", false },
	{ "two expressions AND", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\",\"operator\":\"In\",\"values\":[\"x\"]}]}",
	  "{\"a\":\"1\",\"b\":\"x\"}", true },
	{ "unknown operator fails closed", "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}",
	  "{\"a\":\"5\"}", false },
};

Test(selector, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sel_case *c = &cases[i];
		json_t *sel = c->sel ? json_loads(c->sel, 0, NULL) : NULL;
		json_t *labels = c->labels ? json_loads(c->labels, 0, NULL) : NULL;
		bool got;

		cr_assert(!c->sel || sel, "%s: bad selector JSON", c->desc);
		got = selector_matches(sel, labels);
		cr_expect(got == c->want, "%s: got %d, expected %d", c->desc, got, c->want);
		json_decref(sel);
		json_decref(labels);
	}
}

Test(selector, is_empty)
{
	json_t *e = json_loads("{\"matchLabels\":{}}", 0, NULL);
	json_t *ne = json_loads("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}", 0, NULL);

	cr_expect(selector_is_empty(NULL));
	cr_expect(selector_is_empty(e), "{matchLabels:{}} should be empty");
	cr_expect(!selector_is_empty(ne), "an expression is not empty");
	json_decref(e);
	json_decref(ne);
}
