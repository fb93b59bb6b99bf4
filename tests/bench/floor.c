/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel floors for bench_bringup.sh: the least work that gives N named
 * network namespaces joined to the current namespace, and the least work
 * that removes them again.
 *
 *   floor up PREFIX N     namespaces PREFIX0..PREFIX(N-1) (named as
 *                         `ip netns add` does: a bind mount on
 *                         /run/netns/NAME) and veths nsa-NAME <-> eth0.
 *                         Nothing else (no bridge, addresses, routes, links
 *                         up): the floor the target is set against.
 *   floor down PREFIX N   unmount and unlink the named namespaces; the
 *                         kernel then frees them and their veths
 *   floor topo-up PREFIX N
 *                         the whole local topology of DESIGN.md, as cheaply
 *                         as the kernel allows it: the above plus ip_forward,
 *                         bridge br0 (fixed MAC, up, 172.16.0.1), host ends
 *                         enslaved and up, lo and eth0 up, eth0's address
 *                         (172.16.0.2 on), default route via the bridge; no
 *                         IPv6 link-local addresses (as nsagent: see
 *                         reconcile_ns). The subnet is a /24, or a /23 when
 *                         N > 253. What nsagent spends beyond this is the
 *                         agent's own cost; what this spends beyond `up` is
 *                         the topology's.
 *   floor topo-down PREFIX N
 *                         the bridge and the host ends in one request (they
 *                         share a device group), then the namespaces
 *
 * Raw rtnetlink through libmnl, with the same veth attributes nsagent
 * sends (IFLA_NUM_TX/RX_QUEUES = 1, which spares two RCU grace periods per
 * pair): requests of one kind are sent as batches of up to BATCH messages
 * per sendmsg, and their acks read afterwards; each namespace's inside is
 * one batch on a socket opened in it while it was being made. Run it only
 * inside a throwaway network namespace with a private /run (a lab host): it
 * never leaves that namespace. Exit status 0 or 1 with a message on
 * stderr. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>

#ifndef IFLA_INET6_ADDR_GEN_MODE
#define IFLA_INET6_ADDR_GEN_MODE 8
#endif

#define NETNS_DIR "/run/netns"
#define BATCH 64
#define BRIDGE "br0"
#define GROUP 7471u	   /* not nsagent's, so neither can take the other's links */
#define ETH0_INDEX 2	   /* eth0 of a new namespace: lo is 1 */
#define SUBNET 0xac100000u /* 172.16.0.0 */

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

/* Opens a bound rtnetlink socket in the thread's current namespace. */
static struct mnl_socket *nl_open(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("netlink socket");
	return nl;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

/* Creates the named namespace and returns an fd on it; the thread is back
 * in home when it returns. With inside, also opens *inside, a netlink
 * socket in the new namespace, and makes "no IPv6 link-local address" the
 * default of its links (eth0 inherits it). */
static int netns_add(const char *name, int home, struct mnl_socket **inside)
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
	if (inside) {
		*inside = nl_open();
		write_file("/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1\n");
	}
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open the new namespace");
	if (setns(home, CLONE_NEWNET) < 0)
		die("setns back");
	return fd;
}

/* Requests queued on one socket and sent BATCH to a sendmsg; flushing reads
 * every ack of what was sent. */
struct batch {
	struct mnl_socket *nl;
	const char *what;
	unsigned seq, first, n;
	size_t off;
	char buf[BATCH * 512];
};

static void batch_init(struct batch *b, struct mnl_socket *nl, const char *what)
{
	b->nl = nl;
	b->what = what;
	b->seq = b->first = (unsigned)time(NULL);
	b->n = 0;
	b->off = 0;
}

static void batch_flush(struct batch *b)
{
	static char buf[65536];

	if (b->n == 0)
		return;
	if (mnl_socket_sendto(b->nl, b->buf, b->off) < 0)
		die("netlink send");
	while (b->n > 0) {
		ssize_t got = mnl_socket_recvfrom(b->nl, buf, sizeof(buf));
		int len = (int)got;

		if (got < 0)
			die("netlink recv");
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < b->first)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (e->error) {
				errno = -e->error;
				die(b->what);
			}
			b->n--;
		}
	}
	b->off = 0;
	b->first = b->seq;
}

static struct nlmsghdr *batch_msg(struct batch *b, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->buf + b->off);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = b->seq++;
	return nlh;
}

/* Ends the message batch_msg() began; sends the batch once it is full. */
static void batch_end(struct batch *b, struct nlmsghdr *nlh)
{
	b->off += nlh->nlmsg_len;
	if (++b->n == BATCH)
		batch_flush(b);
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, int index, bool up)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = up ? IFF_UP : 0;
	ifi->ifi_change = up ? IFF_UP : 0;
	return ifi;
}

/* The host end of namespace NAME's pair. */
static void host_name(char out[IFNAMSIZ], const char *name)
{
	snprintf(out, IFNAMSIZ, "nsa-%.11s", name);
}

/* nsa-NAME type veth peer eth0 in the namespace nsfd; with master (the
 * topology), the host end is created enslaved, in GROUP and up. */
static void veth_add(struct batch *b, const char *name, int nsfd, int master)
{
	struct nlmsghdr *nlh = batch_msg(b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *linkinfo, *data, *peer;
	char host[IFNAMSIZ];

	host_name(host, name);
	put_ifinfo(nlh, 0, master > 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
	if (master > 0) {
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
		mnl_attr_put_u32(nlh, IFLA_GROUP, GROUP);
	}
	/* One queue each, said explicitly: otherwise veth_init_queues() trims
	 * the per-CPU default down to one with synchronize_net() per end. */
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	put_ifinfo(nlh, master > 0 ? ETH0_INDEX : 0, false);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	batch_end(b, nlh);
}

static void addr_add(struct batch *b, int index, uint32_t addr, uint8_t len)
{
	struct nlmsghdr *nlh = batch_msg(b, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	uint32_t be = htonl(addr), brd = htonl(addr | (0xffffffffu >> len));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = len;
	ifa->ifa_index = (uint32_t)index;
	mnl_attr_put(nlh, IFA_LOCAL, 4, &be);
	mnl_attr_put(nlh, IFA_ADDRESS, 4, &be);
	mnl_attr_put(nlh, IFA_BROADCAST, 4, &brd);
	batch_end(b, nlh);
}

static void link_up(struct batch *b, int index)
{
	struct nlmsghdr *nlh = batch_msg(b, RTM_NEWLINK, 0);

	put_ifinfo(nlh, index, true);
	batch_end(b, nlh);
}

/* What both bring-ups share: the caller's namespace, a netlink socket in
 * it with a batch, and the namespaces made. */
struct pairs {
	int home;
	struct mnl_socket *nl;
	struct batch *b;
	unsigned n;
	int *fds;		    /* each namespace */
	struct mnl_socket **inside; /* a socket in each (topology only) */
};

static void pairs_open(struct pairs *p, unsigned n, bool topo)
{
	*p = (struct pairs){.n = n};
	p->home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (p->home < 0)
		die("open the current namespace");
	p->nl = nl_open();
	p->b = calloc(1, sizeof(*p->b));
	p->fds = calloc(n ? n : 1, sizeof(*p->fds));
	p->inside = topo ? calloc(n ? n : 1, sizeof(*p->inside)) : NULL;
	if (!p->b || !p->fds || (topo && !p->inside))
		die("calloc");
}

/* The namespaces PREFIX0.., then their pairs (with master, enslaved). */
static void pairs_make(struct pairs *p, const char *prefix, int master)
{
	char name[64];

	prepare_dir();
	for (unsigned i = 0; i < p->n; i++) {
		snprintf(name, sizeof(name), "%s%u", prefix, i);
		p->fds[i] = netns_add(name, p->home, p->inside ? &p->inside[i] : NULL);
	}
	batch_init(p->b, p->nl, "create veth");
	for (unsigned i = 0; i < p->n; i++) {
		snprintf(name, sizeof(name), "%s%u", prefix, i);
		veth_add(p->b, name, p->fds[i], master);
	}
	batch_flush(p->b);
}

static void pairs_close(struct pairs *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->inside && p->inside[i])
			mnl_socket_close(p->inside[i]);
		close(p->fds[i]);
	}
	free(p->inside);
	free(p->fds);
	free(p->b);
	mnl_socket_close(p->nl);
	close(p->home);
}

static int up(const char *prefix, unsigned n)
{
	struct pairs p;

	pairs_open(&p, n, false);
	pairs_make(&p, prefix, 0);
	pairs_close(&p);
	return 0;
}

static void netns_del(const char *prefix, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char path[256];

		snprintf(path, sizeof(path), NETNS_DIR "/%s%u", prefix, i);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			die(path);
		if (unlink(path) < 0 && errno != ENOENT)
			die(path);
	}
}

static int down(const char *prefix, unsigned n)
{
	netns_del(prefix, n);
	return 0;
}

static int topo_up(const char *prefix, unsigned n)
{
	static const uint8_t mac[6] = {0x02, 0x62, 0xac, 0x10, 0x00, 0x01};
	uint8_t len = n > 253 ? 23 : 24;
	struct nlattr *linkinfo, *af, *inet6;
	struct nlmsghdr *nlh;
	struct pairs p;
	struct batch *b;
	int br;

	pairs_open(&p, n, true);
	b = p.b;
	write_file("/proc/sys/net/ipv4/ip_forward", "1\n");

	batch_init(b, p.nl, "create the bridge");
	nlh = batch_msg(b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	put_ifinfo(nlh, 0, true);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, BRIDGE);
	mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
	mnl_attr_put_u32(nlh, IFLA_GROUP, GROUP);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, linkinfo);
	batch_end(b, nlh);
	batch_flush(b);
	br = (int)if_nametoindex(BRIDGE);
	if (br <= 0)
		die("find the bridge");
	b->what = "add the bridge's address";
	addr_add(b, br, SUBNET + 1, len);
	batch_flush(b);

	pairs_make(&p, prefix, br);
	/* Host ends: no IPv6 link-local address, told before eth0 is up. */
	b->what = "set addrgenmode none on a host end";
	for (unsigned i = 0; i < n; i++) {
		char name[64], host[IFNAMSIZ];

		snprintf(name, sizeof(name), "%s%u", prefix, i);
		host_name(host, name);
		nlh = batch_msg(b, RTM_NEWLINK, 0);
		put_ifinfo(nlh, 0, false);
		mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
		af = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
		inet6 = mnl_attr_nest_start(nlh, AF_INET6);
		mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
		mnl_attr_nest_end(nlh, inet6);
		mnl_attr_nest_end(nlh, af);
		batch_end(b, nlh);
	}
	batch_flush(b);
	for (unsigned i = 0; i < n; i++) {
		struct rtmsg *rtm;
		uint32_t gw = htonl(SUBNET + 1);

		batch_init(b, p.inside[i], "configure a namespace");
		link_up(b, 1);
		link_up(b, ETH0_INDEX);
		addr_add(b, ETH0_INDEX, SUBNET + 2 + i, len);
		nlh = batch_msg(b, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
		rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = AF_INET;
		rtm->rtm_table = RT_TABLE_MAIN;
		rtm->rtm_protocol = RTPROT_STATIC;
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_UNICAST;
		mnl_attr_put(nlh, RTA_GATEWAY, 4, &gw);
		mnl_attr_put_u32(nlh, RTA_OIF, ETH0_INDEX);
		batch_end(b, nlh);
		batch_flush(b);
	}
	pairs_close(&p);
	return 0;
}

static int topo_down(const char *prefix, unsigned n)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct mnl_socket *nl = nl_open();
	struct nlmsghdr *nlh;

	if (!b)
		die("calloc");
	batch_init(b, nl, "delete the bridge and the host ends");
	nlh = batch_msg(b, RTM_DELLINK, 0);
	put_ifinfo(nlh, 0, false);
	mnl_attr_put_u32(nlh, IFLA_GROUP, GROUP);
	batch_end(b, nlh);
	batch_flush(b);
	mnl_socket_close(nl);
	free(b);
	netns_del(prefix, n);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const char *prefix, unsigned n);
	} cmds[] = {{"up", up}, {"down", down}, {"topo-up", topo_up}, {"topo-down", topo_down}};
	char *end;
	unsigned long n;

	for (size_t i = 0; argc == 4 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		n = strtoul(argv[3], &end, 10);
		if (!*argv[3] || *end || n > 4096) {
			fprintf(stderr, "floor: N must be 0..4096, got '%s'\n", argv[3]);
			return 2;
		}
		if (strlen(argv[2]) > 5) {
			fprintf(stderr, "floor: PREFIX must be at most 5 characters, got '%s'\n",
				argv[2]);
			return 2;
		}
		return cmds[i].fn(argv[2], (unsigned)n);
	}
	fprintf(stderr, "usage: floor up|down|topo-up|topo-down PREFIX N\n");
	return 2;
}
