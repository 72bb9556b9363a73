// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "defaults.h"

int sl_conn_open(struct sl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	c->fd = fd;
	return 0;
}

void sl_conn_close(struct sl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int sl_conn_send(struct sl_conn *c, const json_t *value)
{
	char *s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	int err;

	if (!s)
		return -ENOMEM;
	err = write_all(c->fd, s, strlen(s));
	if (!err)
		err = write_all(c->fd, "\n", 1);
	free(s);
	return err;
}

int sl_conn_recv(struct sl_conn *c, json_t **reply, int timeout_ms)
{
	*reply = NULL;
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;

		if (nl) {
			size_t line = (size_t)(nl - c->buf);
			json_error_t jerr;

			*reply = json_loadb(c->buf, line, JSON_DECODE_ANY, &jerr);
			memmove(c->buf, nl + 1, c->len - line - 1);
			c->len -= line + 1;
			return *reply ? 0 : -EBADMSG;
		}
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;
			char *nb;

			if (cap > 2 * SL_MAX_VALUE_BYTES)
				return -EMSGSIZE;
			nb = realloc(c->buf, cap);
			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = cap;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, timeout_ms);

		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t)r;
	}
}

int sl_call(const char *path, const json_t *req, json_t **reply, char **err_msg, int timeout_ms)
{
	struct sl_conn c;
	json_t *ok;
	int err;

	*reply = NULL;
	if (err_msg)
		*err_msg = NULL;
	err = sl_conn_open(&c, path);
	if (err)
		return err;
	err = sl_conn_send(&c, req);
	if (!err)
		err = sl_conn_recv(&c, reply, timeout_ms);
	sl_conn_close(&c);
	if (err)
		return err;
	ok = json_object_get(*reply, "ok");
	if (!json_is_true(ok)) {
		if (err_msg) {
			const char *e = json_string_value(json_object_get(*reply, "error"));

			*err_msg = strdup(e ? e : "request failed");
		}
		return -EREMOTEIO;
	}
	return 0;
}

const char *sl_socket_path(const char *explicit_path)
{
	const char *e = getenv(SL_ENV_SOCKET);

	if (explicit_path && *explicit_path)
		return explicit_path;
	return e && *e ? e : SL_DEFAULT_SOCKET;
}

const char *sl_bpffs_path(const char *explicit_path)
{
	const char *e = getenv(SL_ENV_BPFFS);

	if (explicit_path && *explicit_path)
		return explicit_path;
	return e && *e ? e : SL_DEFAULT_BPFFS;
}
