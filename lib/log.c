// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

#include "log.h"

int sl_log_level = SL_LOG_WARN;
static const char *log_prog = "sluice";

void sl_log_init(const char *prog, int level)
{
	log_prog = prog;
	sl_log_level = level;
}

static void vlog(int level, const char *fmt, va_list ap)
{
	static const char *tag[] = { "warn", "info", "debug" };

	if (level > sl_log_level)
		return;
	fprintf(stderr, "%s: %s: ", log_prog, tag[level < 0 ? 0 : level > 2 ? 2 : level]);
	vfprintf(stderr, fmt, ap);
}

void sl_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf is chatty and its warnings are usually followed by ours. */
	int ours = level == LIBBPF_WARN ? SL_LOG_INFO : SL_LOG_DEBUG;

	vlog(ours, fmt, ap);
	return 0;
}

void sl_log_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
