// SPDX-License-Identifier: Apache-2.0
/* cnictl apply/delete: manifest parsing (JSON streams, Lists, YAML) and the
 * pipelined feed client against an in-process server that replies slowly
 * and with large replies (a client that only writes would deadlock). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>

#include "../../cnictl/cmd_apply.h"

static json_t *parse_ok(const char *text)
{
	json_t *objs = NULL;
	char *err = NULL;
	int rc = cnictl_manifest_parse(text, strlen(text), "test", &objs, &err);

	cr_assert_eq(rc, 0, "parse failed: %s\ninput:\n%s", err ? err : "?", text);
	free(err);
	return objs;
}

/* "Kind ns/name" of every object, joined by ';'. */
static char *idents(json_t *objs)
{
	char *s = calloc(1, 4096);
	size_t i;
	json_t *o;

	json_array_foreach(objs, i, o)
	{
		const char *k, *ns, *n;

		cnictl_manifest_ident(o, &k, &ns, &n);
		snprintf(s + strlen(s), 4096 - strlen(s), "%s%s %s/%s", i ? ";" : "", k ? k : "?",
			 ns ? ns : "", n ? n : "?");
	}
	return s;
}

Test(manifest, json_stream_lists_and_events)
{
	static const struct {
		const char *desc, *in, *want;
	} cases[] = {
	    {"one object", "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"}}",
	     "Pod x/a"},
	    {"stream, pretty-printed",
	     "{\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": \"x\"}\n}\n"
	     "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"}}  \n\n",
	     "Namespace /x;Pod x/a"},
	    {"kind List",
	     "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[{\"kind\":\"Pod\",\"metadata\":"
	     "{\"name\":\"a\",\"namespace\":\"x\"}},{\"kind\":\"Service\",\"metadata\":{\"name\":"
	     "\"s\","
	     "\"namespace\":\"x\"}}]}",
	     "Pod x/a;Service x/s"},
	    {"typed list fills kind",
	     "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":"
	     "{\"name\":\"a\",\"namespace\":\"x\"}}]}",
	     "Pod x/a"},
	    {"watch event",
	     "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\","
	     "\"namespace\":\"y\"}}}",
	     "Pod y/b"},
	    {"top-level array",
	     "[{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}},{\"kind\":\"Pod\",\"metadata\":"
	     "{\"name\":\"b\"}}]",
	     "Pod /a;Pod /b"},
	    {"empty input", "  \n", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *objs = parse_ok(cases[i].in);
		char *got = idents(objs);

		cr_expect_str_eq(got, cases[i].want, "%s: got '%s', want '%s'", cases[i].desc, got,
				 cases[i].want);
		free(got);
		json_decref(objs);
	}
}

Test(manifest, typed_list_items_get_api_version)
{
	json_t *objs =
	    parse_ok("{\"kind\":\"NetworkPolicyList\",\"apiVersion\":\"networking.k8s.io/v1\","
		     "\"items\":[{\"metadata\":{\"name\":\"p\"}}]}");
	json_t *o = json_array_get(objs, 0);

	cr_expect_str_eq(json_string_value(json_object_get(o, "kind")), "NetworkPolicy");
	cr_expect_str_eq(json_string_value(json_object_get(o, "apiVersion")),
			 "networking.k8s.io/v1");
	json_decref(objs);
}

Test(manifest, yaml_documents_and_types)
{
	const char *y = "# leading comment\n"
			"apiVersion: v1\n"
			"kind: Namespace\n"
			"metadata:\n"
			"  name: x\n"
			"  labels: &l {team: a}\n"
			"  annotations:\n"
			"    copy: *l\n"
			"---\n"
			"---\n"
			"apiVersion: v1\n"
			"kind: Service\n"
			"metadata: {name: s, namespace: x}\n"
			"spec:\n"
			"  ports:\n"
			"  - port: 80\n"
			"    targetPort: \"8080\"\n"
			"    hex: 0x10\n"
			"    real: 1.5\n"
			"    neg: -3\n"
			"    yes: true\n"
			"    nothing: ~\n"
			"    quoted: \"true\"\n"
			"    word: tcp\n"
			"    block: |\n"
			"      two\n"
			"      lines\n";
	json_t *objs = parse_ok(y), *port;
	char *got = idents(objs);

	cr_expect_str_eq(got, "Namespace /x;Service x/s", "empty documents are skipped: %s", got);
	free(got);
	cr_expect_str_eq(
	    json_string_value(json_object_get(
		json_object_get(
		    json_object_get(json_object_get(json_array_get(objs, 0), "metadata"),
				    "annotations"),
		    "copy"),
		"team")),
	    "a", "alias resolves to its anchor");
	port = json_array_get(
	    json_object_get(json_object_get(json_array_get(objs, 1), "spec"), "ports"), 0);
	cr_assert_not_null(port);
	cr_expect(json_is_integer(json_object_get(port, "port")) &&
		      json_integer_value(json_object_get(port, "port")) == 80,
		  "plain int");
	cr_expect(json_is_string(json_object_get(port, "targetPort")),
		  "quoted number stays a string");
	cr_expect_eq(json_integer_value(json_object_get(port, "hex")), 16);
	cr_expect(json_is_real(json_object_get(port, "real")) &&
		  json_real_value(json_object_get(port, "real")) == 1.5);
	cr_expect_eq(json_integer_value(json_object_get(port, "neg")), -3);
	cr_expect(json_is_true(json_object_get(port, "yes")));
	cr_expect(json_is_null(json_object_get(port, "nothing")));
	cr_expect(json_is_string(json_object_get(port, "quoted")), "quoted true is a string");
	cr_expect_str_eq(json_string_value(json_object_get(port, "word")), "tcp");
	cr_expect_str_eq(json_string_value(json_object_get(port, "block")), "two\nlines\n");
	json_decref(objs);
}

Test(manifest, errors_name_the_place)
{
	static const struct {
		const char *desc, *in, *want;
	} cases[] = {
	    {"bad JSON", "{\"kind\":\"Pod\"}\n{\"kind\":", "test: JSON line 2"},
	    {"not an object", "{\"kind\":\"Pod\"} 42", "value 2 is not an object"},
	    {"bad YAML", "a: b\n c: d\n:", "test: YAML line"},
	    {"unknown alias", "a: *nope\n", "alias to an unknown anchor"},
	    {"list item not an object", "{\"kind\":\"List\",\"items\":[1]}",
	     "item 0 is not an object"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *objs = NULL;
		char *err = NULL;
		int rc =
		    cnictl_manifest_parse(cases[i].in, strlen(cases[i].in), "test", &objs, &err);

		cr_expect_eq(rc, -EINVAL, "%s: rc %d", cases[i].desc, rc);
		cr_expect_null(objs);
		cr_expect(err && strstr(err, cases[i].want), "%s: error '%s' lacks '%s'",
			  cases[i].desc, err ? err : "(null)", cases[i].want);
		free(err);
	}
}

Test(manifest, delete_wraps_in_deleted_events)
{
	json_t *obj = json_loads("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}", 0, NULL);
	json_t *ev = json_loads(
	    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}}", 0,
	    NULL);
	json_t *w;

	w = cnictl_manifest_wrap(obj, true);
	cr_expect_str_eq(json_string_value(json_object_get(w, "type")), "DELETED");
	cr_expect(json_equal(json_object_get(w, "object"), obj));
	json_decref(w);
	w = cnictl_manifest_wrap(ev, true);
	cr_expect_str_eq(json_string_value(json_object_get(w, "type")), "DELETED");
	cr_expect_str_eq(json_string_value(json_object_get(
			     json_object_get(json_object_get(w, "object"), "metadata"), "name")),
			 "b", "an event's object is what gets deleted");
	json_decref(w);
	w = cnictl_manifest_wrap(obj, false);
	cr_expect_eq(w, obj, "apply sends the object unchanged");
	json_decref(w);
	json_decref(obj);
	json_decref(ev);
}

/* ---- pipeline against a server thread ---------------------------------------------- */

struct server {
	int lfd;
	char path[108];
	size_t reply_pad;   /* bytes of padding per reply */
	size_t close_after; /* close the connection after this many values (0: never) */
	size_t values;
};

/* json_object_path_get is not jansson's: tiny helper for "a.b". */
static json_t *json_object_path_get(json_t *v, const char *path)
{
	const char *dot = strchr(path, '.');
	char first[64];

	if (!dot)
		return json_object_get(v, path);
	snprintf(first, sizeof(first), "%.*s", (int)(dot - path), path);
	return json_object_get(json_object_get(v, first), dot + 1);
}

/* Reads newline-separated values, answers each; fails names ending in '7'. */
static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	char buf[65536], line[8192];
	size_t ll = 0;
	char *pad = malloc(s->reply_pad + 1);
	ssize_t n;

	memset(pad, 'x', s->reply_pad);
	pad[s->reply_pad] = 0;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char reply[64 + 8192];
			json_t *v;
			const char *name;
			int len;

			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			v = json_loads(line, 0, NULL);
			name = json_string_value(json_object_path_get(v, "metadata.name"));
			if (!name)
				name = json_string_value(json_object_get(
				    json_object_get(json_object_get(v, "object"), "metadata"),
				    "name"));
			if (name && name[strlen(name) - 1] == '7')
				len = snprintf(
				    reply, sizeof(reply),
				    "{\"ok\":false,\"error\":\"%s is odd\",\"pad\":\"%s\"}\n", name,
				    pad);
			else
				len = snprintf(reply, sizeof(reply),
					       "{\"ok\":true,\"pad\":\"%s\"}\n", pad);
			json_decref(v);
			if (write(fd, reply, (size_t)len) != len)
				goto out;
			if (s->close_after && ++s->values == s->close_after)
				goto out;
		}
	}
out:
	free(pad);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void server_start(struct server *s, pthread_t *t)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(s->path, sizeof(s->path), "/tmp/cnictl-apply-test-%d.sock", getpid());
	unlink(s->path);
	strcpy(sa.sun_path, s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(s->lfd, 0);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", s->path,
		     strerror(errno));
	cr_assert_eq(listen(s->lfd, 1), 0);
	cr_assert_eq(pthread_create(t, NULL, serve, s), 0);
}

static void server_stop(struct server *s, pthread_t t)
{
	pthread_join(t, NULL);
	close(s->lfd);
	unlink(s->path);
}

static json_t *many_pods(size_t n, size_t pad)
{
	json_t *a = json_array();
	char *p = malloc(pad + 1);

	memset(p, 'p', pad);
	p[pad] = 0;
	for (size_t i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "pod-%zu", i);
		json_array_append_new(a, json_pack("{s:s, s:{s:s, s:s}, s:s}", "kind", "Pod",
						   "metadata", "name", name, "namespace", "x",
						   "junk", p));
	}
	free(p);
	return a;
}

Test(pipeline, large_stream_does_not_deadlock, .timeout = 60)
{
	/* 4000 x 2 KB out and 4000 x 2 KB back: far more than both socket
	 * buffers, so writing everything before reading would hang. */
	struct server s = {.reply_pad = 2000};
	json_t *values = many_pods(4000, 2000), *replies = json_array(), *r;
	pthread_t t;
	size_t i, failed = 0;

	server_start(&s, &t);
	cr_assert_eq(cnictl_feed_pipeline(s.path, values, replies, 10000), 0);
	server_stop(&s, t);
	cr_assert_eq(json_array_size(replies), 4000, "one reply per value, got %zu",
		     json_array_size(replies));
	json_array_foreach(replies, i, r)
	{
		bool want_ok = i % 10 != 7;

		if (!json_is_true(json_object_get(r, "ok")))
			failed++;
		cr_expect_eq(json_is_true(json_object_get(r, "ok")), want_ok,
			     "reply %zu matched to the wrong value", i);
	}
	cr_expect_eq(failed, 400, "pods ending in 7 fail: %zu", failed);
	json_decref(values);
	json_decref(replies);
}

Test(pipeline, connection_closed_midway, .timeout = 30)
{
	struct server s = {.reply_pad = 1, .close_after = 5};
	json_t *values = many_pods(20, 10), *replies = json_array();
	pthread_t t;

	server_start(&s, &t);
	cr_assert_eq(cnictl_feed_pipeline(s.path, values, replies, 5000), 0);
	server_stop(&s, t);
	cr_assert_eq(json_array_size(replies), 20);
	for (size_t i = 0; i < 20; i++) {
		json_t *r = json_array_get(replies, i);

		if (i < 5) {
			cr_expect(json_is_true(json_object_get(r, "ok")), "reply %zu", i);
		} else {
			cr_expect(json_is_false(json_object_get(r, "ok")), "value %zu had no reply",
				  i);
			cr_expect(
			    strstr(json_string_value(json_object_get(r, "error")), "not applied"),
			    "value %zu: %s", i, json_string_value(json_object_get(r, "error")));
		}
	}
	json_decref(values);
	json_decref(replies);
}

Test(pipeline, no_server)
{
	json_t *values = many_pods(1, 1), *replies = json_array();

	cr_expect_eq(cnictl_feed_pipeline("/nonexistent/sluiced.sock", values, replies, 1000),
		     -ENOENT);
	cr_expect_eq(json_array_size(replies), 0);
	json_decref(values);
	json_decref(replies);
}
