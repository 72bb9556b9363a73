// SPDX-License-Identifier: Apache-2.0
/* cnictl apply|delete -f FILE|-: send Kubernetes objects to sluiced's feed
 * and report each object's result. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml.h>

#include "client.h"
#include "cmd_apply.h"
#include "cnictl.h"
#include "defaults.h"
#include "print.h"

/* ---- YAML -> JSON -------------------------------------------------------------- */

struct anchor {
	char *name;
	json_t *v;
};

struct yctx {
	yaml_parser_t p;
	struct anchor *anchors;
	size_t nanchors;
	int depth;
};

#define YAML_MAX_DEPTH 128

static bool str_in(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/* A plain scalar typed by the YAML 1.2 core schema (what Kubernetes
 * manifests rely on: numbers, booleans, null); anything else is a string. */
static json_t *yaml_plain_scalar(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	char *end;

	if (str_in(s, nulls))
		return json_null();
	if (str_in(s, trues))
		return json_true();
	if (str_in(s, falses))
		return json_false();
	if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && s[1])) {
		long long i;
		double d;

		errno = 0;
		if (!strncmp(s, "0x", 2))
			i = strtoll(s + 2, &end, 16);
		else if (!strncmp(s, "0o", 2))
			i = strtoll(s + 2, &end, 8);
		else
			i = strtoll(s, &end, 10);
		if (!*end && !errno && end != s)
			return json_integer(i);
		d = strtod(s, &end);
		if (!*end && end != s && strpbrk(s, "0123456789"))
			return json_real(d);
	}
	if (!strcmp(s, ".inf") || !strcmp(s, ".nan") || !strcmp(s, "-.inf"))
		return json_string(s); /* JSON has no infinities: keep the text */
	return json_string(s);
}

/* what NULL: the parser's own error; else ours, at the event's mark. */
static int yaml_err_at(struct yctx *y, const yaml_mark_t *mark, const char *source, char **err,
		       const char *what)
{
	const yaml_mark_t *m = what && mark ? mark : &y->p.problem_mark;

	if (asprintf(err, "%s: YAML line %zu column %zu: %s", source, m->line + 1, m->column + 1,
		     what ? what : (y->p.problem ? y->p.problem : "parse error")) < 0)
		*err = NULL;
	return -EINVAL;
}
#define yaml_err(y, source, err, what) yaml_err_at(y, NULL, source, err, what)

static int yaml_anchor(struct yctx *y, const yaml_char_t *name, json_t *v)
{
	struct anchor *a;

	if (!name)
		return 0;
	a = realloc(y->anchors, (y->nanchors + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	y->anchors = a;
	a[y->nanchors].name = strdup((const char *)name);
	if (!a[y->nanchors].name)
		return -ENOMEM;
	a[y->nanchors++].v = json_incref(v);
	return 0;
}

/* Parse the node that starts with event ev (already taken). */
static int yaml_node(struct yctx *y, yaml_event_t *ev, json_t **out, const char *source, char **err)
{
	yaml_event_t e;
	json_t *v = NULL;
	int r = 0;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *s = (const char *)ev->data.scalar.value;
		const char *tag = (const char *)ev->data.scalar.tag;

		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    !(tag && !strcmp(tag, YAML_STR_TAG)))
			v = yaml_plain_scalar(s);
		else
			v = json_stringn(s, ev->data.scalar.length);
		if (!v)
			return yaml_err_at(y, &ev->start_mark, source, err,
					   "invalid scalar (not UTF-8?)");
		if ((r = yaml_anchor(y, ev->data.scalar.anchor, v)))
			goto fail;
		*out = v;
		return 0;
	}
	case YAML_ALIAS_EVENT:
		for (size_t i = 0; i < y->nanchors; i++)
			if (!strcmp(y->anchors[i].name, (const char *)ev->data.alias.anchor)) {
				/* Copy: the same value twice in one tree is fine for
				 * jansson, but a deep copy keeps later edits local. */
				*out = json_deep_copy(y->anchors[i].v);
				return *out ? 0 : -ENOMEM;
			}
		return yaml_err_at(y, &ev->start_mark, source, err, "alias to an unknown anchor");
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		yaml_event_type_t end = map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
		char *key = NULL;

		if (++y->depth > YAML_MAX_DEPTH)
			return yaml_err_at(y, &ev->start_mark, source, err, "nested too deeply");
		v = map ? json_object() : json_array();
		if (!v)
			return -ENOMEM;
		if ((r = yaml_anchor(
			 y, map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor,
			 v)))
			goto fail;
		for (;;) {
			json_t *kid;

			if (!yaml_parser_parse(&y->p, &e)) {
				free(key);
				r = yaml_err(y, source, err, NULL);
				goto fail;
			}
			if (e.type == end) {
				yaml_event_delete(&e);
				break;
			}
			r = yaml_node(y, &e, &kid, source, err);
			yaml_event_delete(&e);
			if (r) {
				free(key);
				goto fail;
			}
			if (!map) {
				json_array_append_new(v, kid);
			} else if (!key) {
				/* Keys are scalars: use their text. */
				if (json_is_string(kid))
					key = strdup(json_string_value(kid));
				else if (json_is_null(kid))
					key = strdup("null");
				else
					key = json_dumps(kid, JSON_ENCODE_ANY | JSON_COMPACT);
				json_decref(kid);
				if (!key) {
					r = -ENOMEM;
					goto fail;
				}
			} else {
				json_object_set_new(v, key, kid);
				free(key);
				key = NULL;
			}
		}
		y->depth--;
		*out = v;
		return 0;
	}
	default:
		return yaml_err_at(y, &ev->start_mark, source, err, "unexpected YAML event");
	}
fail:
	json_decref(v);
	if (r == -ENOMEM && !*err)
		*err = strdup("out of memory");
	return r;
}

static int yaml_parse_all(const char *buf, size_t len, const char *source, json_t *docs, char **err)
{
	struct yctx y = {0};
	yaml_event_t e;
	int r = 0;

	if (!yaml_parser_initialize(&y.p)) {
		*err = strdup("out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&y.p, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&y.p, &e)) {
			r = yaml_err(&y, source, err, NULL);
			break;
		}
		if (e.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (e.type == YAML_DOCUMENT_START_EVENT) {
			yaml_event_t n;
			json_t *doc;

			yaml_event_delete(&e);
			if (!yaml_parser_parse(&y.p, &n)) {
				r = yaml_err(&y, source, err, NULL);
				break;
			}
			r = yaml_node(&y, &n, &doc, source, err);
			yaml_event_delete(&n);
			if (r)
				break;
			if (!json_is_null(doc))
				json_array_append(docs, doc);
			json_decref(doc);
			/* Anchors do not cross documents. */
			for (size_t i = 0; i < y.nanchors; i++) {
				free(y.anchors[i].name);
				json_decref(y.anchors[i].v);
			}
			y.nanchors = 0;
			continue;
		}
		yaml_event_delete(&e); /* stream start, document end */
	}
	for (size_t i = 0; i < y.nanchors; i++) {
		free(y.anchors[i].name);
		json_decref(y.anchors[i].v);
	}
	free(y.anchors);
	yaml_parser_delete(&y.p);
	return r;
}

/* ---- manifests ------------------------------------------------------------------- */

static int json_parse_all(const char *buf, size_t len, const char *source, json_t *docs, char **err)
{
	size_t off = 0, line = 1;

	for (;;) {
		json_error_t je;
		json_t *v;

		while (off < len && strchr(" \t\r\n", buf[off])) {
			if (buf[off] == '\n')
				line++;
			off++;
		}
		if (off >= len)
			return 0;
		v = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
		if (!v) {
			if (asprintf(err, "%s: JSON line %zu column %d: %s", source,
				     line + (je.line > 0 ? (size_t)je.line - 1 : 0), je.column,
				     je.text) < 0)
				*err = NULL;
			return -EINVAL;
		}
		for (size_t i = off; i < off + (size_t)je.position && i < len; i++)
			if (buf[i] == '\n')
				line++;
		off += (size_t)je.position;
		json_array_append_new(docs, v);
	}
}

/* Append value to objs, expanding Lists. */
static int expand(json_t *objs, json_t *v, const char *source, size_t index, char **err)
{
	const char *kind = json_string_value(json_object_get(v, "kind"));
	json_t *items = json_object_get(v, "items");
	size_t klen = kind ? strlen(kind) : 0;

	if (!json_is_object(v)) {
		if (asprintf(err, "%s: value %zu is not an object", source, index + 1) < 0)
			*err = NULL;
		return -EINVAL;
	}
	if (klen >= 4 && !strcmp(kind + klen - 4, "List") && json_is_array(items)) {
		const char *api = json_string_value(json_object_get(v, "apiVersion"));
		size_t i;
		json_t *it;

		json_array_foreach(items, i, it)
		{
			if (!json_is_object(it)) {
				if (asprintf(err, "%s: value %zu: item %zu is not an object",
					     source, index + 1, i) < 0)
					*err = NULL;
				return -EINVAL;
			}
			/* A typed list (PodList) leaves kind out of its items. */
			if (klen > 4 && !json_object_get(it, "kind")) {
				json_object_set_new(it, "kind", json_stringn(kind, klen - 4));
				if (api && !json_object_get(it, "apiVersion"))
					json_object_set_new(it, "apiVersion", json_string(api));
			}
			json_array_append(objs, it);
		}
		return 0;
	}
	return json_array_append(objs, v) ? -ENOMEM : 0;
}

int cnictl_manifest_parse(const char *buf, size_t len, const char *source, json_t **objs,
			  char **err)
{
	json_t *docs = json_array(), *out = json_array();
	size_t i = 0;
	json_t *v;
	int r;

	*objs = NULL;
	*err = NULL;
	if (!docs || !out) {
		r = -ENOMEM;
		goto fail;
	}
	while (i < len && strchr(" \t\r\n", buf[i]))
		i++;
	if (i < len && (buf[i] == '{' || buf[i] == '['))
		r = json_parse_all(buf, len, source, docs, err);
	else
		r = yaml_parse_all(buf, len, source, docs, err);
	if (r)
		goto fail;
	json_array_foreach(docs, i, v)
	{
		/* A top-level JSON array is a list of values too. */
		if (json_is_array(v)) {
			size_t j;
			json_t *e;

			json_array_foreach(v, j,
					   e) if ((r = expand(out, e, source, i, err))) goto fail;
			continue;
		}
		if ((r = expand(out, v, source, i, err)))
			goto fail;
	}
	json_decref(docs);
	*objs = out;
	return 0;
fail:
	if (!*err)
		*err = strdup(r == -ENOMEM ? "out of memory" : "invalid manifest");
	json_decref(docs);
	json_decref(out);
	return r;
}

static bool is_event(const json_t *v)
{
	return json_is_string(json_object_get(v, "type")) &&
	       json_is_object(json_object_get(v, "object"));
}

json_t *cnictl_manifest_wrap(json_t *obj, bool del)
{
	if (!del)
		return json_incref(obj);
	return json_pack("{s:s, s:O}", "type", "DELETED", "object",
			 is_event(obj) ? json_object_get(obj, "object") : obj);
}

void cnictl_manifest_ident(const json_t *v, const char **kind, const char **ns, const char **name)
{
	const json_t *o = is_event(v) ? json_object_get(v, "object") : v;
	const json_t *md = json_object_get(o, "metadata");

	*kind = json_string_value(json_object_get(o, "kind"));
	*ns = json_string_value(json_object_get(md, "namespace"));
	*name = json_string_value(json_object_get(md, "name"));
}

/* ---- the pipeline -------------------------------------------------------------- */

static json_t *fail_reply(const char *fmt, const char *arg)
{
	char *m;
	json_t *r;

	if (asprintf(&m, fmt, arg) < 0)
		return NULL;
	r = json_pack("{s:b, s:s}", "ok", 0, "error", m);
	free(m);
	return r;
}

int cnictl_feed_pipeline(const char *path, json_t *values, json_t *replies, int timeout_ms)
{
	size_t n = json_array_size(values), next = 0, got = 0, expect = 0;
	/* order[k]: index of the k-th value sent; replies come in that order. */
	size_t *order = calloc(n ? n : 1, sizeof(size_t));
	json_t **rep = calloc(n ? n : 1, sizeof(json_t *));
	char *out = NULL; /* serialized value being written */
	size_t out_len = 0, out_off = 0;
	const char *why = NULL; /* reason no more replies come */
	struct sl_conn c;
	int err;

	if (!order || !rep) {
		free(order);
		free(rep);
		return -ENOMEM;
	}
	err = sl_conn_open(&c, path);
	if (err) {
		free(order);
		free(rep);
		return err;
	}
	while (!why && (next < n || out || got < expect)) {
		struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
		int pr;

		/* Serialize the next value that can be sent. */
		while (!out && next < n) {
			json_t *v = json_array_get(values, next);
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			if (!s) {
				rep[next++] = fail_reply("%s", "couldn't serialize the object");
				continue;
			}
			if (strlen(s) + 1 > SL_MAX_VALUE_BYTES) {
				free(s);
				rep[next++] =
				    fail_reply("object larger than the feed's limit%s", "");
				continue;
			}
			out_len = strlen(s);
			s[out_len++] = '\n'; /* replaces the NUL: length is explicit */
			out = s;
			out_off = 0;
		}
		if (out)
			pfd.events |= POLLOUT;
		pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			why = "poll failed";
			break;
		}
		if (pr == 0) {
			why = "no reply from sluiced in time";
			break;
		}
		if (pfd.revents & POLLOUT && out) {
			ssize_t w = send(c.fd, out + out_off, out_len - out_off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				why = "connection closed by sluiced";
			} else if (w > 0) {
				out_off += (size_t)w;
				if (out_off == out_len) {
					free(out);
					out = NULL;
					order[expect++] = next++;
				}
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			for (;;) {
				json_t *r;
				int e = sl_conn_recv(&c, &r, 0);

				if (e == -ETIMEDOUT)
					break;
				if (e == -EBADMSG) {
					r = fail_reply("%s",
						       "sluiced sent a reply that is not JSON");
				} else if (e) {
					why = "connection closed by sluiced";
					break;
				}
				if (got < expect) {
					rep[order[got++]] = r;
				} else {
					json_decref(r); /* a reply to nothing we sent */
				}
			}
		}
	}
	free(out);
	sl_conn_close(&c);
	for (size_t i = 0; i < n; i++) {
		if (!rep[i])
			rep[i] = fail_reply("not applied: %s", why ? why : "no reply");
		json_array_append_new(replies, rep[i]);
	}
	free(order);
	free(rep);
	return 0;
}

/* ---- the commands ------------------------------------------------------------------ */

#define MAX_MANIFEST_BYTES (1024ul << 20)

/* Read a whole file ("-" = stdin) into *buf. Returns 0 or -errno (printed). */
static int read_all(const char *file, char **buf, size_t *len)
{
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	size_t cap = 65536, n = 0;
	char *b = NULL;
	int err = 0;

	*buf = NULL;
	if (fd < 0) {
		err = -errno;
		cnictl_fail("couldn't open %s: %s", file, strerror(errno));
		return err;
	}
	b = malloc(cap);
	while (b) {
		ssize_t r;

		if (n == cap) {
			char *nb = cap >= MAX_MANIFEST_BYTES ? NULL : realloc(b, cap * 2);

			if (!nb) {
				err = cap >= MAX_MANIFEST_BYTES ? -EFBIG : -ENOMEM;
				cnictl_fail("%s: %s", file,
					    cap >= MAX_MANIFEST_BYTES ? "larger than 1 GiB"
								      : "out of memory");
				break;
			}
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			cnictl_fail("couldn't read %s: %s", file, strerror(errno));
			break;
		}
		if (r == 0) {
			*buf = b;
			*len = n;
			b = NULL;
			break;
		}
		n += (size_t)r;
	}
	if (!b && !*buf && !err) {
		err = -ENOMEM;
		cnictl_fail("out of memory reading %s", file);
	}
	free(b);
	if (fd != STDIN_FILENO)
		close(fd);
	return err;
}

static int apply_or_delete(int argc, char **argv, bool del)
{
	static const struct option opts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {0},
	};
	const char *verb = del ? "delete" : "apply";
	json_t *values = json_array(), *replies = json_array(), *v;
	size_t i, failed = 0;
	int opt, err, r = CNICTL_OK, nfiles = 0;

	if (!values || !replies) {
		r = cnictl_fail("out of memory");
		goto out;
	}
	while ((opt = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		char *buf, *perr;
		json_t *objs;
		size_t len = 0, j;
		json_t *o;

		if (opt != 'f') {
			r = cnictl_usage("usage: cnictl %s -f FILE|- [-f FILE...]", verb);
			goto out;
		}
		nfiles++;
		if (read_all(optarg, &buf, &len)) {
			r = CNICTL_FAIL;
			goto out;
		}
		err = cnictl_manifest_parse(buf, len, strcmp(optarg, "-") ? optarg : "stdin", &objs,
					    &perr);
		free(buf);
		if (err) {
			r = cnictl_fail("%s", perr ? perr : "invalid manifest");
			free(perr);
			goto out;
		}
		json_array_foreach(objs, j, o)
		    json_array_append_new(values, cnictl_manifest_wrap(o, del));
		json_decref(objs);
	}
	if (!nfiles || optind < argc) {
		r = cnictl_usage("usage: cnictl %s -f FILE|- [-f FILE...]", verb);
		goto out;
	}
	err = cnictl_feed_pipeline(cnictl_opts.socket, values, replies, cnictl_opts.timeout_ms);
	if (err) {
		if (err == -ENOENT || err == -ECONNREFUSED)
			r = cnictl_fail("sluiced is not running (socket %s: %s)",
					cnictl_opts.socket, strerror(-err));
		else
			r = cnictl_fail("couldn't connect to %s: %s", cnictl_opts.socket,
					strerror(-err));
		goto out;
	}
	pr_table_begin(NULL);
	json_array_foreach(values, i, v)
	{
		json_t *rep = json_array_get(replies, i);
		bool ok = json_is_true(json_object_get(rep, "ok"));
		const char *kind, *ns, *name;

		cnictl_manifest_ident(v, &kind, &ns, &name);
		if (!ok)
			failed++;
		pr_row_begin();
		pr_str("kind", kind);
		pr_str("namespace", ns);
		pr_str("name", name);
		pr_str("result", ok ? (del ? "deleted" : "applied") : "error");
		if (ok)
			pr_null("error");
		else
			pr_str("error",
			       json_string_value(json_object_get(rep, "error")) ?: "failed");
		pr_row_end();
	}
	pr_table_end();
	if (failed) {
		if (!pr_is_json())
			fprintf(cnictl_opts.err, "cnictl: %zu of %zu objects failed\n", failed,
				json_array_size(values));
		r = CNICTL_FAIL;
	}
out:
	json_decref(values);
	json_decref(replies);
	return r;
}

static int apply(int argc, char **argv)
{
	return apply_or_delete(argc, argv, false);
}

static int delete (int argc, char **argv)
{
	return apply_or_delete(argc, argv, true);
}

CNICTL_COMMAND(cnictl_cmd_apply) = {
    .name = "apply",
    .args = "-f FILE|- [-f FILE...]",
    .help = "send objects (JSON stream, List, YAML) to sluiced's feed",
    .run = apply,
};

CNICTL_COMMAND(cnictl_cmd_delete) = {
    .name = "delete",
    .args = "-f FILE|- [-f FILE...]",
    .help = "send DELETED events for the objects in the files",
    .run = delete,
};
