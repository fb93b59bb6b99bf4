/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/config.c.
 *
 * Golden files: tests/unit/golden/config/NAME.conf is loaded with
 * `--config NAME.conf` plus the flags in NAME.args (one per line, optional)
 * and cfg_print must produce NAME.out exactly; the printed text must then
 * load back (cfg_load_file) and print identically. Set
 * NSAGENT_UPDATE_GOLDEN=1 to rewrite the .out files after a deliberate change.
 *
 * Bad values: one table row per rejected value, each naming the flag or the
 * file line the error must point at. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr6_lit.h"

#include "nsagent/config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ARGS 64

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;
	FILE *out;
	int c;

	if (!f)
		return NULL;
	out = open_memstream(&text, &size);
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(f);
	return text;
}

static char *print_to_string(const struct cfg *cfg)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	cfg_print(cfg, out);
	fclose(out);
	return text;
}

/* Writes text to a fresh temporary file; the caller unlinks and frees. */
static char *write_temp(const char *text)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;
	FILE *f;
	int fd;

	if (asprintf(&path, "%s/nsagent-test-config.XXXXXX", dir) < 0)
		fail();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* print -> cfg_load_file into fresh defaults -> print must be identical. */
static void assert_round_trip(const char *printed)
{
	char *path = write_temp(printed), *again;
	struct cfg *cfg = cfg_new();
	struct cfg_error err;

	if (cfg_load_file(cfg, path, &err) < 0 || cfg_validate(cfg, &err) < 0)
		fail_msg("printed config does not load back: %s: %s", err.where, err.message);
	again = print_to_string(cfg);
	assert_string_equal(again, printed);
	free(again);
	cfg_free(cfg);
	unlink(path);
	free(path);
}

static int load_args(struct cfg *cfg, const char *const *args, size_t n, struct cfg_error *err)
{
	char *argv[MAX_ARGS + 2];
	size_t argc = 0;

	argv[argc++] = "check-config";
	for (size_t i = 0; i < n && argc < MAX_ARGS; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	return cfg_load(cfg, (int)argc, argv, err);
}

static void run_golden(const char *dir, const char *name)
{
	char conf[1100], args_path[1100], out_path[1100];
	const char *argv[MAX_ARGS];
	size_t argc = 0;
	char *args_text, *expected, *printed;
	struct cfg *cfg = cfg_new();
	struct cfg_error err;

	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	snprintf(args_path, sizeof(args_path), "%s/%s.args", dir, name);
	snprintf(out_path, sizeof(out_path), "%s/%s.out", dir, name);
	argv[argc++] = "--config";
	argv[argc++] = conf;
	args_text = read_all(args_path);
	if (args_text) {
		for (char *line = strtok(args_text, "\n"); line && argc < MAX_ARGS;
		     line = strtok(NULL, "\n"))
			argv[argc++] = line;
	}
	if (load_args(cfg, argv, argc, &err) < 0)
		fail_msg("golden %s: %s: %s", name, err.where, err.message);
	printed = print_to_string(cfg);
	if (getenv("NSAGENT_UPDATE_GOLDEN")) {
		FILE *f = fopen(out_path, "w");

		assert_non_null(f);
		fputs(printed, f);
		fclose(f);
	}
	expected = read_all(out_path);
	if (!expected)
		fail_msg("golden %s: missing %s", name, out_path);
	if (strcmp(expected, printed) != 0)
		fail_msg("golden %s: cfg_print differs from %s:\n--- got\n%s--- expected\n%s", name,
			 out_path, printed, expected);
	assert_round_trip(printed);
	free(expected);
	free(printed);
	free(args_text);
	cfg_free(cfg);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_golden(void **state)
{
	const char *src = getenv("NSAGENT_SOURCE_DIR");
	char dir[512], *names[256] = {0};
	size_t n = 0;
	struct dirent *entry;
	DIR *d;

	(void)state;
	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/tests/unit/golden/config", src);
	d = opendir(dir);
	assert_non_null(d);
	while ((entry = readdir(d)) && n < ARRAY_SIZE(names)) {
		size_t len = strlen(entry->d_name);

		if (len > 5 && strcmp(entry->d_name + len - 5, ".conf") == 0)
			names[n++] = strndup(entry->d_name, len - 5);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), compare_names);
	assert_true(n >= 5);
	for (size_t i = 0; i < n; i++) {
		print_message("golden %s\n", names[i]);
		run_golden(dir, names[i]);
		free(names[i]);
	}
}

static void test_defaults(void **state)
{
	struct cfg *cfg = cfg_new();
	struct cfg_error err;
	char buf[PREFIX_STRLEN];

	(void)state;
	assert_int_equal(cfg->n_peers, 0);
	assert_int_equal(cfg->port, CFG_DEFAULT_PORT);
	assert_true(nodeaddr_is_zero(&cfg->node_ip));
	assert_false(cfg->subnet_set);
	assert_string_equal(addr_format_prefix(&cfg->cluster_cidr, buf), "172.16.0.0/16");
	assert_int_equal(cfg->n_namespaces, 2);
	assert_string_equal(cfg->namespaces[0], "NS1");
	assert_string_equal(cfg->namespaces[1], "NS2");
	assert_string_equal(cfg->bridge, "br0");
	assert_null(cfg->config_path);
	assert_false(cfg->config_path_explicit);
	assert_string_equal(cfg->state_dir, CFG_DEFAULT_STATE_DIR);
	assert_string_equal(cfg->run_dir, CFG_DEFAULT_RUN_DIR);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->keepalive_ms, 1000);
	assert_int_equal(cfg->hold_time_ms, 3000);
	assert_int_equal(cfg->restart_time_ms, 120000);
	assert_int_equal(cfg->connect_retry_min_ms, 1000);
	assert_int_equal(cfg->connect_retry_max_ms, 30000);
	assert_int_equal(cfg->handshake_timeout_ms, 5000);
	assert_int_equal(cfg->probe_interval_ms, 2000);
	assert_int_equal(cfg->backend, CFG_BACKEND_AUTO);
	assert_int_equal(cfg_validate(cfg, &err), 0);
	cfg_free(cfg);
	cfg_free(NULL);
}

static void test_duration(void **state)
{
	static const struct {
		const char *text;
		uint32_t ms;
	} good[] = {{"0s", 0},	   {"500ms", 500},	   {"1s", 1000},
		    {"3s", 3000},  {"2m", 120000},	   {"4294967295ms", 4294967295u},
		    {"01s", 1000}, {"71582m", 4294920000u}};
	static const char *bad[] = {"",	   "1",	  "s",	  "1h", "1.5s", "-1s",	"+1s", " 1s",
				    "1s ", "1 s", "1sec", "1S", "ms",	"1ms5", "1m1s"};
	uint32_t ms;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		ms = 7;
		if (cfg_parse_duration(good[i].text, &ms) != 0)
			fail_msg("rejected '%s'", good[i].text);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ms = 7;
		if (cfg_parse_duration(bad[i], &ms) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(ms, 7);
	}
	assert_int_equal(cfg_parse_duration("4294967296ms", &ms), -ERANGE);
	assert_int_equal(cfg_parse_duration("71583m", &ms), -ERANGE);
	assert_int_equal(cfg_parse_duration("99999999999999999999s", &ms), -ERANGE);
}

/* One rejected value per row. FILE in where stands for the temporary file
 * holding file_text (or an empty one), which is always passed as --config. */
struct bad_case {
	const char *file_text;
	const char *args[8];
	const char *where;
	const char *message;
};

static const struct bad_case bad_cases[] = {
    /* --peer */
    {NULL,
     {"--peer", "192.168.1"},
     "--peer",
     "'192.168.1' is neither an address (IPv4, IPv6, [IPv6]) nor a host name"},
    {NULL, {"--peer", "192.168.1.6:0"}, "--peer", "optional :PORT (1-65535)"},
    {NULL, {"--peer", "192.168.1.6:65536"}, "--peer", "is neither an address"},
    /* host names: RFC 1123 labels, a port after the name */
    {NULL,
     {"--peer", "node2:0"},
     "--peer",
     "is neither an address (IPv4, IPv6, [IPv6]) nor a host name"},
    {NULL, {"--peer", "-node2"}, "--peer", "is neither"},
    {NULL, {"--peer", "node_2"}, "--peer", "is neither"},
    {NULL, {"--peer", "node2..lab"}, "--peer", "is neither"},
    {NULL, {"--peer", "node2", "--peer", "NODE2:7000"}, "--peer", "NODE2 is given twice"},
    {NULL,
     {"--iface", "eth0", "--node-ip", "192.168.1.5"},
     "--iface",
     "give --node-ip or --iface, not both"},
    {NULL, {"--iface", "a/b"}, "--iface", "interface name 'a/b' may not contain"},
    {NULL, {"--node-ip", "169.254.1.1"}, "--node-ip", "is a link-local address"},
    {NULL, {"--peer", "192.168.1.6", "--peer", "192.168.1.6:7000"}, "--peer", "given twice"},
    {NULL, {"--peer", "172.16.9.9"}, "--peer", "peer 172.16.9.9 is inside cluster-cidr"},
    {NULL, {"--peer", "127.0.0.1"}, "--peer", "loopback"},
    {NULL, {"--peer", "239.1.1.1"}, "--peer", "multicast"},
    {NULL, {"--peer", "0.1.2.3"}, "--peer", "0.0.0.0/8"},
    {NULL, {"--peer", "192.168.1.5", "--node-ip", "192.168.1.5"}, "--peer", "own address"},
    {NULL, {"--peer"}, "--peer", "missing value"},
    /* IPv6 peers: bracketed with a port, bracketed, bare */
    {NULL, {"--peer", "[2001:db8::6]:0"}, "--peer", "optional :PORT (1-65535)"},
    {NULL, {"--peer", "[2001:db8::6"}, "--peer", "is neither an address"},
    {NULL, {"--peer", "[2001:db8::6]:7470x"}, "--peer", "is neither an address"},
    {NULL, {"--peer", "2001:db8::6", "--peer", "[2001:db8::6]:7000"}, "--peer", "given twice"},
    {NULL, {"--peer", "::1"}, "--peer", "loopback"},
    {NULL, {"--peer", "[ff02::1]:7470"}, "--peer", "multicast"},
    {NULL,
     {"--peer", "[fd6e:7361:6765:9::9]"},
     "--peer",
     "peer fd6e:7361:6765:9::9 is inside cluster-cidr6"},
    {NULL, {"--peer", "[2001:db8::5]:7470", "--node-ip", "2001:db8::5"}, "--peer", "own address"},
    /* --port */
    {NULL, {"--port", "0"}, "--port", "'0' is not a port number"},
    {NULL, {"--port", "65536"}, "--port", "not a port number"},
    {NULL, {"--port", "080"}, "--port", "not a port number"},
    {NULL, {"--port", "http"}, "--port", "not a port number"},
    {NULL, {"--port="}, "--port", "'' is not a port number"},
    /* --node-ip */
    {NULL, {"--node-ip", "300.1.1.1"}, "--node-ip", "not an IPv4 or IPv6 address"},
    {NULL, {"--node-ip", "::"}, "--node-ip", "use 'auto'"},
    {NULL, {"--node-ip", "fe80::1"}, "--node-ip", "is a link-local address"},
    {NULL, {"--node-ip", "::1"}, "--node-ip", "loopback"},
    {NULL, {"--node-ip", "ff02::1"}, "--node-ip", "multicast"},
    {NULL, {"--node-ip", "[2001:db8::5]"}, "--node-ip", "not an IPv4 or IPv6 address"},
    {NULL,
     {"--node-ip", "fd6e:7361:6765:3::5"},
     "--node-ip",
     "node-ip fd6e:7361:6765:3::5 is inside cluster-cidr6 fd6e:7361:6765::/48"},
    {NULL, {"--node-ip", "0.0.0.0"}, "--node-ip", "use 'auto'"},
    {NULL, {"--node-ip", "224.0.0.1"}, "--node-ip", "multicast"},
    {NULL, {"--node-ip", "255.255.255.255"}, "--node-ip", "broadcast"},
    {NULL, {"--node-ip", "172.16.3.3"}, "--node-ip", "inside cluster-cidr 172.16.0.0/16"},
    /* --subnet */
    {NULL, {"--subnet", "172.16.1.1/24"}, "--subnet", "172.16.1.1/24 has host bits set"},
    {NULL, {"--subnet", "10.0.0.0/24"}, "--subnet", "not inside cluster-cidr 172.16.0.0/16"},
    {NULL, {"--subnet", "172.0.0.0/8"}, "--subnet", "not inside cluster-cidr"},
    {NULL, {"--subnet", "172.16.0.0/31"}, "--subnet", "no addresses for namespaces"},
    {NULL, {"--subnet", "172.16.0.0"}, "--subnet", "is not an IPv4 prefix"},
    {NULL, {"--subnet", "172.16.0.0/33"}, "--subnet", "is not an IPv4 prefix"},
    /* --cluster-cidr */
    {NULL, {"--cluster-cidr", "0.0.0.0/0"}, "--cluster-cidr", "every destination"},
    {NULL, {"--cluster-cidr", "10.0.0.1/8"}, "--cluster-cidr", "host bits set"},
    {NULL, {"--cluster-cidr", "10.0.0.0/31"}, "--cluster-cidr", "too small"},
    /* Ranges never routed between hosts, and ranges too wide for one cluster. */
    {NULL, {"--cluster-cidr", "10.0.0.0/7"}, "--cluster-cidr", "10.0.0.0/7 is wider than a /8"},
    {NULL, {"--cluster-cidr", "128.0.0.0/1"}, "--cluster-cidr", "wider than a /8"},
    {NULL, {"--cluster-cidr", "127.0.0.0/8"}, "--cluster-cidr", "overlaps 127.0.0.0/8 (loopback)"},
    {NULL, {"--cluster-cidr", "127.16.0.0/16"}, "--cluster-cidr", "127.0.0.0/8 (loopback)"},
    {NULL, {"--cluster-cidr", "0.0.0.0/8"}, "--cluster-cidr", "0.0.0.0/8 (this network)"},
    {NULL, {"--cluster-cidr", "0.16.0.0/16"}, "--cluster-cidr", "0.0.0.0/8 (this network)"},
    {NULL,
     {"--cluster-cidr", "169.254.0.0/16"},
     "--cluster-cidr",
     "169.254.0.0/16 overlaps 169.254.0.0/16 (link-local)"},
    {NULL, {"--cluster-cidr", "169.254.8.0/22"}, "--cluster-cidr", "(link-local)"},
    {NULL, {"--cluster-cidr", "169.0.0.0/8"}, "--cluster-cidr", "(link-local)"},
    {NULL, {"--cluster-cidr", "224.0.0.0/8"}, "--cluster-cidr", "224.0.0.0/4 (multicast)"},
    {NULL, {"--cluster-cidr", "239.16.0.0/16"}, "--cluster-cidr", "(multicast)"},
    /* dual-stack */
    {NULL, {"--ipv6", "yes"}, "--ipv6", "'yes' is neither on nor off"},
    {NULL, {"--masquerade6", "1"}, "--masquerade6", "neither on nor off"},
    {NULL,
     {"--masquerade-except", "192.168.1.1/24"},
     "--masquerade-except",
     "'192.168.1.1/24' is not an IPv4 network as ADDR/LEN"},
    {NULL, {"--masquerade-except", "lan"}, "--masquerade-except", "'lan' is not an IPv4 network"},
    {NULL, {"--masquerade-except", "fd00::/8"}, "--masquerade-except", "not an IPv4 network"},
    {NULL,
     {"--masquerade-except", "192.168.1.0/24,"},
     "--masquerade-except",
     "'' is not an IPv4 network"},
    {NULL,
     {"--masquerade-except", "10.0.0.0/8", "--masquerade-except", "192.168.0.0/16,10.0.0.0/8"},
     "--masquerade-except",
     "10.0.0.0/8 is given twice"},
    {NULL,
     {"--masquerade-except", "172.16.5.0/24"},
     "--masquerade-except",
     "172.16.5.0/24 is inside the cluster range 172.16.0.0/16, which is never masqueraded"},
    {NULL,
     {"--masquerade-except",
      "10.1.0.0/16,10.2.0.0/16,10.3.0.0/16,10.4.0.0/16,10.5.0.0/16,10.6.0.0/16,10.7.0.0/16,"
      "10.8.0.0/16,10.9.0.0/16,10.10.0.0/16,10.11.0.0/16,10.12.0.0/16,10.13.0.0/16,"
      "10.14.0.0/16,10.15.0.0/16,10.16.0.0/16,10.17.0.0/16"},
     "--masquerade-except",
     "more than 16 ranges"},
    {NULL, {"--cluster-cidr6", "fd00::1/48"}, "--cluster-cidr6", "not an IPv6 prefix"},
    {NULL, {"--cluster-cidr6", "10.0.0.0/8"}, "--cluster-cidr6", "not an IPv6 prefix"},
    {NULL, {"--cluster-cidr6", "::/0"}, "--cluster-cidr6", "wider than a /16"},
    {NULL, {"--cluster-cidr6", "fd00::/64"}, "--cluster-cidr6", "holds no node /64"},
    {NULL, {"--cluster-cidr6", "fe80::/16"}, "--cluster-cidr6", "fe80::/10 (link-local)"},
    {NULL, {"--cluster-cidr6", "ff00::/16"}, "--cluster-cidr6", "(multicast)"},
    {NULL, {"--subnet6", "fd6e:7361:6765:1::/80"}, "--subnet6", "is not a /64"},
    {NULL, {"--subnet6", "fd00:1::/64"}, "--subnet6", "not inside cluster-cidr6"},
    {NULL, {"--subnet6", "fd6e:7361:6765:1::1/64"}, "--subnet6", "no host bits set"},
    {NULL, {"--cluster-cidr", "240.16.0.0/16"}, "--cluster-cidr", "240.0.0.0/4 (reserved)"},
    /* ... and one that holds this node's own underlay address. */
    {NULL,
     {"--cluster-cidr", "192.168.0.0/16", "--node-ip", "192.168.1.5"},
     "--node-ip",
     "node-ip 192.168.1.5 is inside cluster-cidr 192.168.0.0/16"},
    {"[nsagent]\nnode-ip = 10.1.1.5\n",
     {"--cluster-cidr", "10.0.0.0/8"},
     "FILE:2",
     "node-ip: node-ip 10.1.1.5 is inside cluster-cidr 10.0.0.0/8"},
    {NULL,
     {"--cluster-cidr", "10.0.0.0/16", "--subnet", "172.16.1.0/24"},
     "--subnet",
     "not inside cluster-cidr 10.0.0.0/16"},
    /* --namespaces */
    {NULL, {"--namespaces", "NS1,,NS2"}, "--namespaces", "namespace name '' is empty"},
    {NULL, {"--namespaces", "a/b"}, "--namespaces", "may only contain"},
    {NULL, {"--namespaces", "ns 1"}, "--namespaces", "may only contain"},
    {NULL, {"--namespaces", "."}, "--namespaces", "not a usable file name"},
    {NULL, {"--namespaces", "NS1,.."}, "--namespaces", "not a usable file name"},
    {NULL, {"--namespaces", "NS1,NS2,NS1"}, "--namespaces", "NS1 is given twice"},
    {NULL,
     {"--namespaces", "N2345678901234567890123456789012345678901234567890123456789012345"},
     "--namespaces",
     "longer than 64"},
    {NULL,
     {"--subnet", "172.16.1.0/30", "--namespaces", "A,B"},
     "--namespaces",
     "2 namespaces do not fit subnet 172.16.1.0/30"},
    {NULL,
     {"--namespaces", "A,B,C,D,E,F", "--subnet", "172.16.1.0/29"},
     "--namespaces",
     "room for 5"},
    /* --bridge */
    {NULL, {"--bridge", ""}, "--bridge", "is empty"},
    {NULL, {"--bridge", "0123456789abcdef"}, "--bridge", "longer than 15"},
    {NULL, {"--bridge", "br/0"}, "--bridge", "may not contain"},
    {NULL, {"--bridge", "br 0"}, "--bridge", "may not contain"},
    {NULL, {"--bridge", "br:0"}, "--bridge", "may not contain"},
    {NULL, {"--bridge", ";br0"}, "--bridge", "may not contain"},
    {NULL, {"--bridge", "br#0"}, "--bridge", "may not contain"},
    {NULL, {"--bridge", ".."}, "--bridge", "not a valid interface name"},
    /* --config */
    {NULL, {"--config", "/nonexistent/nsagent.conf"}, "--config", "No such file"},
    {NULL, {"--config", "/"}, "--config", "cannot read /"},
    {NULL, {"--config", ""}, "--config", "empty path"},
    /* --state-dir, --run-dir */
    {NULL, {"--state-dir", "var/lib/nsagent"}, "--state-dir", "must be an absolute path"},
    {NULL, {"--run-dir", "/run/ns agent"}, "--run-dir", "may not contain spaces"},
    /* --log-level */
    {NULL, {"--log-level", "loud"}, "--log-level", "'loud' is not a log level"},
    /* durations */
    {NULL, {"--keepalive", "1"}, "--keepalive", "'1' is not a duration"},
    {NULL, {"--keepalive", "1h"}, "--keepalive", "not a duration"},
    {NULL, {"--keepalive", "1.5s"}, "--keepalive", "not a duration"},
    {NULL, {"--keepalive", "0s"}, "--keepalive", "must be longer than 0s"},
    {NULL, {"--keepalive", "99999999m"}, "--keepalive", "too long"},
    {NULL,
     {"--keepalive", "5s"},
     "--keepalive",
     "hold-time (3s) must be longer than keepalive (5s)"},
    {NULL,
     {"--hold-time", "1s"},
     "--hold-time",
     "hold-time (1s) must be longer than keepalive (1s)"},
    {NULL, {"--hold-time", "3"}, "--hold-time", "not a duration"},
    {NULL, {"--restart-time", "2"}, "--restart-time", "not a duration"},
    {NULL, {"--probe-interval", "2"}, "--probe-interval", "not a duration"},
    {NULL, {"--probe-interval", "50ms"}, "--probe-interval", "0s (off) or at least 100ms"},
    {"[nsagent]\nprobe-interval = of\n", {NULL}, "FILE:2", "'of' is not a duration"},
    {NULL,
     {"--connect-retry-min", "1m"},
     "--connect-retry-min",
     "longer than connect-retry-max (30s)"},
    {NULL,
     {"--connect-retry-max", "500ms"},
     "--connect-retry-max",
     "connect-retry-min (1s) is longer"},
    {NULL, {"--connect-retry-min", "0ms"}, "--connect-retry-min", "must be longer than 0s"},
    {NULL, {"--handshake-timeout", "0m"}, "--handshake-timeout", "must be longer than 0s"},
    {NULL, {"--handshake-timeout", "5x"}, "--handshake-timeout", "not a duration"},
    /* --backend */
    {NULL, {"--backend", "gre"}, "--backend", "'gre' is not a backend"},
    /* WireGuard (issue 19) */
    {NULL, {"--encrypt", "on"}, "--encrypt", "'on' is not an encryption mode (off, routed, all)"},
    {NULL,
     {"--encrypt", "routed", "--backend", "vxlan"},
     "--encrypt",
     "routed needs --backend auto"},
    {NULL, {"--wireguard-port", "0"}, "--wireguard-port", "not a port number"},
    {NULL, {"--wireguard-userspace", "bin/wg-go"}, "--wireguard-userspace", "absolute path"},
    /* security and limits */
    {NULL, {"--key-file", "cluster.key"}, "--key-file", "must be an absolute path"},
    {NULL, {"--listen", "0.0.0.0/0"}, "--listen", "is not an IPv4 or IPv6 address"},
    {NULL, {"--listen", "ff02::1"}, "--listen", "multicast"},
    {NULL, {"--listen", "224.0.0.1"}, "--listen", "is a multicast address"},
    {NULL, {"--max-peers", "0"}, "--max-peers", "not a number from 1 to 256"},
    {NULL, {"--max-peers", "257"}, "--max-peers", "not a number from 1 to 256"},
    {NULL, {"--max-connections", "-1"}, "--max-connections", "not a number"},
    {NULL, {"--dial-rate", "fast"}, "--dial-rate", "not a number"},
    {NULL, {"--accept-rate", "0"}, "--accept-rate", "not a number"},
    /* --metrics */
    {NULL, {"--metrics", "127.0.0.1"}, "--metrics", "is not ADDR:PORT"},
    {NULL, {"--metrics", "127.0.0.1:0"}, "--metrics", "is not ADDR:PORT"},
    {NULL, {"--metrics", "localhost:9470"}, "--metrics", "is not ADDR:PORT"},
    {"[nsagent]\nmetrics = on\n", {NULL}, "FILE:2", "metrics: 'on' is not ADDR:PORT"},
    /* --routing bgp (issue 17) */
    {NULL, {"--routing", "ospf"}, "--routing", "'ospf' is not a routing mode (mesh, bgp)"},
    {NULL,
     {"--routing", "bgp", "--subnet", "172.16.1.0/24", "--bgp-peer", "192.168.1.8", "--peer",
      "192.168.1.6"},
     "--peer",
     "--peer is for --routing mesh"},
    {NULL,
     {"--routing", "bgp", "--bgp-peer", "192.168.1.8"},
     "--routing",
     "needs an explicit --subnet"},
    {NULL,
     {"--routing", "bgp", "--subnet", "172.16.1.0/25", "--bgp-peer", "192.168.1.8"},
     "--subnet",
     "172.16.1.0/25 is not a /24"},
    {NULL,
     {"--routing", "bgp", "--subnet", "172.16.1.0/24"},
     "--routing",
     "at least one --bgp-peer"},
    {NULL, {"--bgp-peer", "192.168.1.8"}, "--bgp-peer", "used with --routing bgp only"},
    {NULL, {"--bgp-as", "0"}, "--bgp-as", "'0' is not an AS number (1-4294967295)"},
    {NULL, {"--bgp-as", "4294967296"}, "--bgp-as", "not an AS number"},
    {NULL, {"--bgp-as", "-5"}, "--bgp-as", "not an AS number"},
    {NULL, {"--bgp-as", "23456"}, "--bgp-as", "23456 is AS_TRANS"},
    {NULL, {"--bgp-peer", "192.168.1.8:0"}, "--bgp-peer", "'0' is not an AS number"},
    {NULL, {"--bgp-peer", "192.168.1.8:23456"}, "--bgp-peer", "AS_TRANS"},
    {NULL, {"--bgp-peer", "router1"}, "--bgp-peer", "'router1' is not ADDR[:AS]"},
    {NULL, {"--bgp-peer", "[2001:db8::1]x"}, "--bgp-peer", "is not ADDR[:AS]"},
    {NULL,
     {"--bgp-peer", "192.168.1.8", "--bgp-peer", "192.168.1.8:65001"},
     "--bgp-peer",
     "192.168.1.8 is given twice"},
    {NULL,
     {"--routing", "bgp", "--subnet", "172.16.1.0/24", "--bgp-peer", "172.16.9.1"},
     "--bgp-peer",
     "BGP peer 172.16.9.1 is inside cluster-cidr 172.16.0.0/16"},
    {NULL,
     {"--routing", "bgp", "--subnet", "172.16.1.0/24", "--bgp-peer", "224.0.0.5"},
     "--bgp-peer",
     "multicast"},
    {NULL,
     {"--routing", "bgp", "--subnet", "172.16.1.0/24", "--node-ip", "192.168.1.5", "--bgp-peer",
      "192.168.1.5"},
     "--bgp-peer",
     "this node's own address"},
    {NULL, {"--bird-config", "nsagent.conf"}, "--bird-config", "must be an absolute path"},
    {NULL, {"--bird-socket", "bird.ctl"}, "--bird-socket", "must be an absolute path"},
    {NULL,
     {"--bird-socket", "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
     "--bird-socket",
     "longer than a Unix socket path"},
    {"[nsagent]\nrouting = bgp\nsubnet = 172.16.1.0/24\npeer = 192.168.1.6\nbgp-peer = "
     "192.168.1.8\n",
     {NULL},
     "FILE:4",
     "peer: --peer is for --routing mesh"},
    {"[nsagent]\nbgp-as = 23456\n", {NULL}, "FILE:2", "bgp-as: 23456 is AS_TRANS"},
    /* the command line itself */
    {NULL, {"--bogus"}, "--bogus", "unknown option"},
    {NULL, {"--bogus=1"}, "--bogus", "unknown option"},
    {NULL, {"-p", "1"}, "-p", "unknown option"},
    {NULL, {"--peer", "192.168.1.6", "stray"}, "stray", "unexpected argument"},
    /* the file */
    {"[nsagent]\nsubnett = 172.16.1.0/24\n", {NULL}, "FILE:2", "unknown key 'subnett'"},
    {"peer = 192.168.1.6\n", {NULL}, "FILE:1", "must follow the [nsagent] section"},
    {"[nsagent]\nport = 7470\n[other]\nport = 1\n", {NULL}, "FILE:4", "unknown section [other]"},
    {"[nsagent]\n\njust words\n", {NULL}, "FILE:3", "syntax error"},
    {"[nsagent\n", {NULL}, "FILE:1", "syntax error"},
    {"# c\n[nsagent]\nport = 7470\nport = 7471\n", {NULL}, "FILE:4", "already set on line 3"},
    {"[nsagent]\nconfig = /etc/other.conf\n", {NULL}, "FILE:2", "unknown key 'config'"},
    {"[nsagent]\nsubnet = 172.16.1.1/24\n",
     {NULL},
     "FILE:2",
     "subnet: 172.16.1.1/24 has host bits set"},
    {"[nsagent]\nport = 7470 # not a comment here\n", {NULL}, "FILE:2", "port: '7470 # not"},
    {"[nsagent]\npeer = 192.168.1.6\npeer = 192.168.1.6\n", {NULL}, "FILE:3", "given twice"},
    {"[nsagent]\nnamespaces = A\nnamespaces = B,A\n", {NULL}, "FILE:3", "A is given twice"},
    {"[nsagent]\nkeepalive = 5s\n",
     {NULL},
     "FILE:2",
     "keepalive: hold-time (3s) must be longer than keepalive (5s)"},
    {"[nsagent]\nhold-time = 2s\n", {"--keepalive", "2s"}, "FILE:2", "hold-time: hold-time (2s)"},
    {"[nsagent]\ncluster-cidr = 10.0.0.0/16\n",
     {"--subnet", "172.16.1.0/24"},
     "--subnet",
     "not inside cluster-cidr 10.0.0.0/16"},
    {"[nsagent]\ncluster-cidr = 10.0.0.0/16\nsubnet = 172.16.1.0/24\n",
     {NULL},
     "FILE:3",
     "subnet: subnet 172.16.1.0/24 is not inside"},
    {"[nsagent]\nsubnet = 172.16.1.0/24\n",
     {"--cluster-cidr", "10.0.0.0/8"},
     "FILE:2",
     "not inside cluster-cidr 10.0.0.0/8"},
    {"[nsagent]\nnode-ip = 192.168.1.5\n", {"--peer", "192.168.1.5"}, "--peer", "own address"},
    {"[nsagent]\nbackend = auto\nlog-level = verbose\n",
     {NULL},
     "FILE:3",
     "log-level: 'verbose' is not a log level"},
    {"[nsagent]\nstate-dir = "
     "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "a"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaa\n",
     {NULL},
     "FILE:2",
     "line longer than"},
    {"[nsagent]\nrun-dir = "
     "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaa\n",
     {NULL},
     "FILE:2",
     "run-dir: '/run/aaa"},
};

static void test_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		char *path = write_temp(c->file_text ? c->file_text : "");
		const char *args[16];
		char where[512];
		size_t n = 0;
		struct cfg *cfg = cfg_new();
		struct cfg_error err = {"", ""};
		int ret;

		args[n++] = "--config";
		args[n++] = path;
		for (size_t j = 0; j < ARRAY_SIZE(c->args) && c->args[j]; j++)
			args[n++] = c->args[j];
		ret = load_args(cfg, args, n, &err);
		if (strncmp(c->where, "FILE", 4) == 0)
			snprintf(where, sizeof(where), "%s%s", path, c->where + 4);
		else
			snprintf(where, sizeof(where), "%s", c->where);
		if (ret != -EINVAL || strcmp(err.where, where) != 0 ||
		    !strstr(err.message, c->message))
			fail_msg("case %zu (%s %s): got %d '%s: %s', want '%s: ...%s...'", i,
				 c->args[0] ? c->args[0] : "", c->args[1] ? c->args[1] : "", ret,
				 err.where, err.message, where, c->message);
		cfg_free(cfg);
		unlink(path);
		free(path);
	}
}

static void test_precedence(void **state)
{
	char *path = write_temp("[nsagent]\n"
				"peer = 192.168.1.6\n"
				"peer = 192.168.1.7:8000\n"
				"port = 7000\n"
				"namespaces = A,B\n"
				"namespaces = C\n"
				"bridge = brfile\n"
				"keepalive = 2s\n"
				"hold-time = 6s\n");
	struct cfg *cfg = cfg_new();
	struct cfg_error err;
	const char *with_flags[] = {"--config", path, "--port", "7100", "--bridge", "brflag"};
	const char *replace_lists[] = {"--config",     path,	     "--peer",	     "10.1.1.1",
				       "--peer",       "10.1.1.2:9", "--namespaces", "X",
				       "--namespaces", "Y,Z"};

	(void)state;
	/* File only: lists accumulate within the file; portless peers take the port. */
	assert_int_equal(load_args(cfg, with_flags, 2, &err), 0);
	assert_int_equal(cfg->n_peers, 2);
	assert_int_equal(cfg->peers[0].port, 7000);
	assert_int_equal(cfg->peers[1].port, 8000);
	assert_int_equal(cfg->n_namespaces, 3);
	assert_string_equal(cfg->namespaces[2], "C");
	assert_string_equal(cfg->bridge, "brfile");
	assert_true(cfg->config_path_explicit);
	assert_string_equal(cfg->config_path, path);

	/* Flags beat the file, and --port reaches the file's portless peers. */
	assert_int_equal(load_args(cfg, with_flags, ARRAY_SIZE(with_flags), &err), 0);
	assert_int_equal(cfg->port, 7100);
	assert_int_equal(cfg->peers[0].port, 7100);
	assert_int_equal(cfg->peers[1].port, 8000);
	assert_string_equal(cfg->bridge, "brflag");
	assert_int_equal(cfg->keepalive_ms, 2000);
	assert_int_equal(cfg->hold_time_ms, 6000);

	/* List flags replace the file's lists and accumulate among themselves. */
	assert_int_equal(load_args(cfg, replace_lists, ARRAY_SIZE(replace_lists), &err), 0);
	assert_int_equal(cfg->n_peers, 2);
	assert_true(na_eq(cfg->peers[0].addr, NA4(0x0a010101u)));
	assert_int_equal(cfg->peers[0].port, 7000);
	assert_int_equal(cfg->peers[1].port, 9);
	assert_int_equal(cfg->n_namespaces, 3);
	assert_string_equal(cfg->namespaces[0], "X");
	assert_string_equal(cfg->namespaces[2], "Z");

	/* cfg_load starts again from defaults: nothing leaks from the last load. */
	{
		char *empty = write_temp("");
		const char *args[] = {"--config", empty};

		assert_int_equal(load_args(cfg, args, 2, &err), 0);
		assert_int_equal(cfg->n_peers, 0);
		assert_int_equal(cfg->port, CFG_DEFAULT_PORT);
		assert_int_equal(cfg->n_namespaces, 2);
		unlink(empty);
		free(empty);
	}
	cfg_free(cfg);
	unlink(path);
	free(path);
}

/* Values set by code rather than parsed are blamed on their flag. */
static void test_validate_struct(void **state)
{
	struct cfg *cfg = cfg_new();
	struct cfg_error err;

	(void)state;
	cfg->hold_time_ms = 500;
	assert_int_equal(cfg_validate(cfg, &err), -EINVAL);
	assert_string_equal(err.where, "--hold-time");
	cfg->hold_time_ms = 3000;

	cfg->subnet = (struct prefix){0xac100101u, 24}; /* host bits */
	cfg->subnet_set = true;
	assert_int_equal(cfg_validate(cfg, &err), -EINVAL);
	assert_string_equal(err.where, "--subnet");
	assert_non_null(strstr(err.message, "host bits"));
	cfg->subnet = (struct prefix){0xac100100u, 24};
	assert_int_equal(cfg_validate(cfg, &err), 0);

	cfg->n_peers = CFG_MAX_PEERS + 1;
	assert_int_equal(cfg_validate(cfg, &err), -EINVAL);
	assert_string_equal(err.where, "--peer");
	cfg->n_peers = 1;
	cfg->peers[0] = (struct endpoint){NA4(0xc0a80106u), 0};
	assert_int_equal(cfg_validate(cfg, &err), -EINVAL);
	assert_non_null(strstr(err.message, "not a port number"));
	cfg->peers[0].port = 7470;
	assert_int_equal(cfg_validate(cfg, &err), 0);

	strcpy(cfg->namespaces[1], "NS1");
	assert_int_equal(cfg_validate(cfg, &err), -EINVAL);
	assert_string_equal(err.where, "--namespaces");
	strcpy(cfg->namespaces[1], "NS2");

	cfg->backend = (enum cfg_backend)7;
	assert_int_equal(cfg_validate(cfg, &err), -EINVAL);
	assert_string_equal(err.where, "--backend");
	cfg->backend = CFG_BACKEND_VXLAN;
	assert_int_equal(cfg_validate(cfg, &err), 0);
	cfg_free(cfg);
}

static int validate_v4(const struct cfg *cfg, uint32_t v4, struct cfg_error *err)
{
	struct nodeaddr addr = nodeaddr_v4(v4);

	return cfg_validate_node_ip(cfg, &addr, err);
}

/* A node IP derived at start (node-ip auto) is held to what an explicit
 * one is: outside the cluster range, blamed on the key that was set. */
static void test_validate_node_ip(void **state)
{
	struct cfg *cfg = cfg_new();
	struct cfg_error err;
	const char *cluster[] = {"--config", "/dev/null", "--cluster-cidr", "10.0.0.0/8"};

	(void)state;
	assert_int_equal(validate_v4(cfg, 0xc0a80105u, &err), 0); /* 192.168.1.5 */
	assert_int_equal(validate_v4(cfg, 0xac100305u, &err), -EINVAL);
	assert_string_equal(err.where, "--node-ip");
	assert_string_equal(err.message, "node-ip 172.16.3.5 is inside cluster-cidr 172.16.0.0/16");
	assert_int_equal(validate_v4(cfg, 0x7f000001u, &err), -EINVAL);
	assert_non_null(strstr(err.message, "127.0.0.1 is a loopback address"));

	assert_int_equal(load_args(cfg, cluster, ARRAY_SIZE(cluster), &err), 0);
	assert_int_equal(validate_v4(cfg, 0xac100305u, &err), 0);
	assert_int_equal(validate_v4(cfg, 0x0a010105u, &err), -EINVAL);
	assert_string_equal(err.where, "--cluster-cidr");
	assert_string_equal(err.message, "node-ip 10.1.1.5 is inside cluster-cidr 10.0.0.0/8");
	cfg_free(cfg);
}

/* A peer by name keeps its name (printed back, compared by reload) and is
 * resolved by cfg_resolve_peers, whose address is checked as a given one
 * is: "localhost" resolves to loopback, which no peer may be. */
static void test_peer_names(void **state)
{
	const char *args[] = {"--config",    "/dev/null", "--peer",    "node2:7471", "--peer",
			      "192.168.1.6", "--peer",	  "localhost", "--iface",    "eth1"};
	struct cfg *cfg = cfg_new();
	struct endpoint resolved[3];
	struct cfg_error err;
	char *printed;

	(void)state;
	assert_int_equal(load_args(cfg, args, ARRAY_SIZE(args), &err), 0);
	assert_int_equal(cfg->n_peers, 3);
	assert_string_equal(cfg_peer_host(cfg, 0), "node2");
	assert_int_equal(cfg->peers[0].port, 7471);
	assert_null(cfg_peer_host(cfg, 1));
	assert_string_equal(cfg_peer_host(cfg, 2), "localhost");
	assert_int_equal(cfg->peers[2].port, CFG_DEFAULT_PORT);
	assert_string_equal(cfg->iface, "eth1");
	printed = print_to_string(cfg);
	assert_non_null(strstr(printed, "peer = node2:7471\npeer = 192.168.1.6:7470\n"
					"peer = localhost:7470\n"));
	assert_non_null(strstr(printed, "iface = eth1\n"));
	assert_round_trip(printed);
	free(printed);

	/* node2 may or may not resolve here; localhost does, to loopback. */
	cfg->n_peers = 1;
	memmove(&cfg->peers[0], &cfg->peers[2], sizeof(cfg->peers[0]));
	memmove(cfg->peer_hosts[0], cfg->peer_hosts[2], sizeof(cfg->peer_hosts[0]));
	assert_int_equal(cfg_resolve_peers(cfg, resolved, &err), -EINVAL);
	assert_string_equal(err.where, "--peer");
	assert_non_null(strstr(err.message, "localhost (127.0.0.1) is a loopback address"));
	cfg_free(cfg);
}

/* Loads file text (and no flags) into a fresh config. */
static struct cfg *load_text(const char *text)
{
	char *path = write_temp(text);
	const char *args[] = {"--config", path};
	struct cfg *cfg = cfg_new();
	struct cfg_error err;

	if (load_args(cfg, args, ARRAY_SIZE(args), &err) < 0)
		fail_msg("%s: %s", err.where, err.message);
	unlink(path);
	free(path);
	return cfg;
}

/* Which keys a reload may change comes from the options table: namespaces,
 * log-level, probe-interval and metrics; every other key is named. */
static void test_restart_changes(void **state)
{
	static const char restart_only[] =
	    "peer, port, node-ip, subnet, cluster-cidr, bridge, state-dir, run-dir, keepalive, "
	    "hold-time, restart-time, connect-retry-min, connect-retry-max, handshake-timeout, "
	    "backend, key-file, listen, max-peers, max-connections, dial-rate, accept-rate";
	char names[1024], small[12];
	struct cfg *running = load_text("[nsagent]\n");
	struct cfg *same = load_text("[nsagent]\nnamespaces = NS1,NS2\n");
	struct cfg *reloadable = load_text("[nsagent]\nnamespaces = a,b,c\nlog-level = debug\n"
					   "probe-interval = off\nmetrics = 127.0.0.1:9470\n");
	struct cfg *limits = load_text("[nsagent]\nmax-peers = 8\naccept-rate = 3\n"
				       "log-level = debug\n");
	/* Every file key away from its default. */
	struct cfg *every = load_text(
	    "[nsagent]\npeer = 10.0.0.2\nport = 7500\nnode-ip = 10.0.0.1\n"
	    "subnet = 172.20.3.0/24\ncluster-cidr = 172.20.0.0/16\nnamespaces = web\n"
	    "bridge = nsbr0\nstate-dir = /var/lib/x\nrun-dir = /run/x\nlog-level = debug\n"
	    "keepalive = 500ms\nhold-time = 1500ms\nrestart-time = 90s\n"
	    "connect-retry-min = 250ms\nconnect-retry-max = 2m\nhandshake-timeout = 10s\n"
	    "probe-interval = 500ms\nbackend = vxlan\nkey-file = /etc/nsagent/cluster.key\n"
	    "listen = 10.0.0.1\nmax-peers = 64\nmax-connections = 200\ndial-rate = 3\n"
	    "accept-rate = 7\nmetrics = 127.0.0.1:9470\n");

	(void)state;
	assert_int_equal(cfg_restart_changes(running, same, names, sizeof(names)), 0);
	assert_string_equal(names, "");
	assert_int_equal(cfg_restart_changes(running, reloadable, names, sizeof(names)), 0);
	assert_int_equal(cfg_restart_changes(running, limits, names, sizeof(names)), 2);
	assert_string_equal(names, "max-peers, accept-rate");
	/* every-key.conf changes every key: all but the four are named. */
	assert_int_equal(cfg_restart_changes(running, every, names, sizeof(names)), 21);
	assert_string_equal(names, restart_only);
	/* A short buffer is cut, never overrun; the count stays exact. */
	assert_int_equal(cfg_restart_changes(running, every, small, sizeof(small)), 21);
	assert_string_equal(small, "peer, port,");
	cfg_free(running);
	cfg_free(same);
	cfg_free(reloadable);
	cfg_free(limits);
	cfg_free(every);
}

static void test_peer_limit(void **state)
{
	static char texts[CFG_MAX_PEERS + 1][32];
	const char *args[2 * (CFG_MAX_PEERS + 1) + 2];
	char *empty = write_temp("");
	struct cfg *cfg = cfg_new();
	struct cfg_error err;
	char *argv[2 * (CFG_MAX_PEERS + 1) + 4];
	size_t n = 0;

	(void)state;
	args[n++] = "--config";
	args[n++] = empty;
	for (unsigned i = 0; i <= CFG_MAX_PEERS; i++) {
		snprintf(texts[i], sizeof(texts[i]), "10.1.%u.%u", i / 250, i % 250 + 1);
		args[n++] = "--peer";
		args[n++] = texts[i];
	}
	/* load_args caps at MAX_ARGS, so build argv here. */
	argv[0] = "run";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = (char *)args[i];
	argv[n + 1] = NULL;
	assert_int_equal(cfg_load(cfg, (int)n - 1, argv, &err), 0); /* exactly the maximum */
	assert_int_equal(cfg->n_peers, CFG_MAX_PEERS);
	assert_int_equal(cfg_load(cfg, (int)n + 1, argv, &err), -EINVAL);
	assert_string_equal(err.where, "--peer");
	assert_non_null(strstr(err.message, "more than 256 peers"));
	cfg_free(cfg);
	unlink(empty);
	free(empty);
}

/* A namespace list too long for one line is printed over several lines
 * and still loads back. */
static void test_long_namespace_list(void **state)
{
	struct cfg *cfg = cfg_new();
	struct cfg_error err;
	char *list = NULL, *printed, *empty = write_temp("");
	size_t size = 0;
	FILE *f = open_memstream(&list, &size);
	const char *args[] = {"--config", empty, "--subnet", "172.16.4.0/22", "--namespaces", NULL};
	unsigned lines = 0;

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		fprintf(f, "%sns-%u", i ? "," : "", i);
	fclose(f);
	args[5] = list;
	assert_int_equal(load_args(cfg, args, ARRAY_SIZE(args), &err), 0);
	assert_int_equal(cfg->n_namespaces, 1000);
	printed = print_to_string(cfg);
	for (char *p = printed; (p = strstr(p, "namespaces = ")); p++)
		lines++;
	assert_true(lines > 1);
	assert_round_trip(printed);
	free(printed);
	free(list);
	cfg_free(cfg);
	unlink(empty);
	free(empty);
}

static void test_usage(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	static const char *flags[] = {"--peer",
				      "--port",
				      "--node-ip",
				      "--subnet",
				      "--cluster-cidr",
				      "--namespaces",
				      "--bridge",
				      "--config",
				      "--state-dir",
				      "--run-dir",
				      "--log-level",
				      "--keepalive",
				      "--hold-time",
				      "--restart-time",
				      "--connect-retry-min",
				      "--connect-retry-max",
				      "--handshake-timeout",
				      "--backend"};

	(void)state;
	cfg_usage(out);
	fclose(out);
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		if (!strstr(text, flags[i]))
			fail_msg("usage does not mention %s", flags[i]);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),   cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_golden),     cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_precedence), cmocka_unit_test(test_validate_struct),
	    cmocka_unit_test(test_peer_limit), cmocka_unit_test(test_long_namespace_list),
	    cmocka_unit_test(test_usage),      cmocka_unit_test(test_validate_node_ip),
	    cmocka_unit_test(test_peer_names), cmocka_unit_test(test_restart_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
