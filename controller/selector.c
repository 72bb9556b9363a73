// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "selector.h"

/* labels[key] as a string, or NULL when absent or not a string. */
static const char *label_get(const json_t *labels, const char *key)
{
	const json_t *v;

	if (!labels || !json_is_object(labels))
		return NULL;
	v = json_object_get(labels, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* True when s is one of the strings of the array vals. */
static bool in_values(const json_t *vals, const char *s)
{
	const json_t *v;
	size_t i;

	if (!json_is_array(vals))
		return false;
	json_array_foreach(vals, i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

/* One matchExpressions requirement. */
static bool requirement_matches(const json_t *req, const json_t *labels)
{
	const char *key = json_string_value(json_object_get(req, "key"));
	const char *op = json_string_value(json_object_get(req, "operator"));
	const json_t *vals = json_object_get(req, "values");
	const char *have;

	if (!key || !op)
		return false;
	have = label_get(labels, key);
	if (!strcmp(op, "In"))
		return have && in_values(vals, have);
	if (!strcmp(op, "NotIn"))
		return !have || !in_values(vals, have);
	if (!strcmp(op, "Exists"))
		return have != NULL;
	if (!strcmp(op, "DoesNotExist"))
		return have == NULL;
	return false;
}

bool selector_matches(const json_t *sel, const json_t *labels)
{
	const json_t *ml, *exprs, *v;
	const char *key;
	size_t i;

	if (!sel || json_is_null(sel))
		return true;
	if (!json_is_object(sel))
		return false;
	ml = json_object_get(sel, "matchLabels");
	if (json_is_object(ml)) {
		json_object_foreach((json_t *)ml, key, v)
		{
			const char *have = label_get(labels, key);

			if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)))
				return false;
		}
	}
	exprs = json_object_get(sel, "matchExpressions");
	if (json_is_array(exprs)) {
		json_array_foreach(exprs, i, v)
		{
			if (!requirement_matches(v, labels))
				return false;
		}
	}
	return true;
}

bool selector_is_empty(const json_t *sel)
{
	const json_t *ml, *ex;

	if (!sel || json_is_null(sel))
		return true;
	ml = json_object_get(sel, "matchLabels");
	ex = json_object_get(sel, "matchExpressions");
	return (!ml || !json_object_size(ml)) && (!ex || !json_array_size(ex));
}
