/*
 * figures.h -- the figures the benchmark measures, each for both sides,
 * and how they are reported (report.c); the phases that measure them,
 * one file per figure family (latency.c, throughput.c, connrate.c,
 * memory.c, history.c, upstream.c).  Figure 6 (history) is measured
 * through wspubsub on both sides: side 0 with history, side 1 its
 * baseline; figure 7 (upstream) side 0 with upstream_stream set, side 1
 * without it (idle cost) or Redis alone (rate); figure 8 (compression,
 * compress.c) side 0 with permessage-deflate offered, side 1 without.
 */
#ifndef WSBENCH_FIGURES_H
#define WSBENCH_FIGURES_H

/* T_DIFF_LE: side 0 at most limit above side 1 (figure 8). */
enum tgt { T_NONE, T_RATIO_LE, T_RATIO_GE, T_WS_LE, T_WS_LT, T_WS_GE,
    T_ZERO, T_DIFF_LE };
struct figure {
	const char	*key, *label, *fmt;
	enum tgt	 tgt;
	double		 limit;
	const char	*target;
	int		 raw_na;	/* no raw counterpart */
	int		 no_ratio;
	double		 v[2];		/* NAN: not measured or failed */
	int		 failed[2];
};
enum {
	F_LAT_P50, F_LAT_P90, F_LAT_P99, F_LAT_MAX, F_LAT_LOST,
	F_TP_RATE, F_TP_LOST,
	F_CR_RATE, F_CR_MED, F_CR_P99, F_CR_SEQ, F_CR_SEQ99, F_CR_CPU,
	F_CR_FORK, F_CR_FORKCPU, F_CR_CPUF, F_CR_RATEF,
	F_M1_PSS, F_M1_REDIS, F_M1_AVAIL, F_M1_KERN, F_M1_KOBJ,
	F_M2_PSS, F_M2_REDIS, F_M2_AVAIL, F_M2_KERN, F_M2_KOBJ,
	F_FO1_MS, F_FO1_LOST, F_FO2_MS, F_FO2_LOST,
	F_HL_P50, F_HL_P99, F_HL_LOST, F_HLR_P50, F_HLR_P99,
	F_HT_RATE, F_HT_LOST, F_HC_RATE,
	F_HR_P50, F_HR_P99, F_HR_PER, F_HM_BYTES,
	F_UP_RATE, F_UP_LOST, F_UP_RCONN, F_UP_PSS,
	F_ZL_P50, F_ZL_P99, F_ZL_LOST, F_ZL_WIRE, F_ZM_IDLE, F_ZM_AFTER,
	F_COUNT
};

/* report.c */
extern struct figure	 fig[F_COUNT];
extern int		 any_failed;

/* A phase could not complete: say so, mark the figures, go on. */
void	phase_fail(int side, const int *figs, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* The targets that depend on max_clients_per_child (-c). */
void	set_targets(int clients_per_child);
void	print_table(const char *title);
void	write_tsv(const char *path);
/* -m: the table of medians of earlier runs' TSV files. */
int	medians(int nfiles, char **files);

/* The phases; side 0 is wspubsub, side 1 the raw subscriber. */
void	fig_latency(int side);			/* latency.c */
void	fig_throughput(int side);		/* throughput.c */
struct conn;
void	tp_run(struct conn *, int n, int fcall, int side, int f_rate,
	    int f_lost, const char *name);
void	fork_floor(void);			/* connrate.c */
void	cr_alone(int side);
void	fig_connrate(int side);
void	cr_floor_ratios(void);
void	fig_memory_fanout(int side, int do_mem, int do_fan);	/* memory.c */
void	fig_history(void);			/* history.c */
void	fig_upstream(void);			/* upstream.c */
void	fig_compression(void);			/* compress.c */

#endif /* WSBENCH_FIGURES_H */
