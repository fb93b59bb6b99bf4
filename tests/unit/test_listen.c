/* SPDX-License-Identifier: GPL-2.0-or-later */
/* listen_guard: a listener that runs out of file descriptors pauses (and
 * counts, and backs off) instead of retrying accept() in a busy loop; it
 * resumes and accepts what queued meanwhile once descriptors are free; the
 * owner's hold keeps it disabled and releasing the hold never cuts a
 * back-off short.
 *
 * The descriptor shortage is real: this process lowers its own soft
 * RLIMIT_NOFILE just above the descriptors it holds, with clients already
 * queued on a loopback listener. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "nsagent/listen.h"
#include "nsagent/status.h"

#define CLIENTS 6
#define PAUSED STATUS_ACCEPTS_PAUSED_PEER

struct fixture {
	struct event_base *base;
	struct evconnlistener *listener;
	struct listen_guard *guard;
	int clients[CLIENTS];
	int accepted[CLIENTS];
	unsigned n_accepted;
	struct rlimit saved;
};

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct fixture *f = arg;

	(void)listener;
	(void)sa;
	(void)socklen;
	listen_guard_accepted(f->guard);
	assert_true(f->n_accepted < CLIENTS);
	f->accepted[f->n_accepted++] = fd;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);

	assert_non_null(f);
	status_count_reset();
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &f->saved), 0);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->listener = evconnlistener_new_bind(f->base, on_accept, f,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					      (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(f->listener);
	assert_int_equal(
	    getsockname(evconnlistener_get_fd(f->listener), (struct sockaddr *)&sin, &len), 0);
	f->guard = listen_guard_new(f->base, f->listener, "test listener", PAUSED);
	/* Loopback connects complete into the accept queue at once. */
	for (unsigned i = 0; i < CLIENTS; i++) {
		f->clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(f->clients[i] >= 0);
		assert_int_equal(connect(f->clients[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	*state = f;
	return 0;
}

static void close_accepted(struct fixture *f)
{
	for (unsigned i = 0; i < f->n_accepted; i++)
		close(f->accepted[i]);
	f->n_accepted = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->saved), 0);
	close_accepted(f);
	for (unsigned i = 0; i < CLIENTS; i++)
		close(f->clients[i]);
	listen_guard_free(f->guard);
	evconnlistener_free(f->listener);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* Room for exactly `room` more descriptors in this process. */
static void limit_room(unsigned room)
{
	int probe = dup(0);
	struct rlimit rl;

	assert_true(probe >= 0);
	close(probe);
	/* probe was the lowest free descriptor; everything below is in use
	 * (the fixture opens no descriptor after a gap). */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)probe + room;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void run_ms(struct event_base *base, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void test_pauses_instead_of_spinning(void **state)
{
	struct fixture *f = *state;

	limit_room(2);
	/* Without the guard this loop calls accept() for the whole 450 ms;
	 * with it: 100 ms, then 200 ms, then 400 ms pauses. */
	run_ms(f->base, 450);
	assert_int_equal(f->n_accepted, 2);
	assert_true(listen_guard_backing_off(f->guard));
	assert_int_equal(status_counted(PAUSED), 3);

	/* Descriptors free again: the queued clients are all served. */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->saved), 0);
	close_accepted(f);
	run_ms(f->base, 600);
	assert_int_equal(f->n_accepted, CLIENTS - 2);
	assert_false(listen_guard_backing_off(f->guard));
}

static void test_accept_resets_backoff(void **state)
{
	struct fixture *f = *state;
	uint64_t paused;

	limit_room(1);
	run_ms(f->base, 350); /* pauses from 0, 100 and 300 ms (100, 200, 400 ms) */
	assert_int_equal(f->n_accepted, 1);
	paused = status_counted(PAUSED);
	assert_int_equal(paused, 3);
	/* At 700 ms one accept succeeds (a descriptor was closed), then the
	 * shortage is back: the pauses start again from 100 ms (at 700 and
	 * 800 ms), where without the reset the next would be 800 ms long. */
	close_accepted(f);
	run_ms(f->base, 550);
	assert_int_equal(f->n_accepted, 1);
	assert_int_equal(status_counted(PAUSED), paused + 2);
}

static void test_hold(void **state)
{
	struct fixture *f = *state;

	listen_guard_hold(f->guard, true);
	run_ms(f->base, 50);
	assert_int_equal(f->n_accepted, 0);
	listen_guard_hold(f->guard, false);
	run_ms(f->base, 50);
	assert_int_equal(f->n_accepted, CLIENTS);
	assert_int_equal(status_counted(PAUSED), 0);
}

static void test_release_keeps_backoff(void **state)
{
	struct fixture *f = *state;

	limit_room(0);
	run_ms(f->base, 20);
	assert_true(listen_guard_backing_off(f->guard));
	assert_int_equal(status_counted(PAUSED), 1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &f->saved), 0);
	/* The owner's cap lifts during the back-off: still paused. */
	listen_guard_hold(f->guard, true);
	listen_guard_hold(f->guard, false);
	run_ms(f->base, 40);
	assert_int_equal(f->n_accepted, 0);
	run_ms(f->base, 100);
	assert_int_equal(f->n_accepted, CLIENTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pauses_instead_of_spinning, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_accept_resets_backoff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_keeps_backoff, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
