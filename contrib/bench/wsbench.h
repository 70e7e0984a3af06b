/*
 * wsbench.h -- what every part of the benchmark shares: the workload
 * sizes, the options (wsbench.c) and the small helpers (util.c).
 */
#ifndef WSBENCH_H
#define WSBENCH_H

#include <stddef.h>
#include <stdint.h>

/* The workload: the sizes the benchmark's figures are defined with. */
#define LAT_N		2000	/* latency samples, 1 ms apart */
#define LAT_WARM	20	/* sent first, not counted */
#define TP_N		200000	/* throughput messages */
#define TP_SIZE		64	/* bytes each */
#define TP_BATCH	1000	/* PUBLISHes per pipelined write */
#define TP_WINDOW	20000	/* published but not yet received, at most */
#define CR_N		2000	/* connection-rate connections */
#define CR_INFLIGHT	50
#define MEM_N1		1000
#define MEM_N2		10000
#define CR_SEQ_N	200	/* then one at a time, for the latency */
#define OPEN_INFLIGHT	100	/* handshakes in flight while filling up */
#define MEM_SETTLE_MS	3500	/* Redis frees idle query buffers after 2 s */
#define SPARES		16	/* spare_children in the generated config */
#define HIS_LAT_N	2000	/* history latency samples, each way */
#define HIS_TP_N	100000	/* history throughput messages, each way */
#define HIS_REPLAY	100	/* messages replayed on connect */
#define HIS_CONN_N	100	/* replay connections, each way */
#define HIS_MEM_CH	100	/* channels for the memory figure, */
#define HIS_MEM_MSGS	100	/* messages each (the default history size) */

#define MS		1000000LL	/* ns */
#define SEC		(1000 * MS)

/* wsbench.c: the options; side 0 is wspubsub, side 1 the raw subscriber. */
extern const char *const side_name[2];
extern const char	*server_bin, *redis_bin, *only, *wrapper;
extern int		 keep_tmp, tp_n;
extern int		 clients_per_child;	/* -c: max_clients_per_child */
#define CONF_EXTRA_MAX	8
extern const char	*conf_extra[CONF_EXTRA_MAX];	/* -x lines */
extern int		 nconf_extra;

/* util.c */
int64_t	now_ns(void);
void	die(const char *, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));
void	note(const char *, ...) __attribute__((format(printf, 1, 2)));
void	*xrealloc(void *, size_t);
int	cmp_i64(const void *, const void *);
/* Nearest-rank percentile of a sorted array. */
int64_t	pct(const int64_t *, size_t n, double q);

#endif /* WSBENCH_H */
