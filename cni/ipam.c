// SPDX-License-Identifier: Apache-2.0
/* IPAM: the built-in file-backed allocator and delegation to an IPAM plugin.
 *
 * Built-in layout, one directory per network: <stateDir>/ipam/<name>/
 *   lock                 flock(LOCK_EX) for the whole of every operation,
 *                        so concurrent plugin processes serialise
 *   last_reserved_ip.0   the address handed out last: the next search starts
 *                        after it, so released addresses come back last
 *                        (host-local's round-robin)
 *   <ip>                 one file per lease: "containerID\nifname\n"
 *                        (created O_EXCL: the file is the reservation)
 *   lease-<16 hex>       symlink -> <ip>, keyed by sha256(containerID/ifname),
 *                        so ADD-again and DEL find the lease in one syscall
 * Everything is plain files, so leases survive plugin and node restarts. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni.h"
#include "log.h"

extern char **environ;

#define CURSOR_FILE "last_reserved_ip.0"

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

int cni_ipam_open(struct cni_ipam *p, const char *state_dir, const char *network,
		  const struct sl_cidr *cidr, struct cni_err *e)
{
	char path[4096];
	uint32_t net, size;
	int err;

	memset(p, 0, sizeof(*p));
	p->dirfd = p->lockfd = -1;
	p->network = network;
	if (cidr) {
		p->cidr = *cidr;
		if (cidr->family != SL_AF_INET || cidr->plen > 30 || cidr->plen < 8)
			return cni_fail(e, SL_CNI_ERR_IPAM, -EINVAL,
					"IPAM needs an IPv4 pod CIDR between /8 and /30");
		net = ntohl(cidr->addr.v4);
		size = 1u << (32 - cidr->plen);
		/* network, gateway (first address) and broadcast are never leased */
		p->gw = net + 1;
		p->first = net + 2;
		p->last = net + size - 2;
	}
	if (snprintf(path, sizeof(path), "%s/ipam/%s", state_dir, network) >= (int)sizeof(path))
		return cni_fail(e, SL_CNI_ERR_IPAM, -ENAMETOOLONG, "IPAM state dir path too long");
	err = mkdir_p(path);
	if (err)
		return cni_fail(e, SL_CNI_ERR_IPAM, err, "couldn't create IPAM dir %s", path);
	p->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0)
		return cni_fail(e, SL_CNI_ERR_IPAM, -errno, "couldn't open IPAM dir %s", path);
	p->lockfd = openat(p->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lockfd < 0) {
		err = cni_fail(e, SL_CNI_ERR_IPAM, -errno, "couldn't open %s/lock", path);
		goto fail;
	}
	while (flock(p->lockfd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		err = cni_fail(e, SL_CNI_ERR_IPAM, -errno, "couldn't lock %s/lock", path);
		goto fail;
	}
	return 0;
fail:
	cni_ipam_close(p);
	return err;
}

void cni_ipam_close(struct cni_ipam *p)
{
	if (p->lockfd >= 0)
		close(p->lockfd); /* drops the flock */
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->lockfd = p->dirfd = -1;
}

static void lease_key(const char *cid, const char *ifname, char *buf, size_t len)
{
	size_t a = strlen(cid), b = strlen(ifname);
	char in[a + b + 2];
	uint8_t h[32];

	memcpy(in, cid, a);
	in[a] = '/';
	memcpy(in + a + 1, ifname, b);
	sl_sha256(in, a + b + 1, h);
	snprintf(buf, len, "lease-%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
		 h[5], h[6], h[7]);
}

/* Read a lease file's owner. Returns 0, -ENOENT or -EBADMSG. */
static int read_owner(int dirfd, const char *ip, char *cid, size_t cidlen, char *ifn, size_t iflen)
{
	char buf[512], *nl, *nl2;
	ssize_t n;
	int fd = openat(dirfd, ip, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (!nl)
		return -EBADMSG;
	*nl = '\0';
	nl2 = strchr(nl + 1, '\n');
	if (nl2)
		*nl2 = '\0';
	if (strlen(buf) >= cidlen || strlen(nl + 1) >= iflen)
		return -EBADMSG;
	strcpy(cid, buf);
	strcpy(ifn, nl + 1);
	return 0;
}

static bool owner_is(int dirfd, const char *ip, const char *cid, const char *ifname)
{
	char c[256], i[64];

	return !read_owner(dirfd, ip, c, sizeof(c), i, sizeof(i)) && !strcmp(c, cid) &&
	       !strcmp(i, ifname);
}

static bool ip_name(const char *name, uint32_t *host)
{
	struct in_addr a;

	if (inet_pton(AF_INET, name, &a) != 1)
		return false;
	*host = ntohl(a.s_addr);
	return true;
}

static int write_file(int dirfd, const char *name, const char *data, int flags)
{
	size_t n = strlen(data);
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, data, n) != (ssize_t)n)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

static void range_str(const struct cni_ipam *p, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[SL_ADDR_STRLEN + 4];
	struct in_addr x = {htonl(p->first)}, y = {htonl(p->last)};

	inet_ntop(AF_INET, &x, a, sizeof(a));
	inet_ntop(AF_INET, &y, b, sizeof(b));
	snprintf(buf, len, "%s-%s (%s)", a, b, sl_cidr_str(&p->cidr, c, sizeof(c)));
}

int cni_ipam_alloc(struct cni_ipam *p, const char *cid, const char *ifname, union sl_addr *out,
		   bool *existed, struct cni_err *e)
{
	char key[32], target[64], owner[512], rng[128];
	uint32_t n = p->last - p->first + 1, start = p->first, cur;
	ssize_t l;
	int err;

	*existed = false;
	memset(out, 0, sizeof(*out));
	lease_key(cid, ifname, key, sizeof(key));
	l = readlinkat(p->dirfd, key, target, sizeof(target) - 1);
	if (l > 0) {
		target[l] = '\0';
		if (owner_is(p->dirfd, target, cid, ifname) && ip_name(target, &cur)) {
			out->v4 = htonl(cur);
			*existed = true;
			return 0;
		}
		unlinkat(p->dirfd, key, 0); /* stale index entry */
	}

	l = 0;
	{
		int fd = openat(p->dirfd, CURSOR_FILE, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			l = read(fd, target, sizeof(target) - 1);
			close(fd);
		}
	}
	if (l > 0) {
		target[l] = '\0';
		target[strcspn(target, "\r\n")] = '\0';
		if (ip_name(target, &cur) && cur >= p->first && cur < p->last)
			start = cur + 1;
	}

	snprintf(owner, sizeof(owner), "%s\n%s\n", cid, ifname);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t cand = p->first + (start - p->first + i) % n;
		struct in_addr a = {htonl(cand)};

		inet_ntop(AF_INET, &a, target, sizeof(target));
		err = write_file(p->dirfd, target, owner, O_EXCL);
		if (err == -EEXIST)
			continue;
		if (err) {
			unlinkat(p->dirfd, target, 0);
			return cni_fail(e, SL_CNI_ERR_IPAM, err, "couldn't write lease %s", target);
		}
		err = write_file(p->dirfd, CURSOR_FILE, target, O_TRUNC);
		if (!err && symlinkat(target, p->dirfd, key) < 0)
			err = -errno;
		if (err) {
			unlinkat(p->dirfd, target, 0);
			return cni_fail(e, SL_CNI_ERR_IPAM, err, "couldn't record lease %s",
					target);
		}
		out->v4 = a.s_addr;
		return 0;
	}
	range_str(p, rng, sizeof(rng));
	return cni_fail(e, SL_CNI_ERR_IPAM_EXHAUSTED, -ENOSPC,
			"no free address in %s for network %s: all %u addresses are leased", rng,
			p->network, n);
}

struct release_ctx {
	const char *cid, *ifname;
	int found;
};

static int release_match(struct cni_ipam *p, const char *ip, const char *cid, const char *ifname,
			 void *arg)
{
	struct release_ctx *r = arg;

	if (strcmp(cid, r->cid) || strcmp(ifname, r->ifname))
		return 0;
	r->found++;
	return cni_ipam_release_ip(p, ip);
}

int cni_ipam_release(struct cni_ipam *p, const char *cid, const char *ifname, struct cni_err *e)
{
	char key[32], target[64];
	ssize_t l;
	int err;

	lease_key(cid, ifname, key, sizeof(key));
	l = readlinkat(p->dirfd, key, target, sizeof(target) - 1);
	if (l > 0) {
		target[l] = '\0';
		if (owner_is(p->dirfd, target, cid, ifname) && unlinkat(p->dirfd, target, 0) < 0 &&
		    errno != ENOENT)
			return cni_fail(e, SL_CNI_ERR_IPAM, -errno, "couldn't release lease %s",
					target);
		if (unlinkat(p->dirfd, key, 0) < 0 && errno != ENOENT)
			return cni_fail(e, SL_CNI_ERR_IPAM, -errno,
					"couldn't remove lease index %s", key);
		return 0;
	}
	/* No index (a crash between the two writes of alloc): scan. */
	struct release_ctx r = {cid, ifname, 0};

	err = cni_ipam_foreach(p, release_match, &r);
	if (err)
		return cni_fail(e, SL_CNI_ERR_IPAM, err, "couldn't release the lease of %s/%s", cid,
				ifname);
	return 0;
}

int cni_ipam_release_ip(struct cni_ipam *p, const char *ip)
{
	char cid[256], ifn[64], key[32];

	if (!read_owner(p->dirfd, ip, cid, sizeof(cid), ifn, sizeof(ifn))) {
		char target[64];
		ssize_t l;

		lease_key(cid, ifn, key, sizeof(key));
		l = readlinkat(p->dirfd, key, target, sizeof(target) - 1);
		if (l > 0 && (target[l] = '\0', !strcmp(target, ip)))
			unlinkat(p->dirfd, key, 0);
	}
	if (unlinkat(p->dirfd, ip, 0) < 0 && errno != ENOENT) {
		int err = -errno;

		pr_warn("couldn't release lease %s: %s\n", ip, strerror(errno));
		return err;
	}
	return 0;
}

int cni_ipam_foreach(struct cni_ipam *p, cni_lease_fn fn, void *arg)
{
	int fd = dup(p->dirfd), err = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		char cid[256], ifn[64];
		uint32_t h;

		if (!ip_name(de->d_name, &h))
			continue;
		if (read_owner(p->dirfd, de->d_name, cid, sizeof(cid), ifn, sizeof(ifn)))
			continue;
		err = fn(p, de->d_name, cid, ifn, arg);
		if (err)
			break;
	}
	closedir(d);
	return err;
}

struct usage_ctx {
	uint32_t used;
};

static int count_lease(struct cni_ipam *p, const char *ip, const char *cid, const char *ifname,
		       void *arg)
{
	struct usage_ctx *u = arg;
	uint32_t h;

	(void)cid, (void)ifname;
	if (ip_name(ip, &h) && h >= p->first && h <= p->last)
		u->used++;
	return 0;
}

int cni_ipam_usage(struct cni_ipam *p, uint32_t *used, uint32_t *size)
{
	struct usage_ctx u = {0};
	int err = cni_ipam_foreach(p, count_lease, &u);

	*used = u.used;
	*size = p->last - p->first + 1;
	return err;
}

/* ---- delegation --------------------------------------------------------- */

static int find_plugin(const char *cni_path, const char *type, char *out, size_t len)
{
	const char *p = cni_path;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n && snprintf(out, len, "%.*s/%s", (int)n, p, type) < (int)len &&
		    !access(out, X_OK))
			return 0;
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

/* Does the environment entry e set one of the keys in set ("K=V")? */
static bool overridden(const char *e, const char *const *set)
{
	for (; set && *set; set++) {
		size_t k = strcspn(*set, "=");

		if (!strncmp(e, *set, k + 1))
			return true;
	}
	return false;
}

/* Run path with the environment entries in set ("K=V", NULL-terminated)
 * replacing ours, feed in, collect stdout. Returns 0 or -errno; *status is
 * the wait status. */
static int run_plugin(const char *path, const char *const *set, const char *in, size_t inlen,
		      char **out, size_t *outlen, int *status)
{
	posix_spawn_file_actions_t fa;
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, err = 0;
	char *argv[] = {(char *)path, NULL}, **envp;
	size_t cap = 4096, len = 0, nenv = 0, nset = 0, j = 0;
	char *buf = NULL;
	pid_t pid;

	*out = NULL;
	*outlen = 0;
	while (environ[nenv])
		nenv++;
	while (set && set[nset])
		nset++;
	envp = calloc(nenv + nset + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < nenv; i++)
		if (!overridden(environ[i], set))
			envp[j++] = environ[i];
	for (size_t i = 0; i < nset; i++)
		envp[j++] = (char *)set[i];
	envp[j] = NULL;
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	err = -posix_spawn(&pid, path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		goto out;
	close(pin[0]);
	close(pout[1]);
	pin[0] = pout[1] = -1;
	/* Plugins read all of stdin before writing, so write, then read. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t off = 0; off < inlen;) {
		ssize_t w = write(pin[1], in + off, inlen - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			break; /* the plugin exited early: its status says why */
		}
		off += (size_t)w;
	}
	close(pin[1]);
	pin[1] = -1;
	buf = malloc(cap);
	for (;;) {
		ssize_t r;

		if (!buf) {
			err = -ENOMEM;
			break;
		}
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(pout[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			err = -errno;
			break;
		}
	}
	if (!err) {
		buf[len] = '\0';
		*out = buf;
		*outlen = len;
		buf = NULL;
	}
out:
	free(buf);
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
	}
	free(envp);
	return err;
}

int cni_ipam_exec_env(const struct cni_conf *conf, const char *cni_path, const char *const *set,
		      const char *stdin_buf, size_t stdin_len, json_t **result, struct cni_err *e)
{
	char path[4096], *out = NULL, *downgraded = NULL;
	const char *verb = getenv("CNI_COMMAND");
	size_t outlen;
	int status, err;
	json_t *j = NULL;

	for (const char *const *p = set; p && *p; p++)
		if (!strncmp(*p, "CNI_COMMAND=", 12))
			verb = *p + 12;
	if (!verb)
		verb = "?";
	if (result)
		*result = NULL;
	if (find_plugin(cni_path, conf->ipam_type, path, sizeof(path)))
		return cni_fail(e, SL_CNI_ERR_DELEGATE, -ENOENT,
				"IPAM plugin %s not found in CNI_PATH %s", conf->ipam_type,
				cni_path ? cni_path : "(unset)");
	for (int attempt = 0;; attempt++) {
		err = run_plugin(path, set, stdin_buf, stdin_len, &out, &outlen, &status);
		if (err) {
			err = cni_fail(e, SL_CNI_ERR_DELEGATE, err, "couldn't run IPAM plugin %s",
				       path);
			goto out;
		}
		j = outlen ? json_loadb(out, outlen, 0, NULL) : NULL;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			break;
		/* Plugins built on an older libcni (Debian's 1.1.1 speaks up to
		 * 1.0.0) refuse 1.1.0; the result format did not change, so ask
		 * again in 1.0.0. */
		if (!attempt && conf->ver == CNI_V110 &&
		    json_integer_value(json_object_get(j, "code")) == CNI_ERR_INCOMPATIBLE) {
			json_t *copy = json_copy(conf->root);

			json_object_set_new(copy, "cniVersion", json_string("1.0.0"));
			downgraded = json_dumps(copy, JSON_COMPACT);
			json_decref(copy);
			if (!downgraded) {
				err = cni_fail(e, SL_CNI_ERR_INTERNAL, -ENOMEM, "out of memory");
				goto out;
			}
			stdin_buf = downgraded;
			stdin_len = strlen(downgraded);
			json_decref(j);
			j = NULL;
			free(out);
			out = NULL;
			continue;
		}
		if (json_is_integer(json_object_get(j, "code"))) {
			const char *m = json_string_value(json_object_get(j, "msg"));
			const char *d = json_string_value(json_object_get(j, "details"));

			err = cni_fail(e, (int)json_integer_value(json_object_get(j, "code")), 0,
				       "IPAM plugin %s %s failed: %s", conf->ipam_type, verb,
				       m ? m : "");
			if (d && e->code && !e->details[0])
				snprintf(e->details, sizeof(e->details), "%s", d);
		} else {
			err = cni_fail(
			    e, SL_CNI_ERR_DELEGATE, 0,
			    "IPAM plugin %s %s failed (status %d): %.200s", conf->ipam_type, verb,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1, out ? out : "");
		}
		goto out;
	}
	if (result) {
		if (!j && strcmp(verb, "DEL") && strcmp(verb, "GC") && strcmp(verb, "STATUS")) {
			err = cni_fail(e, SL_CNI_ERR_DELEGATE, 0,
				       "IPAM plugin %s returned no JSON result", conf->ipam_type);
			goto out;
		}
		*result = j;
		j = NULL;
	}
out:
	json_decref(j);
	free(out);
	free(downgraded);
	return err;
}

int cni_ipam_exec(const struct cni_conf *conf, const char *cni_path, const char *command,
		  const char *stdin_buf, size_t stdin_len, json_t **result, struct cni_err *e)
{
	char cmd[32];
	const char *set[] = {cmd, NULL};

	snprintf(cmd, sizeof(cmd), "CNI_COMMAND=%s", command ? command : "");
	return cni_ipam_exec_env(conf, cni_path, command ? set : NULL, stdin_buf, stdin_len, result,
				 e);
}

int cni_ipam_supports(const struct cni_conf *conf, const char *cni_path, int ver)
{
	const char *set[] = {"CNI_COMMAND=VERSION", NULL};
	struct cni_err e = {0};
	json_t *r = NULL, *it;
	char in[64];
	size_t i;
	int found = 0;

	snprintf(in, sizeof(in), "{\"cniVersion\":\"%s\"}", cni_versions[ver]);
	if (cni_ipam_exec_env(conf, cni_path, set, in, strlen(in), &r, &e))
		return 0;
	json_array_foreach(json_object_get(r, "supportedVersions"), i,
			   it) if (json_is_string(it) &&
				   !strcmp(json_string_value(it), cni_versions[ver])) found = 1;
	json_decref(r);
	return found;
}

int cni_ipam_result_ip(const json_t *result, struct sl_cidr *ip, bool *has_gw, union sl_addr *gw,
		       struct cni_err *e)
{
	json_t *ips = json_object_get(result, "ips"), *it;
	size_t i;

	*has_gw = false;
	json_array_foreach(ips, i, it)
	{
		const char *a = json_string_value(json_object_get(it, "address"));
		const char *g = json_string_value(json_object_get(it, "gateway"));
		__u8 fam;

		if (!a || cni_addr_prefix_parse(a, ip) || ip->family != SL_AF_INET)
			continue;
		if (g && !sl_addr_parse(g, gw, &fam) && fam == SL_AF_INET)
			*has_gw = true;
		return 0;
	}
	return cni_fail(e, SL_CNI_ERR_DELEGATE, 0, "IPAM result has no IPv4 address");
}
