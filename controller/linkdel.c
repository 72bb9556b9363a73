// SPDX-License-Identifier: Apache-2.0
/* One worker thread deletes queued host veths, in batches. The queue
 * is small and bounded: on overflow the caller deletes the link itself. A
 * deletion lost when sluiced stops is harmless: the runtime removes the pod
 * netns right after DEL, and the pair goes with it. */
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "linkdel.h"
#include "log.h"

#define LINKDEL_QUEUE 256

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char names[LINKDEL_QUEUE][IFNAMSIZ];
	unsigned int head, count;
	bool started;
	pthread_t thread;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* Links queued for deletion are moved into this group, then the whole
 * group is deleted in one request: the kernel unregisters them together
 * with one RCU grace period instead of one per veth. */
#define LINKDEL_GROUP 0x51ce0de1u

/* Send one request and wait for its ack. Returns 0 or -errno. */
static int nl_do(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int seq = nlh->nlmsg_seq;
	ssize_t n;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL, NULL) < 0)
		return -errno;
	return 0;
}

/* RTM_NEWLINK (move to our group) or RTM_DELLINK (delete the group) for
 * ifname, or for the group when ifname is NULL. Returns 0 or -errno. */
static int link_req(struct mnl_socket *nl, int type, const char *ifname, unsigned int seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	if (ifname)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	mnl_attr_put_u32(nlh, IFLA_GROUP, LINKDEL_GROUP);
	return nl_do(nl, nlh);
}

static void *worker(void *arg)
{
	struct mnl_socket *nl = arg;
	char names[LINKDEL_QUEUE][IFNAMSIZ];
	unsigned int n, moved, seq = (unsigned int)time(NULL);
	int err;

	for (;;) {
		pthread_mutex_lock(&q.lock);
		while (!q.count)
			pthread_cond_wait(&q.wake, &q.lock);
		for (n = 0; n < q.count; n++)
			memcpy(names[n], q.names[(q.head + n) % LINKDEL_QUEUE], IFNAMSIZ);
		pthread_mutex_unlock(&q.lock);

		moved = 0;
		for (unsigned int i = 0; i < n; i++) {
			err = link_req(nl, RTM_NEWLINK, names[i], ++seq);
			if (!err)
				moved++;
			else if (err != -ENODEV)
				pr_warn("couldn't delete host veth %s: %s\n", names[i], strerror(-err));
		}
		if (moved) {
			err = link_req(nl, RTM_DELLINK, NULL, ++seq);
			if (err && err != -ENODEV)
				pr_warn("couldn't delete %u host veths: %s\n", moved, strerror(-err));
			else
				pr_debug("%u host veths deleted\n", moved);
		}

		/* Dequeue only now so linkdel_pending() counts those in flight. */
		pthread_mutex_lock(&q.lock);
		q.head = (q.head + n) % LINKDEL_QUEUE;
		q.count -= n;
		pthread_mutex_unlock(&q.lock);
	}
	return NULL;
}

/* Start the worker on first use, with a netlink socket of sluiced's netns. */
static int start_locked(void)
{
	struct mnl_socket *nl;
	int err;

	if (q.started)
		return 0;
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(nl);
		return err;
	}
	err = -pthread_create(&q.thread, NULL, worker, nl);
	if (err) {
		mnl_socket_close(nl);
		return err;
	}
	pthread_detach(q.thread);
	q.started = true;
	return 0;
}

int linkdel_queue(const char *ifname)
{
	size_t len = ifname ? strlen(ifname) : 0;
	int err;

	if (len < 3 || len >= IFNAMSIZ || strncmp(ifname, "sl", 2))
		return -EINVAL;
	/* Only a link in our own netns can be deleted by us. */
	if (!if_nametoindex(ifname))
		return -ENODEV;
	pthread_mutex_lock(&q.lock);
	err = start_locked();
	if (!err && q.count == LINKDEL_QUEUE)
		err = -ENOMEM;
	if (!err) {
		memcpy(q.names[(q.head + q.count) % LINKDEL_QUEUE], ifname, len + 1);
		q.count++;
		pthread_cond_signal(&q.wake);
	}
	pthread_mutex_unlock(&q.lock);
	return err;
}

unsigned int linkdel_pending(void)
{
	unsigned int n;

	pthread_mutex_lock(&q.lock);
	n = q.count;
	pthread_mutex_unlock(&q.lock);
	return n;
}
