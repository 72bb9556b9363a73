/* SPDX-License-Identifier: Apache-2.0 */
/* Client side of the sluiced socket: send JSON values, read reply lines. */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stddef.h>
#include <jansson.h>

struct sl_conn {
	int fd;
	char *buf; /* bytes received but not yet returned as lines */
	size_t len, cap;
};

/* Connect to the UNIX socket at path. Returns 0 or -errno (-ENOENT /
 * -ECONNREFUSED when sluiced is not running). */
int sl_conn_open(struct sl_conn *c, const char *path);
void sl_conn_close(struct sl_conn *c);
/* Write one JSON value followed by a newline. Returns 0 or -errno. */
int sl_conn_send(struct sl_conn *c, const json_t *value);
/* Read one reply line and parse it. timeout_ms < 0 waits for ever.
 * Returns 0 with *reply set (caller decrefs), -ETIMEDOUT, -ECONNRESET
 * (closed by peer), -EBADMSG (not JSON) or another -errno. */
int sl_conn_recv(struct sl_conn *c, json_t **reply, int timeout_ms);
/* One request, one reply, on a fresh connection. If the reply is
 * {"ok":false,"error":E}, returns -EREMOTEIO and sets *err_msg to a
 * malloc'd copy of E (when err_msg is non-NULL). */
int sl_call(const char *path, const json_t *req, json_t **reply, char **err_msg, int timeout_ms);
/* The socket path to use: explicit (if non-NULL and non-empty), else
 * $SLUICE_SOCKET, else the default. */
const char *sl_socket_path(const char *explicit_path);
/* Same for the pin root: explicit, $SLUICE_BPFFS, default. */
const char *sl_bpffs_path(const char *explicit_path);

#endif
