/* The kernel floor for bench_bringup.sh: the least work that gives N named
 * network namespaces, each joined to the current namespace by a veth pair,
 * and the least work that removes them again. Nothing else (no bridge,
 * addresses, routes, links up): whatever nsagent does beyond this is
 * overhead the benchmark measures against it.
 *
 *   floor up PREFIX N     namespaces PREFIX0..PREFIX(N-1) (named as
 *                         `ip netns add` does: a bind mount on
 *                         /run/netns/NAME) and veths nsa-NAME <-> eth0
 *   floor down PREFIX N   unmount and unlink the named namespaces; the
 *                         kernel then frees them and their veths
 *
 * Raw rtnetlink through libmnl, with the same veth attributes nsagent
 * sends (IFLA_NUM_TX/RX_QUEUES = 1, which spares two RCU grace periods per
 * pair): the veth requests are sent as batches of up
 * to BATCH messages per sendmsg, and their acks read afterwards. Run it
 * only inside a throwaway network namespace with a private /run (a lab
 * host): it never leaves that namespace. Exit status 0 or 1 with a message
 * on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#define NETNS_DIR "/run/netns"
#define BATCH 64

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* iproute2's netns_add(): /run/netns becomes a shared mount point so that an
 * unmount propagates and the namespace can be freed. */
static void prepare_dir(void)
{
	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST)
		die("mkdir " NETNS_DIR);
	if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return;
	if (errno != EINVAL)
		die("mount --make-shared " NETNS_DIR);
	if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
	    mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		die("bind-mount " NETNS_DIR);
}

/* Creates the named namespace and returns an fd on it; the thread is back
 * in home when it returns. */
static int netns_add(const char *name, int home)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		die(path);
	close(fd);
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET)");
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
		die("bind-mount the new namespace");
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open the new namespace");
	if (setns(home, CLONE_NEWNET) < 0)
		die("setns back");
	return fd;
}

/* RTM_NEWLINK nsa-NAME type veth peer eth0 in the namespace nsfd. */
static void put_veth(char *buf, const char *name, int nsfd, unsigned seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *linkinfo, *data, *peer;
	char host[IFNAMSIZ];

	snprintf(host, sizeof(host), "nsa-%.11s", name);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
	/* One queue each, said explicitly: otherwise veth_init_queues() trims
	 * the per-CPU default down to one with synchronize_net() per end. */
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
}

static void read_acks(struct mnl_socket *nl, unsigned first, unsigned n)
{
	static char buf[65536];

	while (n > 0) {
		ssize_t got = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		int len = (int)got;

		if (got < 0)
			die("netlink recv");
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < first)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (e->error) {
				errno = -e->error;
				die("create veth");
			}
			n--;
		}
	}
}

static int up(const char *prefix, unsigned n)
{
	static char batch[BATCH * 512];
	struct mnl_socket *nl;
	int home, *fds;
	unsigned i, seq = (unsigned)time(NULL);

	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		die("open the current namespace");
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("netlink socket");
	fds = calloc(n ? n : 1, sizeof(*fds));
	if (!fds)
		die("calloc");
	prepare_dir();
	for (i = 0; i < n; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s%u", prefix, i);
		fds[i] = netns_add(name, home);
	}
	for (i = 0; i < n;) {
		unsigned first = seq, k;
		size_t off = 0;

		for (k = 0; k < BATCH && i < n; k++, i++) {
			char name[64];

			snprintf(name, sizeof(name), "%s%u", prefix, i);
			put_veth(batch + off, name, fds[i], seq++);
			off += ((struct nlmsghdr *)(batch + off))->nlmsg_len;
		}
		if (mnl_socket_sendto(nl, batch, off) < 0)
			die("netlink send");
		read_acks(nl, first, k);
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	mnl_socket_close(nl);
	close(home);
	return 0;
}

static int down(const char *prefix, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char path[256];

		snprintf(path, sizeof(path), NETNS_DIR "/%s%u", prefix, i);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			die(path);
		if (unlink(path) < 0 && errno != ENOENT)
			die(path);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	unsigned long n;

	if (argc != 4 || (strcmp(argv[1], "up") != 0 && strcmp(argv[1], "down") != 0)) {
		fprintf(stderr, "usage: floor up|down PREFIX N\n");
		return 2;
	}
	n = strtoul(argv[3], &end, 10);
	if (*end || n > 4096 || strlen(argv[2]) > 6) {
		fprintf(stderr, "floor: bad N or PREFIX\n");
		return 2;
	}
	return strcmp(argv[1], "up") == 0 ? up(argv[2], (unsigned)n) : down(argv[2], (unsigned)n);
}
