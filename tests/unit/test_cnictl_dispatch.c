// SPDX-License-Identifier: Apache-2.0
/* Global flags, dispatch through the command tables, exit codes, generated
 * help, JSON errors. Uses a test-only object registered like any module's. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../../cnictl/cnictl.h"
#include "../../cnictl/print.h"

static char seen_args[256];

/* Prints its arguments and the options it saw. */
static int t_echo(int argc, char **argv)
{
	seen_args[0] = 0;
	for (int i = 0; i < argc; i++)
		snprintf(seen_args + strlen(seen_args), sizeof(seen_args) - strlen(seen_args),
			 "%s%s", i ? " " : "", argv[i]);
	pr_obj_begin(NULL);
	pr_str("args", seen_args);
	pr_bool("json", cnictl_opts.json);
	pr_str("bpffs", cnictl_opts.bpffs);
	pr_str("socket", cnictl_opts.socket);
	pr_s64("verbose", cnictl_opts.verbose);
	pr_obj_end();
	return CNICTL_OK;
}

static int t_fail(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cnictl_fail("it broke: %d", 42);
}

static int t_usage(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cnictl_usage("bad args");
}

static const struct cmd t_deep[] = {
    {.name = "leaf", .args = "X", .help = "a deep leaf", .run = t_echo},
    {0},
};

static const struct cmd t_verbs[] = {
    {.name = "echo", .args = "[ARGS]", .help = "print the arguments", .run = t_echo},
    {.name = "fail", .help = "fail", .run = t_fail},
    {.name = "usage", .help = "usage error", .run = t_usage},
    {.name = "deep", .help = "a nested object", .subs = t_deep},
    {.name = "dup1", .help = "prefix clash", .run = t_echo},
    {.name = "dup2", .help = "prefix clash", .run = t_echo},
    {0},
};

CNICTL_COMMAND(test_cmd_zz) = {
    .name = "zztest",
    .help = "test object",
    .subs = t_verbs,
};

struct result {
	int rc;
	char *out, *err;
};

/* Run cnictl with the words of line (space-separated). */
static struct result run(const char *line)
{
	char *dup = strdup(line), *argv[32];
	int argc = 0;
	struct result r = {0};
	size_t olen, elen;
	FILE *out = open_memstream(&r.out, &olen), *err = open_memstream(&r.err, &elen);

	argv[argc++] = "cnictl";
	for (char *t = strtok(dup, " "); t && argc < 31; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	r.rc = cnictl_run(argc, argv, out, err);
	pr_init(false, stdout); /* before fclose: pr_init flushes the old stream */
	cnictl_opts.err = stderr;
	fclose(out);
	fclose(err);
	free(dup);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

Test(dispatch, exit_codes)
{
	static const struct {
		const char *line;
		int rc;
	} cases[] = {
	    {"zztest echo a b", 0},
	    {"zztest fail", 1},
	    {"zztest usage", 2},
	    {"", 2},
	    {"nosuchobject list", 2},
	    {"zztest", 2},
	    {"zztest nosuchverb", 2},
	    {"zztest dup", 2}, /* ambiguous prefix */
	    {"zztest deep", 2},
	    {"zztest deep leaf x", 0},
	    {"-o yaml zztest echo", 2},
	    {"zztest echo --socket", 2},
	    {"help", 0},
	    {"zztest help", 0},
	    {"zztest -h", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = run(cases[i].line);

		cr_expect_eq(r.rc, cases[i].rc, "'cnictl %s': exit %d, want %d (stderr: %s)",
			     cases[i].line, r.rc, cases[i].rc, r.err);
		result_free(&r);
	}
}

Test(dispatch, arguments_and_prefixes)
{
	struct result r = run("zz ec a b");

	cr_assert_eq(r.rc, 0, "unique prefixes dispatch: %s", r.err);
	cr_expect_str_eq(seen_args, "echo a b", "handler argv: got '%s'", seen_args);
	result_free(&r);
	r = run("zztest deep leaf x");
	cr_expect_str_eq(seen_args, "leaf x", "nested handler argv: got '%s'", seen_args);
	result_free(&r);
}

Test(dispatch, global_flags_anywhere)
{
	struct result r = run("zztest echo a -j --bpffs=/b --socket /s -vv b");
	json_t *v = json_loads(r.out, 0, NULL);

	cr_assert_eq(r.rc, 0);
	cr_assert_not_null(v, "-j after the verb must give JSON: %s", r.out);
	cr_expect_str_eq(json_string_value(json_object_get(v, "args")), "echo a b",
			 "global flags must not reach the handler");
	cr_expect(json_is_true(json_object_get(v, "json")));
	cr_expect_str_eq(json_string_value(json_object_get(v, "bpffs")), "/b");
	cr_expect_str_eq(json_string_value(json_object_get(v, "socket")), "/s");
	cr_expect_eq(json_integer_value(json_object_get(v, "verbose")), 2);
	json_decref(v);
	result_free(&r);

	/* After "--" everything belongs to the command. */
	r = run("zztest echo -- -j");
	cr_expect_str_eq(seen_args, "echo -- -j", "got '%s'", seen_args);
	cr_expect(r.out[0] != '{', "no JSON after --: %s", r.out);
	result_free(&r);

	r = run("-o json zztest echo");
	cr_expect(r.out[0] == '{', "-o json: %s", r.out);
	result_free(&r);
	r = run("--output=table -j zztest echo");
	cr_expect(r.out[0] == '{', "-j given after --output=table still wins: %s", r.out);
	result_free(&r);
}

Test(dispatch, defaults_from_environment)
{
	struct result r;

	setenv("SLUICE_BPFFS", "/env/bpf", 1);
	setenv("SLUICE_SOCKET", "/env/sock", 1);
	r = run("-j zztest echo");
	cr_expect(strstr(r.out, "\"bpffs\":\"/env/bpf\""), "env bpffs: %s", r.out);
	cr_expect(strstr(r.out, "\"socket\":\"/env/sock\""), "env socket: %s", r.out);
	result_free(&r);
	r = run("-j --bpffs /flag zztest echo");
	cr_expect(strstr(r.out, "\"bpffs\":\"/flag\""), "flag beats env: %s", r.out);
	result_free(&r);
	unsetenv("SLUICE_BPFFS");
	unsetenv("SLUICE_SOCKET");
}

Test(dispatch, json_errors)
{
	static const char *const lines[] = {
	    "-j zztest fail", "-j zztest usage", "-j nosuchobject", "-j zztest", "-j -o xml zztest",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct result r = run(lines[i]);
		json_error_t e;
		json_t *v = json_loads(r.out, 0, &e);

		cr_expect_not_null(v, "'%s': stdout must be one JSON document: %s", lines[i],
				   r.out);
		cr_expect(json_is_string(json_object_get(v, "error")),
			  "'%s': want {\"error\":..}: %s", lines[i], r.out);
		cr_expect_eq(json_object_size(v), 1, "'%s': only the error: %s", lines[i], r.out);
		json_decref(v);
		result_free(&r);
	}
	struct result r = run("zztest fail");

	cr_expect_str_eq(r.err, "cnictl: it broke: 42\n", "text error on stderr: %s", r.err);
	cr_expect_str_eq(r.out, "", "nothing on stdout: %s", r.out);
	result_free(&r);
}

Test(dispatch, help_is_generated_from_tables)
{
	struct result r = run("help");

	cr_expect(strstr(r.out, "cnictl zztest deep leaf X"), "nested leaf in help: %s", r.out);
	cr_expect(strstr(r.out, "a deep leaf"), "%s", r.out);
	cr_expect(strstr(r.out, "cnictl bpf map dump NAME"), "built-in commands listed: %s", r.out);
	cr_expect(strstr(r.out, "--bpffs DIR"), "global options listed: %s", r.out);
	result_free(&r);
	r = run("zztest deep help");
	cr_expect(strstr(r.out, "cnictl zztest deep leaf X"), "%s", r.out);
	cr_expect(!strstr(r.out, "cnictl zztest echo"), "only the object's commands: %s", r.out);
	result_free(&r);
	r = run("help zztest");
	cr_expect(strstr(r.out, "cnictl zztest echo [ARGS]"), "%s", r.out);
	result_free(&r);
	r = run("zztest");
	cr_expect(strstr(r.err, "missing command"), "%s", r.err);
	result_free(&r);
}

Test(dispatch, registry_sorted_and_complete)
{
	const char *prev = "";
	bool found = false;

	for (size_t i = 0; cnictl_command_at(i); i++) {
		const struct cmd *c = cnictl_command_at(i);

		cr_expect(strcmp(prev, c->name) < 0, "sorted: %s before %s", prev, c->name);
		cr_expect((c->run != NULL) != (c->subs != NULL), "%s: exactly one of run/subs",
			  c->name);
		found |= !strcmp(c->name, "zztest");
		prev = c->name;
	}
	cr_expect(found, "a CNICTL_COMMAND in a test file registers too");
}

Test(dispatch, ns_name)
{
	static const struct {
		const char *in, *def, *ns, *name;
		int rc;
	} cases[] = {
	    {"default/web", NULL, "default", "web", 0}, {"web", "default", "default", "web", 0},
	    {"web", NULL, NULL, NULL, -EINVAL},		{"/web", NULL, NULL, NULL, -EINVAL},
	    {"ns/", NULL, NULL, NULL, -EINVAL},		{"a/b/c", NULL, NULL, NULL, -EINVAL},
	    {"", "default", NULL, NULL, -EINVAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *ns, *name;
		int rc = cnictl_parse_ns_name(cases[i].in, cases[i].def, &ns, &name);

		cr_expect_eq(rc, cases[i].rc, "'%s': rc %d want %d", cases[i].in, rc, cases[i].rc);
		if (!rc) {
			cr_expect_str_eq(ns, cases[i].ns);
			cr_expect_str_eq(name, cases[i].name);
		}
		free(ns);
		free(name);
	}
}

Test(dispatch, socket_errors_are_clear)
{
	struct result r = run("-j --socket /nonexistent/sluiced.sock endpoint list");

	cr_expect_eq(r.rc, 1);
	cr_expect(strstr(r.out, "sluiced is not running"), "got %s", r.out);
	result_free(&r);
	r = run("--bpffs /nonexistent bpf map list");
	cr_expect_eq(r.rc, 1);
	cr_expect(strstr(r.err, "/nonexistent"), "names the pin root: %s", r.err);
	result_free(&r);
	r = run("--bpffs /nonexistent bpf map dump ct");
	cr_expect_eq(r.rc, 1);
	cr_expect(strstr(r.err, "sluice_ct is not pinned under /nonexistent"), "got %s", r.err);
	result_free(&r);
}
