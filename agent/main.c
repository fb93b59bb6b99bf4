/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the nsagent command line. A table of subcommands in the style of
 * wireguard-tools' wg.c: each entry has a name, a one-line summary, its
 * help and a function taking (argc, argv) with argv[0] the subcommand name.
 * `run` is the default, so `nsagent --peer X` is `nsagent run --peer X`.
 *
 * This file only dispatches and prints: parsing and validation live in
 * src/config.c, where tests reach them. Exit status: 0 success, 1 the
 * operation failed, 2 the command line or config was wrong. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsagent/config.h"
#include "nsagent/ctl.h"
#include "nsagent/daemon.h"
#include "nsagent/kern.h"
#include "nsagent/log.h"
#include "nsagent/tls.h"
#include "nsagent/wg.h"

#ifndef NSAGENT_VERSION
#error "NSAGENT_VERSION must be defined by the build"
#endif

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NOT_RUNNING 3 /* client commands: no agent answers */

struct command {
	const char *name;
	const char *synopsis; /* arguments after the command name */
	const char *summary;
	bool config_flags; /* takes the run flags (help lists them) */
	int (*run)(int argc, char **argv);
};

static int cmd_run(int argc, char **argv);
static int cmd_down(int argc, char **argv);
static int cmd_check_config(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_ns(int argc, char **argv);
static int cmd_reload(int argc, char **argv);
static int cmd_rotate_key(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_genkey(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"run", "[OPTIONS]", "run the agent in the foreground (the default command)", true, cmd_run},
    {"down", "[OPTIONS]", "remove what nsagent made here: bridge, namespaces, routes, nft table",
     true, cmd_down},
    {"check-config", "[OPTIONS]",
     "check the config file and flags, then print the effective config", true, cmd_check_config},
    {"status", "[--json] [--run-dir DIR] [--config FILE]",
     "show the running agent: node, namespaces, peers (exit 1 when unhealthy, 3 when not "
     "running)",
     false, cmd_status},
    {"ns", "add|del NAME [--run-dir DIR] [--config FILE]",
     "add or remove a namespace on the running agent (kept across restarts)", false, cmd_ns},
    {"reload", "[--run-dir DIR] [--config FILE]",
     "make the running agent re-read its config (as SIGHUP does) and report the result", false,
     cmd_reload},
    {"rotate-key", "[--run-dir DIR] [--config FILE]",
     "give the running agent a new WireGuard key pair, advertised to every peer at once", false,
     cmd_rotate_key},
    {"genkey", "",
     "print a new random cluster key for --key-file (umask 077; nsagent genkey > FILE)", false,
     cmd_genkey},
    {"version", "", "print the version", false, cmd_version},
    {"help", "[COMMAND]", "show help for nsagent or for one command", false, cmd_help},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: nsagent [COMMAND] [OPTIONS]\n\n"
		     "Routed networking for namespaces across a small cluster.\n"
		     "Without a command, nsagent runs the agent: nsagent --peer 192.168.1.6\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nnsagent COMMAND --help shows the options of a command.\n");
}

static void command_help(const struct command *cmd, FILE *out)
{
	fprintf(out, "Usage: nsagent %s%s%s\n\n%s\n", cmd->name, cmd->synopsis[0] ? " " : "",
		cmd->synopsis, cmd->summary);
	if (cmd->config_flags) {
		fputc('\n', out);
		cfg_usage(out);
	}
}

static bool is_help_flag(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (is_help_flag(argv[i]))
			return true;
	}
	return false;
}

/* Loads and validates the config for commands that take the run flags;
 * prints the error and returns NULL when it is wrong. */
static struct cfg *load_config(int argc, char **argv)
{
	struct cfg *cfg = cfg_new();
	struct cfg_error err;

	if (cfg_load(cfg, argc, argv, &err) < 0) {
		fprintf(stderr, "nsagent: %s: %s\n", err.where, err.message);
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

static int cmd_run(int argc, char **argv)
{
	struct cfg *cfg;
	int ret;

	/* Before anything else: a signal that arrives while the agent starts
	 * must wait for its handler, not end the process. */
	daemon_block_signals();
	cfg = load_config(argc, argv);
	if (!cfg)
		return EXIT_USAGE;
	log_set_level(cfg->log_level);
	daemon_set_argv(argc, argv);
	ret = daemon_run(cfg);
	cfg_free(cfg);
	return ret;
}

static int cmd_down(int argc, char **argv)
{
	struct cfg *cfg = load_config(argc, argv);
	struct kern_error err = {{0}};
	int ret = EXIT_OK;
	pid_t pid = 0;

	if (!cfg)
		return EXIT_USAGE;
	log_set_level(cfg->log_level);
	ret = daemon_stop_running(cfg, 5000, &pid);
	/* No agent to stop is no failure: down still removes what one made. */
	if (ret == -ESRCH && pid)
		fprintf(stderr,
			"nsagent: no agent is running here: the pid file in %s names pid %ld, "
			"which does not hold it (left by an agent that is gone); pid %ld was "
			"not signalled\n",
			cfg->run_dir, (long)pid, (long)pid);
	if (ret < 0 && ret != -ESRCH) {
		if (ret == -ETIMEDOUT)
			fprintf(
			    stderr,
			    "nsagent: the running agent (pid file in %s) did not exit within 5 s "
			    "of being asked to leave; nothing was removed\n",
			    cfg->run_dir);
		else if (ret == -EINVAL)
			fprintf(stderr,
				"nsagent: the pid file in %s is held by a process but names no "
				"pid; nothing was signalled or removed\n",
				cfg->run_dir);
		else
			fprintf(stderr,
				"nsagent: cannot stop the running agent (pid file in %s): %s\n",
				cfg->run_dir, strerror(-ret));
		cfg_free(cfg);
		return EXIT_FAILED;
	}
	ret = EXIT_OK;
	/* A WireGuard process left by an agent that is gone (a leaving agent
	 * stops its own): the device goes with it. */
	{
		char msg[512];

		if (wg_stop_process(NULL, KERN_WG_IFNAME, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "nsagent: %s\n", msg);
			ret = EXIT_FAILED;
		}
	}
	if (kern_down(cfg->bridge, &err) < 0) {
		fprintf(stderr, "nsagent: %s\n", err.message);
		ret = EXIT_FAILED;
	}
	cfg_free(cfg);
	return ret;
}

static int cmd_check_config(int argc, char **argv)
{
	struct cfg *cfg = load_config(argc, argv);

	uint8_t key[TLS_KEY_LEN];
	char msg[512];

	if (!cfg)
		return EXIT_USAGE;
	/* The agent refuses a key file it cannot trust: say so now, not at start. */
	if (cfg->key_file && tls_key_load(cfg->key_file, key, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "nsagent: --key-file: %s\n", msg);
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	tls_wipe(key, sizeof(key));
	cfg_print(cfg, stdout);
	cfg_free(cfg);
	return EXIT_OK;
}

/* ---- client commands: talk to the running agent over its control socket ---- */

struct client_args {
	bool json;
	const char *run_dir;
	const char *config;
	const char *positional[2];
	unsigned n_positional;
};

/* Takes "--json" (when json_ok), "--run-dir DIR", "--config FILE" (also as
 * --flag=VALUE) and up to max_positional other words. */
static int parse_client_args(int argc, char **argv, bool json_ok, unsigned max_positional,
			     struct client_args *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		const char **slot = NULL;

		if (json_ok && strcmp(arg, "--json") == 0) {
			out->json = true;
			continue;
		}
		if (name_len == strlen("--run-dir") && strncmp(arg, "--run-dir", name_len) == 0)
			slot = &out->run_dir;
		else if (name_len == strlen("--config") && strncmp(arg, "--config", name_len) == 0)
			slot = &out->config;
		if (slot) {
			if (eq) {
				*slot = eq + 1;
			} else if (i + 1 < argc) {
				*slot = argv[++i];
			} else {
				fprintf(stderr, "nsagent: %s: %s: missing value\n", argv[0], arg);
				return -1;
			}
			continue;
		}
		if (arg[0] == '-' || out->n_positional >= max_positional) {
			fprintf(stderr, "nsagent: %s: unexpected argument '%s'\n", argv[0], arg);
			return -1;
		}
		out->positional[out->n_positional++] = arg;
	}
	return 0;
}

/* The agent's run dir: --run-dir, else the config file's run-dir when the
 * file loads, else the default. A broken config file must not stop
 * `nsagent reload` from reaching the agent, which reports what is wrong. */
static char *client_run_dir(const struct client_args *args)
{
	char *argv[] = {"client", "--config", (char *)args->config, NULL};
	struct cfg *cfg;
	struct cfg_error err;
	char *dir;

	if (args->run_dir)
		return strdup(args->run_dir);
	cfg = cfg_new();
	if (cfg_load(cfg, args->config ? 3 : 1, argv, &err) == 0)
		dir = strdup(cfg->run_dir);
	else
		dir = strdup(CFG_DEFAULT_RUN_DIR);
	cfg_free(cfg);
	return dir;
}

/* Sends one request; prints why when no reply came. Returns an exit status
 * (EXIT_OK when a reply is in *reply, whatever its result). */
static int client_call(const struct client_args *args, enum ctl_op op, const char *name,
		       struct ctl_reply *reply)
{
	char *run_dir = client_run_dir(args), err[512];
	int ret;

	if (!run_dir) {
		fprintf(stderr, "nsagent: out of memory\n");
		return EXIT_FAILED;
	}
	ret = ctl_call(run_dir, op, name, reply, err, sizeof(err));
	free(run_dir);
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		fprintf(stderr, "nsagent: no agent is running (%s)\n", err);
		return EXIT_NOT_RUNNING;
	}
	if (ret < 0) {
		fprintf(stderr, "nsagent: %s\n", err);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
	struct client_args args;
	struct ctl_reply reply;
	int ret;

	if (parse_client_args(argc, argv, true, 0, &args) < 0)
		return EXIT_USAGE;
	ret = client_call(&args, CTL_OP_STATUS, NULL, &reply);
	if (ret != EXIT_OK)
		return ret;
	if (reply.result != CTL_OK || !reply.has_status) {
		fprintf(stderr, "nsagent: status: %s\n",
			reply.message[0] ? reply.message : "the agent sent no status");
		status_clear(&reply.status);
		return EXIT_FAILED;
	}
	if (args.json)
		status_print_json(&reply.status, stdout);
	else
		status_print_text(&reply.status, stdout);
	ret = reply.status.healthy ? EXIT_OK : EXIT_FAILED;
	status_clear(&reply.status);
	return ret;
}

static int cmd_ns(int argc, char **argv)
{
	struct client_args args;
	struct ctl_reply reply;
	const char *problem;
	enum ctl_op op;
	int ret;

	if (parse_client_args(argc, argv, false, 2, &args) < 0)
		return EXIT_USAGE;
	if (args.n_positional != 2 ||
	    (strcmp(args.positional[0], "add") != 0 && strcmp(args.positional[0], "del") != 0)) {
		fprintf(stderr, "nsagent: ns: expected 'add NAME' or 'del NAME'\n");
		return EXIT_USAGE;
	}
	op = strcmp(args.positional[0], "add") == 0 ? CTL_OP_NS_ADD : CTL_OP_NS_DEL;
	/* The agent checks the name too; checking here names the problem even
	 * when no agent runs. */
	problem = cfg_namespace_name_problem(args.positional[1]);
	if (problem) {
		fprintf(stderr, "nsagent: ns %s: namespace name '%s' %s\n", args.positional[0],
			args.positional[1], problem);
		return EXIT_USAGE;
	}
	ret = client_call(&args, op, args.positional[1], &reply);
	if (ret != EXIT_OK)
		return ret;
	status_clear(&reply.status);
	if (reply.result != CTL_OK) {
		fprintf(stderr, "nsagent: ns %s: %s\n", args.positional[0], reply.message);
		return reply.result == CTL_INVALID ? EXIT_USAGE : EXIT_FAILED;
	}
	printf("%s\n", reply.message);
	return EXIT_OK;
}

/* The reply of a one-shot request (reload, rotate-key): its message on
 * stdout, or on stderr after what, with the exit code for the result. */
static int print_reply(int ret, struct ctl_reply *reply, const char *what)
{
	if (ret != EXIT_OK)
		return ret;
	status_clear(&reply->status);
	if (reply->result != CTL_OK) {
		fprintf(stderr, "nsagent: %s: %s\n", what, reply->message);
		return EXIT_FAILED;
	}
	printf("%s\n", reply->message);
	return EXIT_OK;
}

static int cmd_rotate_key(int argc, char **argv)
{
	struct client_args args;
	struct ctl_reply reply;

	if (parse_client_args(argc, argv, false, 0, &args) < 0)
		return EXIT_USAGE;
	return print_reply(client_call(&args, CTL_OP_ROTATE_KEY, NULL, &reply), &reply,
			   "rotate-key");
}

static int cmd_reload(int argc, char **argv)
{
	struct client_args args;
	struct ctl_reply reply;
	int ret;

	if (parse_client_args(argc, argv, false, 0, &args) < 0)
		return EXIT_USAGE;
	ret = client_call(&args, CTL_OP_RELOAD, NULL, &reply);
	return print_reply(ret, &reply, "reload");
}

static int no_arguments(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "nsagent: %s: unexpected argument '%s'\n", argv[0], argv[1]);
		return -1;
	}
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	if (no_arguments(argc, argv) < 0)
		return EXIT_USAGE;
	printf("nsagent %s\n", NSAGENT_VERSION);
	return EXIT_OK;
}

static int cmd_genkey(int argc, char **argv)
{
	char key[TLS_KEY_TEXT_LEN];

	if (no_arguments(argc, argv) < 0)
		return EXIT_USAGE;
	if (tls_key_generate(key) < 0) {
		fprintf(stderr, "nsagent: genkey: the random generator failed\n");
		return EXIT_FAILED;
	}
	printf("%s\n", key);
	tls_wipe(key, sizeof(key));
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 2) {
		fprintf(stderr, "nsagent: help: unexpected argument '%s'\n", argv[2]);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		fprintf(stderr, "nsagent: help: unknown command '%s'\n", argv[1]);
		return EXIT_USAGE;
	}
	command_help(cmd, stdout);
	return EXIT_OK;
}

static int dispatch(const struct command *cmd, int argc, char **argv)
{
	if (wants_help(argc, argv)) {
		command_help(cmd, stdout);
		return EXIT_OK;
	}
	return cmd->run(argc, argv);
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2 || argv[1][0] == '-') {
		/* Bare `nsagent --help` is about nsagent, not about `run`. */
		if (argc >= 2 && is_help_flag(argv[1])) {
			usage(stdout);
			return EXIT_OK;
		}
		if (argc == 2 && strcmp(argv[1], "--version") == 0)
			return cmd_version(1, (char *[]){"version", NULL});
		/* argv[0] stands in for the command name that cfg_load skips. */
		return dispatch(find_command("run"), argc, argv);
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		fprintf(stderr, "nsagent: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return dispatch(cmd, argc - 1, argv + 1);
}
