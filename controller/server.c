// SPDX-License-Identifier: Apache-2.0
/* The socket: one epoll loop serves every client, the timers and the
 * signals. Nothing here blocks: reads are bounded chunks, writes go through
 * a per-connection output buffer, and a client that does not read its
 * replies only stops its own connection from being read. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "ctl.h"
#include "feed.h"
#include "log.h"
#include "stream.h"

#define READ_CHUNK 65536
#define OUT_LIMIT  (1u << 20) /* stop reading a client with this much unsent */
#define MAX_CONNS  1024
#define MAX_TIMERS 16
#define BUDGET	   64	       /* values answered per connection per turn, */
#define BUDGET_MS  5	       /* or this much time, whichever ends first */
#define DRAIN_MAX  (64u << 20) /* input discarded after a fatal error */
#define ERR_LEN	   1024

time_t ctl_start_time;
bool ctl_ready;

struct conn {
	int fd;
	struct sl_stream in;
	char *out;
	size_t out_len, out_off, out_cap;
	struct feed_conn *fc;
	bool eof;      /* the client shut its sending side */
	bool backlog;  /* complete values wait in the input buffer */
	bool draining; /* after a fatal input error: discard input (bounded)
			* so the client can read the error before we close */
	size_t drained, drain_max;
	bool closing;	 /* close once the output is flushed */
	bool peer_gone;	 /* nobody reads replies any more; what the client
			  * sent is still applied (a fire-and-forget feed) */
	uint32_t events; /* what epoll currently watches */
	struct conn *next;
};

struct timer {
	unsigned int interval_ms;
	uint64_t due_ms;
	void (*fn)(void);
};

static struct timer timers[MAX_TIMERS];
static int n_timers;
static struct conn *conns;
static int n_conns;
static int epfd = -1;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_add_timer(unsigned int interval_ms, void (*fn)(void))
{
	if (n_timers >= MAX_TIMERS)
		return -ENOSPC;
	if (!interval_ms || !fn)
		return -EINVAL;
	timers[n_timers].interval_ms = interval_ms;
	timers[n_timers].due_ms = now_ms() + interval_ms;
	timers[n_timers].fn = fn;
	n_timers++;
	return 0;
}

/* Run due timers; returns the epoll timeout until the next one (-1: none). */
static int run_timers(void)
{
	uint64_t now = now_ms(), next = UINT64_MAX;

	for (int i = 0; i < n_timers; i++) {
		if (timers[i].due_ms <= now) {
			timers[i].fn();
			now = now_ms();
			/* A slow timer does not make the others fire in a burst. */
			timers[i].due_ms = now + timers[i].interval_ms;
		}
		if (timers[i].due_ms < next)
			next = timers[i].due_ms;
	}
	if (next == UINT64_MAX)
		return -1;
	return next > now ? (int)(next - now) : 0;
}

static int out_append(struct conn *c, const char *s, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *nb;

		/* Reclaim what was already sent before growing. */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + n)
			cap *= 2;
		if (cap != c->out_cap) {
			nb = realloc(c->out, cap);
			if (!nb)
				return -ENOMEM;
			c->out = nb;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

/* Queue one reply line. On allocation failure the connection is closed:
 * losing a reply would shift every following answer. */
static void reply_line(struct conn *c, json_t *reply)
{
	char *s;

	if (c->peer_gone)
		return;
	s = json_dumps(reply, JSON_COMPACT);
	if (!s || out_append(c, s, strlen(s)) || out_append(c, "\n", 1)) {
		pr_warn("connection %d: out of memory for a reply, closing\n", c->fd);
		c->closing = true;
		c->out_len = c->out_off = 0;
	}
	free(s);
}

static void reply_error(struct conn *c, const char *msg)
{
	json_t *r = json_pack("{s:b,s:s}", "ok", 0, "error", msg);

	if (r)
		reply_line(c, r);
	else
		c->closing = true;
	json_decref(r);
}

/* Answer one complete, parsed value. */
static void handle_object(struct conn *c, json_t *v)
{
	json_t *req = json_object_get(v, "request");
	json_t *reply = json_object();
	char err[ERR_LEN] = "";
	int ret;

	if (!reply) {
		reply_error(c, "out of memory");
		return;
	}
	json_object_set_new(reply, "ok", json_true());
	if (json_is_string(req)) {
		ret = requests_dispatch(v, reply, err, sizeof(err));
	} else if (c->fc) {
		ret = feed_apply(c->fc, v, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "the Kubernetes feed is not available in this build");
		ret = -ENOSYS;
	}
	if (ret) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		reply_error(c, err);
	} else {
		reply_line(c, reply);
	}
	json_decref(reply);
}

/* The input can no longer be trusted (invalid JSON, too large, too deep):
 * answer the error, then swallow what the client still sends so it is not
 * cut off before it can read the answer. */
static void conn_fail(struct conn *c, const char *msg)
{
	reply_error(c, msg);
	c->backlog = false;
	c->draining = !c->eof;
	c->closing = c->eof;
	sl_stream_free(&c->in);
}

/* Answer up to BUDGET complete values from the input buffer, fewer when
 * the client is not reading its replies. Sets c->backlog when values are
 * left for the next turn, so one busy client cannot starve the others. */
static void conn_process(struct conn *c)
{
	char err[ERR_LEN];
	const char *val;
	size_t len;
	json_t *v;
	int ret;

	uint64_t deadline = now_ms() + BUDGET_MS;

	for (int budget = BUDGET; budget > 0 && now_ms() < deadline; budget--) {
		if (c->closing || c->draining)
			return;
		if (c->out_len - c->out_off >= OUT_LIMIT) {
			c->backlog = true;
			return;
		}
		ret = sl_stream_next(&c->in, &val, &len);
		if (ret == 0 && c->eof) {
			ret = sl_stream_finish(&c->in, &val, &len);
			if (ret == 0) {
				c->backlog = false;
				c->closing = true;
				return;
			}
		}
		if (ret == 0) {
			c->backlog = false;
			return;
		}
		if (ret < 0) {
			snprintf(err, sizeof(err), "%s%s",
				 c->in.errmsg ? c->in.errmsg : strerror(-ret),
				 ret == -EMSGSIZE ? " (limit 16 MiB per value)" : "");
			conn_fail(c, err);
			return;
		}
		ret = sl_stream_decode(val, len, &v, err, sizeof(err));
		if (ret == -EBADMSG) {
			conn_fail(c, err);
			return;
		}
		if (ret < 0) {
			reply_error(c, err);
		} else {
			handle_object(c, v);
			json_decref(v);
		}
	}
	c->backlog = true;
}

static void conn_free(struct conn *c)
{
	struct conn **pp;

	for (pp = &conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	sl_stream_free(&c->in);
	if (c->fc)
		feed_conn_free(c->fc);
	free(c->out);
	free(c);
	n_conns--;
}

/* Write what we can without blocking. Returns 0, or -errno when the peer
 * is gone. */
static int conn_flush(struct conn *c)
{
	if (c->peer_gone)
		c->out_off = c->out_len = 0;
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EPIPE || errno == ECONNRESET) {
				c->peer_gone = true;
				c->out_off = c->out_len = 0;
				return 0;
			}
			return -errno;
		}
		c->out_off += n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/* Re-arm epoll for what the connection needs now; frees it when done.
 * Returns false when the connection was freed. */
static bool conn_update(struct conn *c)
{
	size_t pending = c->out_len - c->out_off;
	struct epoll_event ev = {.data.ptr = c};

	if (c->closing && !pending) {
		conn_free(c);
		return false;
	}
	/* Read only when the buffered values are answered and the client
	 * reads its replies: the input buffer stays bounded. */
	if (c->draining || (!c->closing && !c->eof && !c->backlog && pending < OUT_LIMIT))
		ev.events |= EPOLLIN;
	if (pending)
		ev.events |= EPOLLOUT;
	if (ev.events != c->events) {
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
			pr_warn("connection %d: epoll: %s\n", c->fd, strerror(errno));
			conn_free(c);
			return false;
		}
		c->events = ev.events;
	}
	return true;
}

static void conn_read(struct conn *c)
{
	static char buf[READ_CHUNK];
	ssize_t n;

	n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		pr_debug("connection %d: read: %s\n", c->fd, strerror(errno));
		c->closing = true;
		c->draining = false;
		c->out_len = c->out_off = 0;
		return;
	}
	if (c->draining) {
		c->drained += n;
		if (n == 0 || c->drained > c->drain_max) {
			c->draining = false;
			c->closing = true;
		}
		return;
	}
	if (n == 0) {
		/* The client is done sending (it may still read): answer
		 * what is left, then close once the replies are out. */
		c->eof = true;
	} else if (sl_stream_feed(&c->in, buf, n) < 0) {
		conn_fail(c, c->in.errmsg ? c->in.errmsg : "out of memory");
		return;
	}
	conn_process(c);
}

static void conn_accept(int lfd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct conn *c;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			pr_warn("accept on %s: %s\n", ctl.socket_path, strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		pr_warn("SO_PEERCRED: %s\n", strerror(errno));
		close(fd);
		return;
	}
	if (cred.uid != 0)
		pr_info("refusing a client with uid %u (pid %d)\n", cred.uid, cred.pid);
	if (n_conns >= MAX_CONNS) {
		static const char msg[] = "{\"ok\":false,\"error\":\"too many connections\"}\n";

		pr_warn("refused pid %d: %d connections open\n", cred.pid, n_conns);
		(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto oom;
	c->fd = fd;
	sl_stream_init(&c->in, 0, 0);
	if (cred.uid == 0) {
		c->fc = feed_conn_new();
		if (!c->fc) {
			free(c);
			goto oom;
		}
	}
	c->events = EPOLLIN;
	c->drain_max = DRAIN_MAX;
	if (cred.uid != 0) {
		/* Answered like any failed value, then drained (a little) so
		 * the client reads why before the connection closes. */
		conn_fail(c, "permission denied: only root may use this socket");
		c->drain_max = 1u << 20;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd,
		      &(struct epoll_event){.events = EPOLLIN, .data.ptr = c}) < 0) {
		pr_warn("epoll add: %s\n", strerror(errno));
		if (c->fc)
			feed_conn_free(c->fc);
		free(c->out);
		free(c);
		close(fd);
		return;
	}
	c->next = conns;
	conns = c;
	n_conns++;
	pr_debug("connection %d from pid %d\n", fd, cred.pid);
	if (conn_flush(c) < 0)
		conn_free(c);
	else
		conn_update(c);
	return;
oom:
	pr_warn("out of memory for a new connection\n");
	close(fd);
}

/* mkdir -p with mode 0700 for the directories we create. */
static int make_parent_dirs(const char *path)
{
	char *dup = strdup(path), *dir, *p;
	int ret = 0;

	if (!dup)
		return -ENOMEM;
	dir = dirname(dup);
	for (p = dir + 1;; p++) {
		bool end = *p == 0;

		if (*p != '/' && !end)
			continue;
		*p = 0;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			ret = -errno;
			pr_warn("couldn't create %s: %s\n", dir, strerror(errno));
			break;
		}
		if (end)
			break;
		*p = '/';
	}
	free(dup);
	return ret;
}

/* Remove a leftover socket file; refuse when a live server answers on it
 * or when the path is something other than a socket. */
static int remove_stale_socket(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		pr_warn("%s exists and is not a socket; not replacing it\n", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (ret == 0) {
		pr_warn("another sluiced is serving %s\n", sa->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		pr_warn("couldn't remove stale socket %s: %s\n", sa->sun_path, strerror(errno));
		return -errno;
	}
	pr_info("replaced stale socket %s\n", sa->sun_path);
	return 0;
}

static int listen_socket(struct stat *st_out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old_umask;
	int fd, ret;

	if (strlen(ctl.socket_path) >= sizeof(sa.sun_path)) {
		pr_warn("socket path %s is too long\n", ctl.socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, ctl.socket_path);
	ret = make_parent_dirs(ctl.socket_path);
	if (ret)
		return ret;
	ret = remove_stale_socket(&sa);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		pr_warn("socket: %s\n", strerror(errno));
		return ret;
	}
	/* Created 0600 from the start: no window where others could connect. */
	old_umask = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (ret < 0) {
		ret = -errno;
		pr_warn("couldn't bind %s: %s\n", ctl.socket_path, strerror(errno));
		goto err;
	}
	if (chmod(ctl.socket_path, 0600) < 0 || stat(ctl.socket_path, st_out) < 0 ||
	    listen(fd, 128) < 0) {
		ret = -errno;
		pr_warn("couldn't set up %s: %s\n", ctl.socket_path, strerror(errno));
		unlink(ctl.socket_path);
		goto err;
	}
	return fd;
err:
	close(fd);
	return ret;
}

int server_run(void)
{
	struct epoll_event evs[64];
	struct stat sock_st;
	sigset_t mask;
	int lfd = -1, sfd = -1, ret = 0;
	bool stop = false;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Blocked before the socket exists, so a signal during start-up is
	 * not lost: it waits in the signalfd. */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0) {
		ret = -errno;
		pr_warn("signalfd/epoll: %s\n", strerror(errno));
		goto out;
	}
	lfd = listen_socket(&sock_st);
	if (lfd < 0) {
		ret = lfd;
		goto out;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd,
		      &(struct epoll_event){.events = EPOLLIN, .data.ptr = &lfd}) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd,
		      &(struct epoll_event){.events = EPOLLIN, .data.ptr = &sfd}) < 0) {
		ret = -errno;
		pr_warn("epoll: %s\n", strerror(errno));
		goto out;
	}
	pr_info("serving %s\n", ctl.socket_path);

	while (!stop) {
		int timeout = run_timers();
		int n;

		for (struct conn *c = conns; c; c = c->next)
			if (c->backlog && c->out_len - c->out_off < OUT_LIMIT)
				timeout = 0;
		n = epoll_wait(epfd, evs, 64, timeout);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pr_warn("epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c;

			if (evs[i].data.ptr == &lfd) {
				conn_accept(lfd);
				continue;
			}
			if (evs[i].data.ptr == &sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					pr_info("signal %u: shutting down\n", si.ssi_signo);
					stop = true;
				}
				continue;
			}
			c = evs[i].data.ptr;
			if (evs[i].events & EPOLLOUT) {
				if (conn_flush(c) < 0) {
					conn_free(c);
					continue;
				}
			}
			if (evs[i].events & EPOLLERR) {
				conn_free(c);
				continue;
			}
			if (evs[i].events & EPOLLHUP) {
				/* Closed both ways: what it sent is still in
				 * our queue and gets applied, unanswered. */
				c->peer_gone = true;
				c->out_off = c->out_len = 0;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP) && !c->backlog &&
			    (c->events & EPOLLIN || c->peer_gone)) {
				conn_read(c);
				if (conn_flush(c) < 0) {
					conn_free(c);
					continue;
				}
			}
			conn_update(c);
		}
		/* One more turn for every connection with values left. */
		for (struct conn *c = conns, *next; c; c = next) {
			next = c->next;
			if (!c->backlog || c->out_len - c->out_off >= OUT_LIMIT)
				continue;
			conn_process(c);
			if (conn_flush(c) < 0) {
				conn_free(c);
				continue;
			}
			conn_update(c);
		}
	}

out:
	while (conns)
		conn_free(conns);
	if (lfd >= 0) {
		struct stat st;

		/* Only remove the socket if it is still ours (a second
		 * instance may have replaced it). */
		if (stat(ctl.socket_path, &st) == 0 && st.st_ino == sock_st.st_ino &&
		    st.st_dev == sock_st.st_dev)
			unlink(ctl.socket_path);
		close(lfd);
	}
	if (sfd >= 0)
		close(sfd);
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
	return ret;
}
