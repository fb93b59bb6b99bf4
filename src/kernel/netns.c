/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: named network namespaces, compatible with `ip netns`. A named
 * namespace is a bind mount of a namespace file on /run/netns/NAME; the
 * directory itself is made a shared mount point as iproute2 does, so that
 * an unmount in one mount namespace propagates to the others and the
 * namespace can be freed. Nothing is spawned: the calling thread unshares,
 * bind-mounts its own /proc/thread-self/ns/net and goes back with setns().
 * Every function leaves the thread in the namespace it was in; a failure
 * to go back is fatal because everything after it would act on the wrong
 * namespace. This file builds on nl.c (a request socket opened inside a
 * namespace, lo brought up on it) and nl.c knows nothing of namespaces, so
 * the two do not depend on each other both ways. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "kern_priv.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

static void netns_path(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", KERN_NETNS_DIR, name);
}

int knetns_enter(int nsfd, struct kern_error *err, const char *what)
{
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int e = errno;

		kern_errorf(err, "cannot enter network namespace to %s: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

void knetns_leave(int return_fd)
{
	if (setns(return_fd, CLONE_NEWNET) < 0)
		fatal("cannot return to the agent's network namespace: %s", strerror(errno));
}

int knetns_knl_open(struct knl *nl, int nsfd, int return_fd, struct kern_stats *stats,
		    const bool *repairing, struct kern_error *err)
{
	int rc;

	rc = knetns_enter(nsfd, err, "open a netlink socket");
	if (rc < 0)
		return rc;
	rc = knl_open(nl, stats, repairing, err);
	knetns_leave(return_fd);
	return rc;
}

int knetns_open(const char *name, int *nsfd)
{
	char path[sizeof(KERN_NETNS_DIR) + CFG_NS_NAME_MAX + 2];
	struct statfs sfs;
	int fd;

	netns_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A leftover plain file (nothing mounted on it) is not a namespace. */
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return -ENOENT;
	}
	*nsfd = fd;
	return 0;
}

/* iproute2's netns_add(): make /run/netns a shared mount point, bind-mounting
 * it on itself first when it is not one yet. */
static int prepare_dir(struct kern_error *err)
{
	bool made_mount = false;

	if (mkdir(KERN_NETNS_DIR, 0755) < 0 && errno != EEXIST) {
		int e = errno;

		kern_errorf(err, "cannot create %s: %s", KERN_NETNS_DIR, strerror(e));
		return -e;
	}
	while (mount("", KERN_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		int e = errno;

		if (e != EINVAL || made_mount) {
			kern_errorf(err, "cannot make %s a shared mount: %s", KERN_NETNS_DIR,
				    strerror(e));
			return -e;
		}
		if (mount(KERN_NETNS_DIR, KERN_NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0) {
			e = errno;
			kern_errorf(err, "cannot bind-mount %s on itself: %s", KERN_NETNS_DIR,
				    strerror(e));
			return -e;
		}
		made_mount = true;
	}
	return 0;
}

/* Called inside a namespace just made: links created in it later get no
 * IPv6 link-local address (address generation mode "none"; see
 * kreq_veth_add's caller). Best effort: a kernel without IPv6 has no such
 * file, and an address too many is no reason to fail. */
static void default_no_ipv6_ll(const char *name)
{
	static const char path[] = "/proc/sys/net/ipv6/conf/default/addr_gen_mode";
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "1\n", 2) != 2)
		log_debug("namespace %s: cannot write %s: %s", name, path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Brings up lo of the namespace the thread is in, which has just been made
 * (nothing else can have touched it), on a socket opened there and kept in
 * *inside. The thread that makes namespaces does it there, off the thread
 * that configures them. */
static int loopback_up(const char *name, struct knl *inside, struct kern_error *err)
{
	struct kern_error e = {{0}};
	int rc = knl_open(inside, NULL, NULL, &e);

	if (rc == 0)
		rc = kreq_link_set(inside, LOOPBACK_IFINDEX, "lo", &(struct kreq_link){.up = true},
				   &e);
	if (rc < 0) {
		knl_close(inside);
		kern_errorf(err, "in new network namespace %s: %s", name, e.message);
	}
	return rc;
}

/* knetns_create() once /run/netns is ready (prepare_dir()). */
static int create(const char *name, int return_fd, int *nsfd, struct knl *inside,
		  struct kern_error *err)
{
	char path[sizeof(KERN_NETNS_DIR) + CFG_NS_NAME_MAX + 2];
	int fd, rc;

	netns_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0 && errno == EEXIST) {
		/* Only a stale plain file can be here: callers try knetns_open first. */
		umount2(path, MNT_DETACH);
		unlink(path);
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	}
	if (fd < 0) {
		rc = -errno;
		kern_errorf(err, "cannot create %s: %s", path, strerror(-rc));
		return rc;
	}
	close(fd);

	if (unshare(CLONE_NEWNET) < 0) {
		rc = -errno;
		kern_errorf(err, "cannot create network namespace %s: %s", name, strerror(-rc));
		unlink(path);
		return rc;
	}
	rc = loopback_up(name, inside, err);
	if (rc < 0) {
		knetns_leave(return_fd);
		unlink(path);
		return rc;
	}
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		rc = -errno;
		knetns_leave(return_fd);
		knl_close(inside);
		kern_errorf(err, "cannot bind-mount network namespace %s on %s: %s", name, path,
			    strerror(-rc));
		unlink(path);
		return rc;
	}
	default_no_ipv6_ll(name);
	knetns_leave(return_fd);
	rc = knetns_open(name, nsfd);
	if (rc < 0) {
		kern_errorf(err, "cannot open %s after creating it: %s", path, strerror(-rc));
		knl_close(inside);
		return rc;
	}
	return 0;
}

int knetns_create(const char *name, int return_fd, int *nsfd, struct knl *inside,
		  struct kern_error *err)
{
	int rc = prepare_dir(err);

	return rc < 0 ? rc : create(name, return_fd, nsfd, inside, err);
}

int knetns_remove(const char *name, struct kern_error *err)
{
	char path[sizeof(KERN_NETNS_DIR) + CFG_NS_NAME_MAX + 2];
	int rc = 0;

	netns_path(name, path, sizeof(path));
	/* MNT_DETACH: `ip netns exec` shells still inside keep it alive. */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
		rc = -errno;
		kern_errorf(err, "cannot unmount %s: %s", path, strerror(-rc));
		return rc;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		kern_errorf(err, "cannot remove %s: %s", path, strerror(-rc));
	}
	return rc;
}

struct knetns_job {
	char name[CFG_NS_NAME_MAX + 1];
	int rc;
	int fd;
	struct knl inside;
	bool taken;
	struct kern_error err;
};

struct knetns_maker {
	struct kjob job;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	unsigned n, done; /* jobs, and how many of them (the first) are done */
	int return_fd;
	struct knetns_job *jobs;
};

static void maker_run(void *arg)
{
	struct knetns_maker *m = arg;
	struct kern_error dir_err = {{0}};
	int dir_rc = prepare_dir(&dir_err);

	for (unsigned i = 0; i < m->n; i++) {
		struct knetns_job *job = &m->jobs[i];

		/* Only this thread writes a job before done passes it. /run/netns
		 * is made ready once for all of them. */
		if (dir_rc < 0) {
			job->rc = dir_rc;
			job->err = dir_err;
		} else {
			job->rc =
			    create(job->name, m->return_fd, &job->fd, &job->inside, &job->err);
		}
		pthread_mutex_lock(&m->lock);
		m->done = i + 1;
		pthread_cond_signal(&m->done_cond);
		pthread_mutex_unlock(&m->lock);
	}
}

struct knetns_maker *knetns_maker_start(const char *const *names, unsigned n, int return_fd)
{
	struct knetns_maker *m = xcalloc(1, sizeof(*m));

	m->n = n;
	m->return_fd = return_fd;
	m->jobs = xcalloc(n ? n : 1, sizeof(*m->jobs));
	for (unsigned i = 0; i < n; i++) {
		snprintf(m->jobs[i].name, sizeof(m->jobs[i].name), "%s", names[i]);
		m->jobs[i].fd = -1;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->done_cond, NULL);
	kjob_start(&m->job, maker_run, m);
	return m;
}

int knetns_maker_take(struct knetns_maker *m, unsigned i, int *nsfd, struct knl *inside,
		      struct kern_error *err)
{
	struct knetns_job *job = &m->jobs[i];

	pthread_mutex_lock(&m->lock);
	while (m->done <= i)
		pthread_cond_wait(&m->done_cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	job->taken = true;
	if (job->rc < 0) {
		*err = job->err;
		return job->rc;
	}
	*nsfd = job->fd;
	knl_move(inside, &job->inside);
	return 0;
}

void knetns_maker_finish(struct knetns_maker *m)
{
	if (!m)
		return;
	kjob_wait(&m->job);
	for (unsigned i = 0; i < m->n; i++) {
		if (!m->jobs[i].taken && m->jobs[i].rc == 0) {
			close(m->jobs[i].fd);
			knl_close(&m->jobs[i].inside);
		}
	}
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->done_cond);
	free(m->jobs);
	free(m);
}

bool knetns_is_owned(int nsfd, int return_fd, struct kern_stats *stats)
{
	struct kern_error err;
	struct klink eth0;
	struct knl nl;
	bool owned;

	if (knetns_knl_open(&nl, nsfd, return_fd, stats, NULL, &err) < 0)
		return false;
	owned = knl_get_link(&nl, KERN_NS_IFNAME, &eth0, &err) == 0 &&
		strncmp(eth0.alias, KERN_ALIAS_NS, strlen(KERN_ALIAS_NS)) == 0;
	knl_close(&nl);
	return owned;
}

void kern_host_ifname(const char *ns_name, char out[IFNAMSIZ])
{
	size_t len = strlen(ns_name);
	bool valid = len + strlen(KERN_HOST_VETH_PREFIX) < IFNAMSIZ;

	/* The kernel's dev_valid_name() refuses '/', ':' and white space. */
	for (size_t i = 0; valid && i < len; i++)
		if (ns_name[i] == '/' || ns_name[i] == ':' || ns_name[i] <= ' ' ||
		    ns_name[i] == 0x7f)
			valid = false;
	if (valid) {
		snprintf(out, IFNAMSIZ, KERN_HOST_VETH_PREFIX "%s", ns_name);
		return;
	}
	/* FNV-1a: stable across runs and builds, which is all a name needs. */
	uint32_t hash = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		hash ^= (unsigned char)ns_name[i];
		hash *= 16777619u;
	}
	snprintf(out, IFNAMSIZ, KERN_HOST_VETH_PREFIX "%08x", hash);
}

void kern_cni_host_ifname(const struct attachment *cni, char out[IFNAMSIZ])
{
	/* FNV-1a 64 of "ID/IFNAME", 48 bits of it: "nsc" and 12 hex digits
	 * fill IFNAMSIZ exactly, and two of a node's few hundred attachments
	 * share one with a chance under 1e-9 (validate_topology refuses it). */
	uint64_t hash = 14695981039346656037ull;
	const char *parts[] = {cni->container_id, "/", cni->ifname};

	for (unsigned p = 0; p < 3; p++) {
		for (const char *c = parts[p]; *c; c++) {
			hash ^= (unsigned char)*c;
			hash *= 1099511628211ull;
		}
	}
	snprintf(out, IFNAMSIZ, KERN_HOST_CNI_PREFIX "%012llx",
		 (unsigned long long)(hash & 0xffffffffffffull));
}

bool kern_is_cni_host_end(const struct klink *l)
{
	return strncmp(l->alias, KERN_ALIAS_CNI, strlen(KERN_ALIAS_CNI)) == 0 &&
	       strcmp(l->kind, "veth") == 0;
}

/* Opens path and checks that it is a network namespace; *st is its
 * identity. */
static int open_netns_file(const char *path, int *nsfd, struct stat *st)
{
	struct statfs sfs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno ? -errno : -EIO;
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC || fstat(fd, st) < 0 ||
	    ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return -EINVAL;
	}
	*nsfd = fd;
	return 0;
}

int kern_netns_identity(const char *path, uint64_t *dev, uint64_t *ino, struct kern_error *err)
{
	struct stat st = {0};
	int fd = -1, rc = open_netns_file(path, &fd, &st);

	if (rc < 0) {
		kern_errorf(err, "%s %s", path,
			    rc == -EINVAL ? "is not a network namespace" : strerror(-rc));
		return rc;
	}
	close(fd);
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

int knetns_open_attachment(const struct attachment *cni, int *nsfd)
{
	struct stat st = {0};
	int fd = -1, rc = open_netns_file(cni->netns, &fd, &st);

	if (rc < 0)
		return rc == -EINVAL ? -ESTALE : rc;
	if ((uint64_t)st.st_dev != cni->netns_dev || (uint64_t)st.st_ino != cni->netns_ino) {
		close(fd);
		return -ESTALE;
	}
	*nsfd = fd;
	return 0;
}

const char *kern_host_end_of(const struct klink *l)
{
	if (strncmp(l->alias, KERN_ALIAS_NS, strlen(KERN_ALIAS_NS)) != 0 ||
	    strcmp(l->kind, "veth") != 0)
		return NULL;
	return l->alias + strlen(KERN_ALIAS_NS);
}
