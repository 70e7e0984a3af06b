/*
 * wsbench.c -- the wspubsub benchmark (`make bench`).
 *
 * Starts a private redis-server and a private wspubsub on free loopback
 * ports, then measures every figure twice in the same run: through
 * wspubsub (a real RFC 6455 client: random key, Sec-WebSocket-Accept
 * checked, masked frames, incremental frame parser) and straight from
 * Redis with a plain hiredis SUBSCRIBE client (the floor).  Prints one
 * table; see contrib/bench/README.md for how to read it.
 *
 * One thread, one epoll set, non-blocking sockets everywhere; every loop
 * is bounded in count and in time and prints FAILED rather than hang.
 * Figures come from the wire and /proc, never from the server's counters.
 *
 * This file holds the options and runs the phases in order; the rest is
 * in one file per part (see contrib/bench/README.md).
 *
 *   wsbench [-s SERVER] [-r REDIS_SERVER] [-c CLIENTS_PER_CHILD] [-o FIGS]
 *           [-n THROUGHPUT_MSGS] [-t TSV_OUT] [-w "WRAPPER CMD"] [-k]
 *   wsbench -m FILE.tsv...      table of the medians of earlier runs
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <hiredis.h>

#include "conn.h"
#include "figures.h"
#include "servers.h"
#include "wsbench.h"

const char *const side_name[2] = { "wspubsub", "raw Redis subscriber" };

const char *server_bin = "./wspubsub", *redis_bin = "redis-server";
const char *only = "12345678", *wrapper;
int keep_tmp, tp_n = TP_N;
int clients_per_child = 1;	/* -c: max_clients_per_child, the default */
const char *conf_extra[CONF_EXTRA_MAX];	/* -x: more configuration lines */
int nconf_extra;
static const char *tsv_path;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: wsbench [-k] [-s server] [-r redis-server] [-c N]\n"
	    "               [-o figures] [-n throughput-msgs] [-t out.tsv]\n"
	    "               [-w wrapper] [-x 'key value'] ...\n"
	    "       wsbench -m run1.tsv run2.tsv ...\n"
	    "  -c  max_clients_per_child in the server's configuration\n"
	    "      (default 1: a new process per client)\n"
	    "  -o  figures to run, a subset of 12345678 (default all)\n"
	    "  -w  command line put before the server's (e.g. valgrind ...)\n"
	    "  -x  a line added to the server's configuration (repeatable;\n"
	    "      e.g. -x 'sandbox no')\n"
	    "  -k  keep the temporary directory with the logs\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	struct sigaction sa;
	char la0[64], la1[64], title[768], extra[256];
	int ch, side, i, medmode = 0;
	size_t n;
	int64_t t_start;
	unsigned limit_s = 280;

	while ((ch = getopt(argc, argv, "c:kmn:o:r:s:t:w:x:T:")) != -1)
		switch (ch) {
		case 'c': clients_per_child = atoi(optarg); break;
		case 'k': keep_tmp = 1; break;
		case 'm': medmode = 1; break;
		case 'n': tp_n = atoi(optarg); break;
		case 'o': only = optarg; break;
		case 'r': redis_bin = optarg; break;
		case 's': server_bin = optarg; break;
		case 't': tsv_path = optarg; break;
		case 'w': wrapper = optarg; break;
		case 'x':
			if (nconf_extra == CONF_EXTRA_MAX)
				usage();
			conf_extra[nconf_extra++] = optarg;
			break;
		case 'T': limit_s = (unsigned)atoi(optarg); break;
		default: usage();
		}
	if (medmode)
		return optind < argc ? medians(argc - optind, argv + optind) :
		    (usage(), 2);
	/* The range max_clients_per_child accepts (wspubsub.conf(5)). */
	if (optind != argc || tp_n <= 0 || clients_per_child < 1 ||
	    clients_per_child > 1000000)
		usage();
	if (access(server_bin, X_OK) != 0)
		die("%s: %s (run make first)", server_bin, strerror(errno));
	for (i = 0; i < F_COUNT; i++)
		fig[i].v[0] = fig[i].v[1] = NAN;
	set_targets(clients_per_child);

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Every connection is a descriptor here, in the master and Redis. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < MEM_N2 + 1000 && strpbrk(only, "45"))
		note("open-files limit %lu is too low for %d connections",
		    (unsigned long)rl.rlim_cur, MEM_N2);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	alarm(limit_s);		/* the watchdog: make bench stays bounded */

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wsbench.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));

	loadavg(la0, sizeof(la0));
	t_start = now_ns();
	start_redis();
	start_wspubsub();
	pub_start();
	note("redis-server on %d, %s on %d (%d spare children, "
	    "max_clients_per_child %d), open files %lu, load average %s",
	    redis_port, server_bin, ws_port, SPARES, clients_per_child,
	    (unsigned long)rl.rlim_cur, la0);

	if (strchr(only, '3'))
		fork_floor();	/* first, while this process is small */
	/* Each figure: wspubsub first, then the raw subscriber. */
	for (side = 0; side < 2; side++)
		if (strchr(only, '1')) {
			note("1. latency (%s)", side_name[side]);
			fig_latency(side);
		}
	for (side = 0; side < 2; side++)
		if (strchr(only, '2')) {
			note("2. throughput (%s)", side_name[side]);
			fig_throughput(side);
		}
	for (side = 0; side < 2; side++)
		if (strchr(only, '3')) {
			note("3. connection rate (%s)", side_name[side]);
			cr_alone(side);
			fig_connrate(side);
		}
	if (strchr(only, '3'))
		cr_floor_ratios();
	/* Both sides through wspubsub: with history, then its baseline. */
	if (strchr(only, '6')) {
		note("6. history (wspubsub_publish, wspubsub.v1)");
		fig_history();
	}
	/* Both sides through wspubsub: deflate offered, then not. */
	if (strchr(only, '8')) {
		note("8. compression (permessage-deflate)");
		fig_compression();
	}
	/*
	 * Raw first here: a "before" snapshot taken just after wspubsub's
	 * 10,000 processes exit would see the kernel still freeing them.
	 */
	for (side = 1; side >= 0; side--)
		if (strchr(only, '4') || strchr(only, '5')) {
			note("4./5. memory and fan-out (%s)", side_name[side]);
			fig_memory_fanout(side, strchr(only, '4') != NULL,
			    strchr(only, '5') != NULL);
		}

	/* Last: it restarts wspubsub, with upstream_stream and without. */
	if (strchr(only, '7')) {
		note("7. client messages to a stream (upstream_stream)");
		fig_upstream();
	}

	loadavg(la1, sizeof(la1));
	extra[0] = '\0';
	for (i = 0, n = 0; i < nconf_extra && n < sizeof(extra); i++)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, ", %s",
		    conf_extra[i]);
	snprintf(title, sizeof(title), "wspubsub benchmark, "
	    "max_clients_per_child %d%s: %ld CPUs, %.0f s; load average %s at "
	    "start, %s at end", clients_per_child, extra,
	    sysconf(_SC_NPROCESSORS_ONLN), (now_ns() - t_start) / 1e9, la0,
	    la1);
	print_table(title);
	if (tsv_path)
		write_tsv(tsv_path);
	if (any_failed)
		keep_tmp = 1;
	redisFree(pub.rc);
	redisFree(adm);
	cleanup();
	return any_failed ? 1 : 0;
}
