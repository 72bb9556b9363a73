// SPDX-License-Identifier: Apache-2.0
/* Global flags, the command registry, dispatch and generated help. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cnictl.h"
#include "log.h"
#include "print.h"

struct cnictl_opts cnictl_opts = {.timeout_ms = 10000};

/* Set by the linker: every CNICTL_COMMAND's pointer. */
extern const struct cmd *const __start_cnictl_cmds[] __attribute__((weak));
extern const struct cmd *const __stop_cnictl_cmds[] __attribute__((weak));

static bool error_printed;

/* ---- errors --------------------------------------------------------------- */

static int report(int code, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (pr_is_json()) {
		/* One document on stdout: the first error wins. */
		if (!error_printed) {
			pr_end_all();
			pr_obj_begin(NULL);
			pr_str("error", msg ? msg : "out of memory");
			pr_obj_end();
		}
	} else {
		fprintf(cnictl_opts.err, "cnictl: %s\n", msg ? msg : "out of memory");
	}
	error_printed = true;
	free(msg);
	return code;
}

int cnictl_fail(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = report(CNICTL_FAIL, fmt, ap);
	va_end(ap);
	return r;
}

int cnictl_usage(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = report(CNICTL_USAGE, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- requests -------------------------------------------------------------- */

static char *request_error(const char *name, int err, const char *remote)
{
	char *m = NULL;
	int r;

	switch (err) {
	case -ENOENT:
	case -ECONNREFUSED:
		r = asprintf(&m, "sluiced is not running (socket %s: %s)", cnictl_opts.socket,
			     strerror(-err));
		break;
	case -EREMOTEIO:
		r = asprintf(&m, "sluiced: %s: %s", name, remote ? remote : "request failed");
		break;
	case -ETIMEDOUT:
		r = asprintf(&m, "sluiced did not answer %s within %d ms (socket %s)", name,
			     cnictl_opts.timeout_ms, cnictl_opts.socket);
		break;
	default:
		r = asprintf(&m, "request %s to %s failed: %s", name, cnictl_opts.socket,
			     strerror(-err));
	}
	return r < 0 ? NULL : m;
}

int cnictl_request_quiet(const char *name, json_t *args, json_t **reply, char **err_msg)
{
	json_t *req = args ? args : json_object();
	char *remote = NULL;
	int err;

	*reply = NULL;
	if (err_msg)
		*err_msg = NULL;
	if (!req || json_object_set_new(req, "request", json_string(name))) {
		json_decref(req);
		return -ENOMEM;
	}
	err = sl_call(cnictl_opts.socket, req, reply, &remote, cnictl_opts.timeout_ms);
	json_decref(req);
	if (err) {
		json_decref(*reply);
		*reply = NULL;
		if (err_msg)
			*err_msg = request_error(name, err, remote);
	}
	free(remote);
	return err;
}

int cnictl_request(const char *name, json_t *args, json_t **reply)
{
	char *msg = NULL;
	int err = cnictl_request_quiet(name, args, reply, &msg);

	if (err)
		cnictl_fail("%s", msg ? msg : strerror(-err));
	free(msg);
	return err;
}

int cnictl_parse_ns_name(const char *s, const char *default_ns, char **ns, char **name)
{
	const char *slash = strchr(s, '/');

	*ns = *name = NULL;
	if (slash) {
		if (slash == s || !slash[1] || strchr(slash + 1, '/'))
			return -EINVAL;
		*ns = strndup(s, (size_t)(slash - s));
		*name = strdup(slash + 1);
	} else {
		if (!*s || !default_ns)
			return -EINVAL;
		*ns = strdup(default_ns);
		*name = strdup(s);
	}
	if (!*ns || !*name) {
		free(*ns);
		free(*name);
		*ns = *name = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- registry --------------------------------------------------------------- */

static const struct cmd **registry;
static size_t registry_n;

static int cmd_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct cmd *const *)a)->name, (*(const struct cmd *const *)b)->name);
}

static void registry_load(void)
{
	size_t n;

	if (registry)
		return;
	n = __start_cnictl_cmds && __stop_cnictl_cmds
		? (size_t)(__stop_cnictl_cmds - __start_cnictl_cmds)
		: 0;
	registry = calloc(n + 1, sizeof(*registry));
	if (!registry)
		return;
	for (size_t i = 0; i < n; i++)
		if (__start_cnictl_cmds[i] && __start_cnictl_cmds[i]->name)
			registry[registry_n++] = __start_cnictl_cmds[i];
	qsort(registry, registry_n, sizeof(*registry), cmd_cmp);
}

const struct cmd *cnictl_command_at(size_t i)
{
	registry_load();
	return i < registry_n ? registry[i] : NULL;
}

static int help_run(int argc, char **argv);

/* The root's sub-commands: the registry copied into a terminated array,
 * with the built-in help last. */
static struct cmd *root_table(void)
{
	struct cmd *t;

	registry_load();
	t = calloc(registry_n + 2, sizeof(*t));
	if (!t)
		return NULL;
	for (size_t i = 0; i < registry_n; i++)
		t[i] = *registry[i];
	t[registry_n] = (struct cmd){.name = "help",
				     .args = "[OBJECT...]",
				     .help = "this text, or the help of one object",
				     .run = help_run};
	return t;
}

/* ---- help ---------------------------------------------------------------------- */

struct help_line {
	char *usage;
	const char *help;
};

static void help_collect(const struct cmd *c, const char *path, struct help_line **lines, size_t *n)
{
	char *p;

	if (asprintf(&p, "%s%s%s", path, *path ? " " : "", c->name) < 0)
		return;
	if (c->run) {
		struct help_line *l = realloc(*lines, (*n + 1) * sizeof(*l));

		if (l) {
			*lines = l;
			if (asprintf(&l[*n].usage, "%s%s%s", p, c->args ? " " : "",
				     c->args ? c->args : "") >= 0) {
				l[*n].help = c->help ? c->help : "";
				(*n)++;
			}
		}
	}
	for (const struct cmd *s = c->subs; s && s->name; s++)
		help_collect(s, p, lines, n);
	free(p);
}

static void help_print_lines(FILE *f, const struct cmd *subs, const char *path)
{
	struct help_line *lines = NULL;
	size_t n = 0, w = 0;

	for (const struct cmd *s = subs; s && s->name; s++)
		help_collect(s, path, &lines, &n);
	for (size_t i = 0; i < n; i++)
		if (strlen(lines[i].usage) > w)
			w = strlen(lines[i].usage);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  %-*s  %s\n", (int)w, lines[i].usage, lines[i].help);
		free(lines[i].usage);
	}
	free(lines);
}

static void help_globals(FILE *f)
{
	fprintf(f, "\nGlobal options (anywhere on the line):\n"
		   "  --bpffs DIR        BPF pin root (env SLUICE_BPFFS)\n"
		   "  --socket PATH      sluiced socket (env SLUICE_SOCKET)\n"
		   "  -o, --output FMT   table (default) or json\n"
		   "  -j, --json         same as -o json\n"
		   "  -v, --verbose      more log output (repeat for more)\n"
		   "  -h, --help         help for the command given so far\n"
		   "\nExit codes: 0 success, 1 operation failed, 2 usage error.\n");
}

void cnictl_help(FILE *f, const struct cmd *c, const char *path)
{
	if (!c) {
		struct cmd *root = root_table();

		fprintf(f, "Usage: cnictl [OPTIONS] OBJECT VERB [ARGS]\n\nCommands:\n");
		help_print_lines(f, root, "cnictl");
		free(root);
		help_globals(f);
		return;
	}
	if (c->help)
		fprintf(f, "%s: %s\n\n", path, c->help);
	fprintf(f, "Usage:\n");
	if (c->run) {
		fprintf(f, "  %s%s%s\n", path, c->args ? " " : "", c->args ? c->args : "");
	} else {
		/* path already ends in c->name: list the children under it. */
		help_print_lines(f, c->subs, path);
	}
	fprintf(f, "\nGlobal options: cnictl help.\n");
}

/* ---- dispatch ------------------------------------------------------------------ */

static const struct cmd *find_sub(const struct cmd *subs, const char *word, bool *ambiguous)
{
	const struct cmd *hit = NULL;
	size_t len = strlen(word);

	*ambiguous = false;
	for (const struct cmd *s = subs; s && s->name; s++)
		if (!strcmp(s->name, word))
			return s;
	/* A unique prefix is enough (bpftool style: "cnictl ep li"). */
	for (const struct cmd *s = subs; s && s->name; s++) {
		if (len && !strncmp(s->name, word, len)) {
			if (hit) {
				*ambiguous = true;
				return NULL;
			}
			hit = s;
		}
	}
	return hit;
}

static void list_names(char *buf, size_t len, const struct cmd *subs)
{
	size_t o = 0;

	buf[0] = 0;
	for (const struct cmd *s = subs; s && s->name && o < len; s++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", s->name);
}

static int help_for(const struct cmd *top, const char *top_path, int argc, char **argv);

int cnictl_dispatch(const struct cmd *c, const char *path, int argc, char **argv)
{
	const struct cmd *sub;
	char names[512], *subpath;
	bool ambiguous;
	int r;

	if (c->run) {
		optind = 0;
		opterr = 0;
		return c->run(argc, argv);
	}
	if (argc < 2) {
		list_names(names, sizeof(names), c->subs);
		if (!pr_is_json())
			cnictl_help(cnictl_opts.err, c, path);
		return cnictl_usage("%s: missing command (one of: %s)", path, names);
	}
	if (!strcmp(argv[1], "help"))
		return help_for(c, path, argc - 1, argv + 1);
	sub = find_sub(c->subs, argv[1], &ambiguous);
	if (!sub) {
		list_names(names, sizeof(names), c->subs);
		return cnictl_usage("%s: %s command '%s' (one of: %s)", path,
				    ambiguous ? "ambiguous" : "unknown", argv[1], names);
	}
	if (asprintf(&subpath, "%s %s", path, sub->name) < 0)
		return cnictl_fail("out of memory");
	argv[1] = (char *)sub->name; /* handlers see the full name, not a prefix */
	r = cnictl_dispatch(sub, subpath, argc - 1, argv + 1);
	free(subpath);
	return r;
}

/* Help for top (at path) and as many words of argv[1..] as name its
 * sub-commands; the root's own help is the full one. */
static int help_for(const struct cmd *top, const char *top_path, int argc, char **argv)
{
	const struct cmd *c = top;
	char path[256];
	bool ambiguous;

	snprintf(path, sizeof(path), "%s", top_path);
	for (int i = 1; i < argc && c->subs; i++) {
		const struct cmd *s = find_sub(c->subs, argv[i], &ambiguous);

		if (!s)
			break;
		c = s;
		snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", s->name);
	}
	if (c == top && !strcmp(top_path, "cnictl"))
		cnictl_help(pr_out(), NULL, "cnictl");
	else
		cnictl_help(pr_out(), c, path);
	return CNICTL_OK;
}

static int help_run(int argc, char **argv)
{
	struct cmd *subs = root_table();
	struct cmd root = {.name = "cnictl", .subs = subs};
	int r;

	if (!subs)
		return cnictl_fail("out of memory");
	r = help_for(&root, "cnictl", argc, argv);
	free(subs);
	return r;
}

/* ---- global flags ------------------------------------------------------------ */

/* Take a flag's value: "--flag=V", "--flag V", "-oV", "-o V". Returns the
 * value or NULL (missing). *i is advanced past a separate value. */
static const char *flag_value(const char *arg, size_t flen, int *i, int argc, char **argv)
{
	if (arg[flen] == '=')
		return arg + flen + 1;
	if (arg[flen])
		return arg + flen; /* -ojson */
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

struct globals {
	const char *bpffs, *socket;
	const char *bad_output; /* an -o value we do not know */
	bool help;
	int verbose;
	bool json;
};

/* -o/--output: the last of -o and -j wins. */
static void set_output(struct globals *g, const char *v)
{
	if (!strcmp(v, "json"))
		g->json = true;
	else if (!strcmp(v, "table") || !strcmp(v, "text"))
		g->json = false;
	else
		g->bad_output = v;
}

/* Remove the global flags from argv (anywhere before "--"). Returns the new
 * argc, or -1 after printing a usage error. */
static int parse_globals(int argc, char **argv, struct globals *g)
{
	int out = 1;
	bool dashdash = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v;

		if (dashdash || a[0] != '-' || !a[1]) {
			argv[out++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			dashdash = true;
			argv[out++] = argv[i];
			continue;
		}
		if (!strncmp(a, "--bpffs", 7) && (!a[7] || a[7] == '=')) {
			if (!(v = flag_value(a, 7, &i, argc, argv)))
				goto missing;
			g->bpffs = v;
		} else if (!strncmp(a, "--socket", 8) && (!a[8] || a[8] == '=')) {
			if (!(v = flag_value(a, 8, &i, argc, argv)))
				goto missing;
			g->socket = v;
		} else if (!strncmp(a, "--output", 8) && (!a[8] || a[8] == '=')) {
			if (!(v = flag_value(a, 8, &i, argc, argv)))
				goto missing;
			set_output(g, v);
		} else if (!strncmp(a, "-o", 2) && a[1] == 'o') {
			if (!(v = flag_value(a, 2, &i, argc, argv)))
				goto missing;
			set_output(g, v);
		} else if (!strcmp(a, "--json")) {
			g->json = true;
		} else if (!strcmp(a, "--verbose")) {
			g->verbose++;
		} else if (!strcmp(a, "--help")) {
			g->help = true;
		} else if (a[1] != '-' && strspn(a + 1, "jvh") == strlen(a + 1)) {
			for (const char *p = a + 1; *p; p++) {
				if (*p == 'j')
					g->json = true;
				else if (*p == 'v')
					g->verbose++;
				else
					g->help = true;
			}
		} else {
			argv[out++] = argv[i]; /* the command's own option */
		}
		continue;
	missing:
		cnictl_usage("option %s needs a value", a);
		return -1;
	}
	argv[out] = NULL;
	return out;
}

int cnictl_main(int argc, char **argv)
{
	return cnictl_run(argc, argv, stdout, stderr);
}

int cnictl_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct globals g = {0};
	struct cmd *subs, root;
	int n, r;

	error_printed = false;
	cnictl_opts = (struct cnictl_opts){.timeout_ms = 10000, .err = err};
	/* JSON as early as possible so even flag errors are JSON. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json") ||
		    !strcmp(argv[i], "-ojson") || !strcmp(argv[i], "--output=json") ||
		    ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc &&
		     !strcmp(argv[i + 1], "json")))
			g.json = true;
	}
	pr_init(g.json, out);
	n = parse_globals(argc, argv, &g);
	if (n < 0)
		return CNICTL_USAGE;
	if (g.bad_output)
		return cnictl_usage("unknown output format '%s' (json or table)", g.bad_output);
	pr_init(g.json, out);
	cnictl_opts.json = g.json;
	cnictl_opts.err = err;
	cnictl_opts.verbose = g.verbose;
	cnictl_opts.bpffs = sl_bpffs_path(g.bpffs);
	cnictl_opts.socket = sl_socket_path(g.socket);
	sl_log_init("cnictl", g.verbose > 2 ? 2 : g.verbose);
	sl_log_libbpf();

	subs = root_table();
	if (!subs)
		return cnictl_fail("out of memory");
	root = (struct cmd){.name = "cnictl", .subs = subs};
	if (g.help)
		r = help_for(&root, "cnictl", n, argv);
	else if (n < 2)
		r = (cnictl_help(cnictl_opts.err, NULL, "cnictl"), cnictl_usage("missing OBJECT"));
	else
		r = cnictl_dispatch(&root, "cnictl", n, argv);
	free(subs);
	if (pr_end_all() && r == CNICTL_OK)
		r = cnictl_fail("output incomplete");
	return r;
}
