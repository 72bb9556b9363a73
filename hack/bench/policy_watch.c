// SPDX-License-Identifier: Apache-2.0
/*
 * policy_watch: time from sluiced's reply to a policy change until the
 * policy map shows it (hack/bench/policy.sh).
 *
 *   policy_watch SOCKET PIN EP_ID PEER NEW_PORT OLD_PORT TIMEOUT_S < CHANGE
 *   policy_watch - PIN EP_ID PEER 0 PORT 0
 *       (exit 0 when the entry for PORT is there, 1 when not)
 *
 * Sends the JSON value on stdin to sluiced's SOCKET, waits for the reply
 * line (must be {"ok":true}), then polls the pinned sluice_pol_exact map PIN for
 * the ingress entry (EP_ID, PEER, TCP, NEW_PORT) to appear and the one for
 * OLD_PORT to go, every 100 us, for at most TIMEOUT_S seconds. Prints
 * "reply_ms=.. new_ms=.. old_gone_ms=.." (times after the reply; reply_ms
 * is from sending to the reply).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include <sluice/metrics.h>
#include <sluice/policy.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int has(int fd, unsigned int ep, unsigned int peer, unsigned int port)
{
	struct pol_exact_key k = { .ep_id = ep, .peer = peer, .dir = SL_DIR_INGRESS,
				   .proto = IPPROTO_TCP, .dport = htons(port) };
	struct pol_val v;

	/* single ports live in the hash sluice_pol_exact */
	return !bpf_map_lookup_elem(fd, &k, &v);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[1 << 16];
	double t0, t_reply, t_new = -1, t_old = -1, deadline;
	unsigned int ep, peer, newp, oldp;
	ssize_t n, len = 0;
	int fd, sfd;

	if (argc != 8) {
		fprintf(stderr, "usage: policy_watch SOCKET PIN EP_ID PEER NEW_PORT OLD_PORT TIMEOUT_S < CHANGE\n");
		return 2;
	}
	ep = strtoul(argv[3], NULL, 0);
	peer = strtoul(argv[4], NULL, 0);
	newp = strtoul(argv[5], NULL, 0);
	oldp = strtoul(argv[6], NULL, 0);
	fd = bpf_obj_get(argv[2]);
	if (fd < 0) {
		fprintf(stderr, "policy_watch: couldn't open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (!strcmp(argv[1], "-"))
		return has(fd, ep, peer, oldp) ? 0 : 1;
	if (has(fd, ep, peer, newp) || !has(fd, ep, peer, oldp)) {
		fprintf(stderr, "policy_watch: before the change, want port %u present and %u absent "
			"for ep %u peer %u: have old=%d new=%d\n", oldp, newp, ep, peer,
			has(fd, ep, peer, oldp), has(fd, ep, peer, newp));
		return 1;
	}
	while ((n = read(0, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	sfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "policy_watch: couldn't connect to %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	t0 = now_ms();
	if (write(sfd, buf, len) != len) {
		fprintf(stderr, "policy_watch: write: %s\n", strerror(errno));
		return 1;
	}
	len = 0;
	while (len < (ssize_t)sizeof(buf) - 1 && (n = read(sfd, buf + len, 1)) == 1 && buf[len] != '\n')
		len++;
	buf[len] = 0;
	t_reply = now_ms();
	if (!strstr(buf, "\"ok\":true")) {
		fprintf(stderr, "policy_watch: sluiced answered: %s\n", buf);
		return 1;
	}
	deadline = t_reply + atof(argv[7]) * 1e3;
	while (now_ms() < deadline && (t_new < 0 || t_old < 0)) {
		if (t_new < 0 && has(fd, ep, peer, newp))
			t_new = now_ms();
		if (t_old < 0 && !has(fd, ep, peer, oldp))
			t_old = now_ms();
		usleep(100);
	}
	close(sfd);
	if (t_new < 0 || t_old < 0) {
		fprintf(stderr, "policy_watch: the maps did not change within %s s (new %s, old %s)\n",
			argv[7], t_new < 0 ? "absent" : "present", t_old < 0 ? "still there" : "gone");
		return 1;
	}
	printf("reply_ms=%.1f new_ms=%.1f old_gone_ms=%.1f\n", t_reply - t0, t_new - t_reply,
	       t_old - t_reply);
	return 0;
}
