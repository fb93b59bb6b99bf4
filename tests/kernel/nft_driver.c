/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: test driver for the nft module (src/kernel/nft.c).
 *
 *   nft_driver apply SUBNET CLUSTER BRIDGE [--vtep ADDR]
 *                    [--subnet6 SUBNET6 CLUSTER6 [--no-masquerade6]]
 *                    [--masquerade-except CIDR]... [--stay]
 *       applies the table once (with --vtep, with this node's VXLAN
 *       address and the VXLAN port) and prints "changed=0" or "changed=1"; with
 *       --stay it keeps watching nftables events and re-applies on every
 *       change to the table, printing "repaired" each time the re-apply
 *       changed something, until SIGTERM/SIGINT.
 *   nft_driver remove
 *       deletes the table; prints "removed".
 *
 * Run only inside a throwaway network namespace (the tests do). */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "nft.h"
#include "nsagent/addr.h"
#include "nsagent/log.h"

struct driver {
	struct event_base *base;
	struct kern_nft *nft;
	struct nft_table_spec spec;
	int failures;
};

static void on_change(void *arg)
{
	struct driver *d = arg;
	struct kern_error err = {{0}};
	bool changed;

	if (nft_apply(d->nft, &d->spec, &changed, &err) < 0) {
		fprintf(stderr, "re-apply failed: %s\n", err.message);
		d->failures++;
		return;
	}
	if (changed) {
		printf("repaired\n");
		fflush(stdout);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int cmd_apply(int argc, char **argv)
{
	struct driver d = {0};
	struct kern_error err = {{0}};
	struct event *term = NULL, *intr = NULL;
	bool stay = false, bad = argc < 4, no_masquerade6 = false;
	bool changed;
	int ret = 1;

	for (int i = 4; i < argc && !bad; i++) {
		if (strcmp(argv[i], "--stay") == 0) {
			stay = true;
		} else if (strcmp(argv[i], "--vtep") == 0 && i + 1 < argc) {
			if (addr_parse(argv[i + 1], &d.spec.vtep) < 0) {
				fprintf(stderr, "nft_driver: --vtep: not an IPv4 address: '%s'\n",
					argv[i + 1]);
				return 2;
			}
			d.spec.vxlan_port = KERN_VXLAN_PORT;
			i++;
		} else if (strcmp(argv[i], "--subnet6") == 0 && i + 2 < argc) {
			/* dual-stack: --subnet6 SUBNET6 CLUSTER6, NAT66 on */
			if (addr6_parse_prefix(argv[i + 1], &d.spec.subnet6) < 0 ||
			    addr6_parse_prefix(argv[i + 2], &d.spec.cluster6) < 0) {
				fprintf(stderr,
					"nft_driver: --subnet6: not IPv6 prefixes: '%s' '%s'\n",
					argv[i + 1], argv[i + 2]);
				return 2;
			}
			d.spec.subnet6_set = true;
			d.spec.masquerade6 = !no_masquerade6;
			i += 2;
		} else if (strcmp(argv[i], "--masquerade-except") == 0 && i + 1 < argc &&
			   d.spec.n_masquerade_except < KERN_MAX_MASQUERADE_EXCEPT) {
			if (addr_parse_prefix(
				argv[i + 1],
				&d.spec.masquerade_except[d.spec.n_masquerade_except++]) < 0) {
				fprintf(
				    stderr,
				    "nft_driver: --masquerade-except: not an IPv4 prefix: '%s'\n",
				    argv[i + 1]);
				return 2;
			}
			i++;
		} else if (strcmp(argv[i], "--no-masquerade6") == 0) {
			no_masquerade6 = true;
			d.spec.masquerade6 = false;
		} else {
			bad = true;
		}
	}
	if (bad || addr_parse_prefix(argv[1], &d.spec.subnet) < 0 ||
	    addr_parse_prefix(argv[2], &d.spec.cluster) < 0 || strlen(argv[3]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: nft_driver apply SUBNET CLUSTER BRIDGE [--vtep ADDR] "
				"[--subnet6 SUBNET6 CLUSTER6 [--no-masquerade6]] "
				"[--masquerade-except CIDR]... [--stay]\n");
		return 2;
	}
	strcpy(d.spec.bridge, argv[3]);
	d.base = event_base_new();
	if (d.base == NULL)
		return 1;
	if (nft_open(d.base, on_change, &d, &d.nft, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		goto out;
	}
	if (nft_apply(d.nft, &d.spec, &changed, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		goto out;
	}
	printf("changed=%d\n", changed ? 1 : 0);
	fflush(stdout);
	if (stay) {
		term = evsignal_new(d.base, SIGTERM, on_signal, d.base);
		intr = evsignal_new(d.base, SIGINT, on_signal, d.base);
		if (term == NULL || intr == NULL || event_add(term, NULL) < 0 ||
		    event_add(intr, NULL) < 0)
			goto out;
		event_base_dispatch(d.base);
	}
	ret = d.failures > 0 ? 1 : 0;
out:
	if (term != NULL)
		event_free(term);
	if (intr != NULL)
		event_free(intr);
	nft_close(d.nft);
	event_base_free(d.base);
	return ret;
}

static int cmd_remove(void)
{
	struct kern_error err = {{0}};

	if (nft_remove(NULL, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	printf("removed\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "apply") == 0)
		return cmd_apply(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "remove") == 0)
		return cmd_remove();
	fprintf(stderr,
		"usage: nft_driver apply SUBNET CLUSTER BRIDGE [--vtep ADDR] [--stay] | remove\n");
	return 2;
}
