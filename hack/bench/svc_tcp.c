// SPDX-License-Identifier: Apache-2.0
/*
 * svc_tcp: the tiny TCP client/server of the Service benchmark
 * (hack/bench/svc.sh). Bounded in time and count; one line of results.
 *
 *   svc_tcp server PORT LIFETIME_S
 *       Serves one connection at a time: for every request byte, one
 *       response byte; request 'c' also closes the connection (the server
 *       closes first, so the client's ports never sit in TIME_WAIT).
 *       Exits after LIFETIME_S seconds whatever happens.
 *   svc_tcp crr IP PORT SECONDS
 *       Connection rate: connect, 1-byte request, 1-byte response, close,
 *       in a loop, one connection at a time, for SECONDS.
 *       Prints "conn_per_s=.. p50_us=.. p99_us=.. n=.. errors=..".
 *   svc_tcp rr IP PORT SECONDS
 *       Request latency: one persistent connection, 1-byte ping-pong for
 *       SECONDS. Prints "rr_per_s=.. p50_us=.. p99_us=.. n=.. errors=..".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 4000000
#define MAX_ERRORS 50

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_f(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 2 };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int serve(int port, int lifetime)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	alarm(lifetime); /* never outlive the benchmark */
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1024)) {
		fprintf(stderr, "svc_tcp server: couldn't listen on port %d: %s\n", port,
			strerror(errno));
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		char c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "svc_tcp server: accept: %s\n", strerror(errno));
			return 1;
		}
		set_timeouts(fd);
		while (read(fd, &c, 1) == 1) {
			if (write(fd, &c, 1) != 1 || c == 'c')
				break;
		}
		close(fd);
	}
}

static int connect_to(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	set_timeouts(fd);
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void report(const char *what, float *lat, size_t n, double secs, unsigned int errors)
{
	qsort(lat, n, sizeof(*lat), cmp_f);
	printf("%s=%.0f p50_us=%.1f p99_us=%.1f n=%zu errors=%u\n", what, n / secs,
	       n ? lat[n / 2] : 0.0, n ? lat[n * 99 / 100] : 0.0, n, errors);
}

static int client(int crr, const char *ip, int port, double secs)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	float *lat = malloc(MAX_SAMPLES * sizeof(*lat));
	unsigned int errors = 0;
	double t0, end, t;
	size_t n = 0;
	int fd = -1;
	char c;

	if (!lat || inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "svc_tcp: bad address %s (or out of memory)\n", ip);
		return 1;
	}
	t0 = now_s();
	end = t0 + secs;
	while (n < MAX_SAMPLES && (t = now_s()) < end) {
		if (crr || fd < 0) {
			fd = connect_to(&a);
			if (fd < 0)
				goto error;
		}
		c = crr ? 'c' : 'r';
		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
			goto error;
		if (crr) {
			/* Wait for the server's FIN, then close. */
			if (read(fd, &c, 1) != 0)
				goto error;
			close(fd);
			fd = -1;
		}
		lat[n++] = (float)((now_s() - t) * 1e6);
		continue;
error:
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (++errors > MAX_ERRORS) {
			fprintf(stderr, "svc_tcp: %u errors towards %s:%d (last: %s), giving up\n",
				errors, ip, port, strerror(errno));
			report(crr ? "conn_per_s" : "rr_per_s", lat, n, now_s() - t0, errors);
			return 1;
		}
	}
	t = now_s() - t0;
	if (fd >= 0)
		close(fd);
	report(crr ? "conn_per_s" : "rr_per_s", lat, n, t, errors);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return serve(atoi(argv[2]), atoi(argv[3]));
	if (argc == 5 && (!strcmp(argv[1], "crr") || !strcmp(argv[1], "rr")))
		return client(!strcmp(argv[1], "crr"), argv[2], atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: svc_tcp server PORT LIFETIME_S | crr|rr IP PORT SECONDS\n");
	return 2;
}
