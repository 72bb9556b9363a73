/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cnictl's command framework: how a module adds a command.
 *
 * The command line is `cnictl [GLOBAL FLAGS] OBJECT VERB [ARGS]`. Every
 * OBJECT is a `struct cmd` with a table of sub-commands (which may nest:
 * `bpf map dump`); every leaf has a handler. Help (`cnictl help`,
 * `cnictl OBJECT help`, `-h` anywhere) is generated from the tables.
 *
 * Adding an OBJECT from your own file, without editing anyone else's:
 *
 *	#include "cnictl.h"
 *	#include "print.h"
 *
 *	static int svc_list(int argc, char **argv)
 *	{
 *		json_t *reply;
 *
 *		if (argc > 1)
 *			return cnictl_usage("service list: unexpected '%s'", argv[1]);
 *		if (cnictl_request("service.list", NULL, &reply))
 *			return CNICTL_FAIL;   // error already printed
 *		pr_table_begin(NULL);
 *		...  pr_row_begin(); pr_str("name", ...); pr_row_end(); ...
 *		pr_table_end();
 *		json_decref(reply);
 *		return CNICTL_OK;
 *	}
 *
 *	static const struct cmd svc_verbs[] = {
 *		{ .name = "list", .help = "list Services", .run = svc_list },
 *		{ .name = "get", .args = "NS/NAME", .help = "one Service", .run = svc_get },
 *		{ 0 }
 *	};
 *	CNICTL_COMMAND(cmd_service) = {
 *		.name = "service", .help = "Services and their backends", .subs = svc_verbs,
 *	};
 *
 * CNICTL_COMMAND places a pointer to the object in a linker section that
 * the dispatcher walks; the Makefile links libcnictl.a whole, so every
 * cnictl/ file's commands (and map decoders, see decode.h) are present
 * without any central list.
 *
 * Handlers:
 *  - get argc/argv like main(): argv[0] is the verb's own name, argv[1..]
 *    its arguments. optind is reset, so getopt_long() works directly.
 *  - return CNICTL_OK (0), CNICTL_FAIL (1: the operation failed) or
 *    CNICTL_USAGE (2: bad arguments). Report errors with cnictl_fail() /
 *    cnictl_usage(): they print `{"error": ...}` in JSON mode and
 *    "cnictl: ..." on stderr otherwise, and return the right code.
 *  - print results only through the printer (print.h) so `-o json` and the
 *    text output carry the same fields.
 *  - global flags (--bpffs, --socket, -o, -j, -v, -h/--help) are accepted
 *    anywhere on the line and are removed before the handler sees argv;
 *    don't give sub-command options those names.
 */
#ifndef CNICTL_CNICTL_H
#define CNICTL_CNICTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

enum cnictl_exit {
	CNICTL_OK = 0,
	CNICTL_FAIL = 1,
	CNICTL_USAGE = 2,
};

struct cmd {
	const char *name; /* word on the command line */
	const char *args; /* usage of the arguments, e.g. "NAME" or "[--type T]" */
	const char *help; /* one line */
	/* Leaf: the handler. Exactly one of run and subs is set. */
	int (*run)(int argc, char **argv);
	/* Inner node: sub-commands, terminated by an entry with name NULL. */
	const struct cmd *subs;
};

/* Register a top-level OBJECT: `CNICTL_COMMAND(cmd_foo) = { ... };` */
#define CNICTL_COMMAND(var)                                                                        \
	extern const struct cmd var;                                                               \
	static const struct cmd *const var##_reg                                                   \
	    __attribute__((used, section("cnictl_cmds"), aligned(sizeof(void *)))) = &var;         \
	const struct cmd var

/* Options every command sees (set from the global flags before dispatch). */
struct cnictl_opts {
	const char *bpffs;  /* pin root, resolved (flag, $SLUICE_BPFFS, default) */
	const char *socket; /* sluiced socket, resolved likewise */
	bool json;	    /* -o json / -j */
	int verbose;	    /* number of -v */
	int timeout_ms;	    /* socket request timeout */
	FILE *err;	    /* diagnostics for people (stderr); results go to pr_out() */
};
extern struct cnictl_opts cnictl_opts;

/* Entry point (main.c only calls this). Returns the process exit code. */
int cnictl_main(int argc, char **argv);
/* The same with explicit streams (tests). argv is modified (global flags
 * are removed). */
int cnictl_run(int argc, char **argv, FILE *out, FILE *err);

/* Print an error (JSON {"error": ...} on stdout in JSON mode, else on stderr)
 * and return CNICTL_FAIL / CNICTL_USAGE. Only the first error of a run is
 * printed as JSON, so stdout stays one valid document. */
int cnictl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cnictl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One request to sluiced: {"request": name, ...args}. args (may be NULL) is
 * an object whose members are merged in; the reference is stolen. On success
 * returns 0 and *reply (caller decrefs). On failure prints the error once
 * ("sluiced is not running at PATH", or the daemon's own error) and
 * returns -errno (-EREMOTEIO when sluiced answered ok:false).
 */
int cnictl_request(const char *name, json_t *args, json_t **reply);
/* The same without printing anything: for callers that degrade gracefully
 * (status when sluiced is down). *err_msg (may be NULL) gets a malloc'd
 * description of the failure. */
int cnictl_request_quiet(const char *name, json_t *args, json_t **reply, char **err_msg);

/*
 * Pinned maps (read straight from the bpffs, so they work without sluiced).
 */
struct bpf_map_info;
/* Open <bpffs>/<name> and fill *info (may be NULL). Returns the fd or
 * -errno; prints "map NAME not pinned under DIR" etc. unless quiet. */
int cnictl_map_open(const char *name, struct bpf_map_info *info, bool quiet);
/* Number of CPUs whose slots a per-CPU map value has (libbpf_num_possible_cpus). */
int cnictl_ncpus(void);
/* True for PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH (value is per CPU). */
bool cnictl_map_is_percpu(unsigned int map_type);
/*
 * Call cb for every entry of the map (arrays: every index). value holds the
 * raw value: for per-CPU maps ncpus values, each round_up(value_size, 8)
 * bytes apart. A non-zero return from cb stops the walk and is returned.
 * Entries deleted concurrently are skipped. Returns 0 or -errno (printed).
 */
typedef int (*cnictl_map_cb)(const void *key, const void *value, void *ctx);
int cnictl_map_foreach(int fd, const struct bpf_map_info *info, cnictl_map_cb cb, void *ctx);
/* Count entries (arrays: max_entries). Returns count or -errno. */
long cnictl_map_count(int fd, const struct bpf_map_info *info);

/* Print the table of pinned sluice_* maps (name, type, sizes, max entries,
 * current entries, fillPercent) under key (NULL at top level). Returns 0 or
 * -errno (pin root unreadable; printed). Used by `bpf map list` and `status`. */
int cnictl_print_map_table(const char *key);

/* Split "NS/NAME" (or "NAME" with default_ns) into malloc'd strings.
 * Returns 0 or -EINVAL (nothing allocated). */
int cnictl_parse_ns_name(const char *s, const char *default_ns, char **ns, char **name);

/* Walk the registered top-level objects (sorted by name); NULL at the end. */
const struct cmd *cnictl_command_at(size_t i);
/* Dispatch argv (argv[0] = name of the table's owner) through a table.
 * Exposed for tests; `path` is the command words so far (for help). */
int cnictl_dispatch(const struct cmd *table, const char *path, int argc, char **argv);
/* Print the help of one command (recursively for inner nodes) to f. */
void cnictl_help(FILE *f, const struct cmd *c, const char *path);

#endif
