/* SPDX-License-Identifier: Apache-2.0 */
/* lib/attach.c on a real veth pair in the test's own network namespace:
 * tcx and tc attachment, in-place replacement of an earlier version,
 * moving between the two interfaces, and other programs left alone. The
 * programs are stand-ins with the pod programs' names
 * (attach_progs.bpf.c). Needs root; the tcx cases need Linux 6.6+. */
#include "dp_test.h"
#include "attach.h"
#include "attach_progs.skel.h"

static struct attach_progs *v1, *v2;
static int ifindex;

static void setup(void)
{
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s (needs root)", strerror(errno));
	cr_assert_eq(system("ip link add hv type veth peer name pv && ip link set hv up && "
			    "ip link set pv up"),
		     0, "veth pair");
	ifindex = (int)if_nametoindex("hv");
	cr_assert_gt(ifindex, 0);
	v1 = attach_progs__open_and_load();
	v2 = attach_progs__open_and_load();
	cr_assert(v1 && v2, "load attach_progs: %s", strerror(errno));
}

static void teardown(void)
{
	/* The netns, the veths and their attachments go with the process. */
	attach_progs__destroy(v1);
	attach_progs__destroy(v2);
}

TestSuite(attach, .init = setup, .fini = teardown, .timeout = 30);

static uint32_t id_of(struct bpf_program *p)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);

	cr_assert_eq(bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len), 0);
	return info.id;
}

static void need_tcx(void)
{
	if (!sl_tcx_supported())
		cr_skip_test("this kernel has no tcx (Linux 6.6+): tc only");
}

static void attach_ok(struct bpf_program *p, bool ingress, enum sl_attach_mode m)
{
	const char *what = NULL;
	int r = sl_attach(ifindex, ingress, bpf_program__fd(p), m, &what);

	cr_assert_eq(r, 0, "attach %s via %s: couldn't %s: %s", bpf_program__name(p),
		     sl_attach_mode_name(m), what, strerror(-r));
}

/* Asserts that the program called name runs at the hook through m, with
 * the id of p. */
static void expect_at(const char *name, bool ingress, enum sl_attach_mode m,
		      struct bpf_program *p)
{
	enum sl_attach_mode got = 99;
	uint32_t id = 0;

	cr_assert_eq(sl_attached(ifindex, ingress, name, &id, &got), 1, "%s attached", name);
	cr_expect_eq(got, m, "%s via %s, wanted %s", name, sl_attach_mode_name(got),
		     sl_attach_mode_name(m));
	cr_expect_eq(id, id_of(p), "%s has id %u, wanted %u", name, id, id_of(p));
}

/* What tc itself lists at the hook (the operator's view of tc mode). */
static const char *tc_lists(char *buf, size_t sz, bool ingress)
{
	FILE *f = popen(ingress ? "tc filter show dev hv ingress 2>/dev/null"
				: "tc filter show dev hv egress 2>/dev/null",
			"r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, sz - 1, f);
	buf[n] = 0;
	pclose(f);
	return buf;
}

Test(attach, mode_names)
{
	enum sl_attach_mode m = SL_ATTACH_TCX;

	cr_expect_eq(sl_attach_mode_parse("tc", &m), 0);
	cr_expect_eq(m, SL_ATTACH_TC);
	cr_expect_eq(sl_attach_mode_parse("tcx", &m), 0);
	cr_expect_eq(m, SL_ATTACH_TCX);
	cr_expect_eq(sl_attach_mode_parse("auto", &m), -EINVAL);
	cr_expect_eq(sl_attach_mode_parse("xdp", &m), -EINVAL);
	cr_expect_eq(sl_attach_mode_parse("", &m), -EINVAL);
	cr_expect_str_eq(sl_attach_mode_name(SL_ATTACH_TC), "tc");
	cr_expect_str_eq(sl_attach_mode_name(SL_ATTACH_TCX), "tcx");
}

Test(attach, nothing_attached)
{
	enum sl_attach_mode m;
	uint32_t id;

	cr_expect_eq(sl_attached(ifindex, true, "from_pod", &id, &m), 0);
	cr_expect_eq(sl_attached(ifindex, false, "to_pod", &id, &m), 0);
}

Test(attach, tc_attach_replace_and_repeat)
{
	char buf[1024], want[32], old[32];

	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TC);
	expect_at("from_pod", true, SL_ATTACH_TC, v1->progs.from_pod);
	cr_expect(strstr(tc_lists(buf, sizeof(buf), true), "from_pod"), "tc lists it: %s", buf);
	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TC); /* again: no error, no change */
	expect_at("from_pod", true, SL_ATTACH_TC, v1->progs.from_pod);
	attach_ok(v2->progs.from_pod, true, SL_ATTACH_TC);
	expect_at("from_pod", true, SL_ATTACH_TC, v2->progs.from_pod);
	snprintf(want, sizeof(want), " id %u ", id_of(v2->progs.from_pod));
	snprintf(old, sizeof(old), " id %u ", id_of(v1->progs.from_pod));
	tc_lists(buf, sizeof(buf), true);
	cr_expect(strstr(buf, want) && !strstr(buf, old), "one filter, the new one: %s", buf);
}

Test(attach, tcx_attach_replace_and_repeat)
{
	char buf[1024];

	need_tcx();
	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TCX);
	expect_at("from_pod", true, SL_ATTACH_TCX, v1->progs.from_pod);
	cr_expect_str_eq(tc_lists(buf, sizeof(buf), true), "", "no tc filter: %s", buf);
	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TCX); /* again: not EEXIST */
	expect_at("from_pod", true, SL_ATTACH_TCX, v1->progs.from_pod);
	/* A new version replaces the old one in place: were both there, the
	 * older (first in the list) would be found. */
	attach_ok(v2->progs.from_pod, true, SL_ATTACH_TCX);
	expect_at("from_pod", true, SL_ATTACH_TCX, v2->progs.from_pod);
}

Test(attach, tc_to_tcx_and_back)
{
	char buf[1024];

	need_tcx();
	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TC);
	attach_ok(v2->progs.from_pod, true, SL_ATTACH_TCX);
	expect_at("from_pod", true, SL_ATTACH_TCX, v2->progs.from_pod);
	cr_expect_str_eq(tc_lists(buf, sizeof(buf), true), "", "tc filter removed: %s", buf);

	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TC);
	expect_at("from_pod", true, SL_ATTACH_TC, v1->progs.from_pod);
	/* Nothing of ours left at tcx: a tcx program would be found first. */
	cr_expect(strstr(tc_lists(buf, sizeof(buf), true), "from_pod"), "tc lists it: %s", buf);
}

Test(attach, directions_are_separate)
{
	need_tcx();
	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TCX);
	attach_ok(v1->progs.to_pod, false, SL_ATTACH_TC);
	expect_at("from_pod", true, SL_ATTACH_TCX, v1->progs.from_pod);
	expect_at("to_pod", false, SL_ATTACH_TC, v1->progs.to_pod);
	attach_ok(v2->progs.to_pod, false, SL_ATTACH_TCX);
	expect_at("to_pod", false, SL_ATTACH_TCX, v2->progs.to_pod);
	expect_at("from_pod", true, SL_ATTACH_TCX, v1->progs.from_pod);
}

Test(attach, other_programs_are_left_alone)
{
	need_tcx();
	attach_ok(v1->progs.foreign, true, SL_ATTACH_TCX);
	attach_ok(v1->progs.from_pod, true, SL_ATTACH_TCX);
	attach_ok(v2->progs.from_pod, true, SL_ATTACH_TCX);
	attach_ok(v2->progs.from_pod, true, SL_ATTACH_TC); /* moved away from tcx */
	expect_at("foreign", true, SL_ATTACH_TCX, v1->progs.foreign);
	expect_at("from_pod", true, SL_ATTACH_TC, v2->progs.from_pod);
}

Test(attach, missing_device_is_an_error)
{
	const char *what = NULL;

	cr_expect_lt(sl_attach(999999, true, bpf_program__fd(v1->progs.from_pod), SL_ATTACH_TC,
			       &what),
		     0);
	cr_expect_not_null(what);
	if (sl_tcx_supported()) {
		what = NULL;
		cr_expect_lt(sl_attach(999999, true, bpf_program__fd(v1->progs.from_pod),
				       SL_ATTACH_TCX, &what),
			     0);
		cr_expect_not_null(what);
	}
}
