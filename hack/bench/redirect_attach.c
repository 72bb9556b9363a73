// SPDX-License-Identifier: Apache-2.0
/* redirect_attach DEV PEER MODE: loads the one-line bench_redirect program
 * (tests/datapath/bench_redirect.bpf.c) aimed at host veth PEER and
 * attaches it to DEV's ingress through MODE (tc or tcx), as sluiced would
 * attach from_pod; the attachment outlives this process. For hack/bench.sh:
 * the kernel path alone, to measure Sluice against. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "bench_redirect.skel.h"

int main(int argc, char **argv)
{
	unsigned int dev, peer;
	enum sl_attach_mode mode;
	struct bench_redirect *skel;
	const char *what = "";
	int err;

	if (argc != 4 || sl_attach_mode_parse(argv[3], &mode)) {
		fprintf(stderr, "usage: redirect_attach DEV PEER tc|tcx\n");
		return 2;
	}
	dev = if_nametoindex(argv[1]);
	peer = if_nametoindex(argv[2]);
	if (!dev || !peer) {
		fprintf(stderr, "redirect_attach: no device %s\n", dev ? argv[2] : argv[1]);
		return 1;
	}
	libbpf_set_print(NULL); /* a missing clsact qdisc is no news: errors are ours to say */
	skel = bench_redirect__open();
	if (!skel) {
		fprintf(stderr, "redirect_attach: open: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->peer_ifindex = peer;
	err = bench_redirect__load(skel);
	if (!err)
		err = sl_attach((int)dev, true, bpf_program__fd(skel->progs.bench_redirect), mode,
				&what);
	if (err)
		fprintf(stderr, "redirect_attach: %s: couldn't %s: %s\n", argv[1],
			err && *what ? what : "load", strerror(-err));
	bench_redirect__destroy(skel);
	return err ? 1 : 0;
}
