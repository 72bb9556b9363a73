/* SPDX-License-Identifier: Apache-2.0 */
/* Tiny leveled logging to stderr; libbpf's output is routed one level lower. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

enum sl_log_level { SL_LOG_WARN = 0, SL_LOG_INFO = 1, SL_LOG_DEBUG = 2 };

/* Highest level printed; -v raises it. Default SL_LOG_WARN. */
extern int sl_log_level;

/* Name printed before every line ("sluiced", "sluice", "cnictl"). */
void sl_log_init(const char *prog, int level);
void sl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route libbpf's messages through sl_log (warn->info, info->debug). */
void sl_log_libbpf(void);

#define pr_warn(...)  sl_log(SL_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  sl_log(SL_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

#endif
