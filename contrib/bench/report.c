/*
 * report.c -- the figures, their targets, and the table: printed at the
 * end of a run, written as TSV (-t), or made of the medians of earlier
 * runs' TSV files (-m).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "wsbench.h"

int any_failed;

/* The TSV line that records -c, before the figures. */
#define TSV_CPC	"max_clients_per_child"

struct figure fig[F_COUNT] = {
	[F_LAT_P50] = { "lat_p50", "1 latency p50 (us)", "%.0f",
	    T_RATIO_LE, 1.5, "<= 1.5x raw", 0, 0, {0}, {0} },
	[F_LAT_P90] = { "lat_p90", "1 latency p90 (us)", "%.0f",
	    T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_LAT_P99] = { "lat_p99", "1 latency p99 (us)", "%.0f",
	    T_RATIO_LE, 1.3, "<= 1.3x raw", 0, 0, {0}, {0} },
	[F_LAT_MAX] = { "lat_max", "1 latency max (us)", "%.0f",
	    T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_LAT_LOST] = { "lat_lost", "1 latency lost (of 2000)", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_TP_RATE] = { "tp_rate", "2 throughput 64 B (msg/s)", "%.0f",
	    T_RATIO_GE, 0.85, ">= 0.85x raw", 0, 0, {0}, {0} },
	[F_TP_LOST] = { "tp_lost", "2 throughput lost (msgs)", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	/* set_targets() sets those of F_CR_RATE, F_CR_CPUF, F_CR_RATEF. */
	[F_CR_RATE] = { "cr_rate", "3 handshakes/s (2000, 50 in flight)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_CR_MED] = { "cr_first_med", "3 connect->1st msg p50, loaded (us)",
	    "%.0f", T_NONE, 0, "(>= 50/rate)", 0, 0, {0}, {0} },
	[F_CR_P99] = { "cr_first_p99", "3 connect->1st msg p99, loaded (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_CR_SEQ] = { "cr_seq_med", "3 connect->1st msg p50, alone (us)",
	    "%.0f", T_WS_LT, 1000, "< 1000 us", 0, 0, {0}, {0} },
	[F_CR_SEQ99] = { "cr_seq_p99", "3 connect->1st msg p99, alone (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_CR_CPU] = { "cr_cpu", "3 server CPU/conn, all processes (us)",
	    "%.0f", T_NONE, 0, "", 1, 1, {0}, {0} },
	[F_CR_FORK] = { "cr_fork", "3 fork+exit+reap/s, one core (floor)",
	    "%.0f", T_NONE, 0, "(see README)", 1, 1, {0}, {0} },
	[F_CR_FORKCPU] = { "cr_fork_cpu",
	    "3 fork+exit+reap CPU, both sides (us)", "%.0f", T_NONE, 0,
	    "(floor)", 1, 1, {0}, {0} },
	[F_CR_CPUF] = { "cr_cpu_floor", "3 server CPU/conn / fork floor (x)",
	    "%.2f", T_NONE, 0, "", 1, 1, {0}, {0} },
	[F_CR_RATEF] = { "cr_rate_floor", "3 handshakes/s / fork floor (x)",
	    "%.2f", T_NONE, 0, "", 1, 1, {0}, {0} },
	[F_M1_PSS] = { "m1_pss", "4 Pss/conn @1000, server (KiB)", "%.1f",
	    T_WS_LE, 128, "<= 128 KiB", 1, 1, {0}, {0} },
	[F_M1_REDIS] = { "m1_redis", "4 redis-server Pss/conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M1_AVAIL] = { "m1_avail", "4 MemAvailable drop/conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M1_KERN] = { "m1_kern", "4 drop - all Pss, /conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_M1_KOBJ] = { "m1_kobj", "4 slab+stacks+ptables/conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_M2_PSS] = { "m2_pss", "4 Pss/conn @10000, server (KiB)", "%.1f",
	    T_WS_LE, 128, "<= 128 KiB", 1, 1, {0}, {0} },
	[F_M2_REDIS] = { "m2_redis", "4 redis-server Pss/conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M2_AVAIL] = { "m2_avail", "4 MemAvailable drop/conn @10000 (KiB)",
	    "%.1f", T_WS_LE, 224, "<= 224 KiB", 0, 0, {0}, {0} },
	[F_M2_KERN] = { "m2_kern", "4 drop - all Pss, /conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_M2_KOBJ] = { "m2_kobj", "4 slab+stacks+ptables/conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_FO1_MS] = { "fo1_ms", "5 fan-out 1000 users (ms)", "%.2f",
	    T_RATIO_LE, 3.0, "<= 3x raw", 0, 0, {0}, {0} },
	[F_FO1_LOST] = { "fo1_lost", "5 fan-out 1000 lost", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_FO2_MS] = { "fo2_ms", "5 fan-out 10000 users (ms)", "%.2f",
	    T_RATIO_LE, 5.0, "<= 5x raw", 0, 0, {0}, {0} },
	[F_FO2_LOST] = { "fo2_lost", "5 fan-out 10000 lost", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	/* 6: both sides through wspubsub, history / its baseline. */
	[F_HL_P50] = { "hist_lat_p50", "6 history latency p50 (us)", "%.0f",
	    T_RATIO_LE, 1.15, "<= 1.15x", 0, 0, {0}, {0} },
	[F_HL_P99] = { "hist_lat_p99", "6 history latency p99 (us)", "%.0f",
	    T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_HL_LOST] = { "hist_lat_lost", "6 history latency lost (of 2000)",
	    "%.0f", T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_HLR_P50] = { "hist_lat_redis_p50", "6 Redis alone latency p50 (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_HLR_P99] = { "hist_lat_redis_p99", "6 Redis alone latency p99 (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_HT_RATE] = { "hist_tp_rate", "6 history throughput 64 B (msg/s)",
	    "%.0f", T_RATIO_GE, 0.80, ">= 0.80x", 0, 0, {0}, {0} },
	[F_HT_LOST] = { "hist_tp_lost", "6 history throughput lost (msgs)",
	    "%.0f", T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_HC_RATE] = { "hist_calls_rate",
	    "6 Redis alone calls/s, no subscriber", "%.0f", T_NONE, 0, "",
	    0, 0, {0}, {0} },
	[F_HR_P50] = { "hist_replay_p50", "6 replay 100 on connect p50 (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_HR_P99] = { "hist_replay_p99", "6 replay 100 on connect p99 (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_HR_PER] = { "hist_replay_per_msg",
	    "6 replay, p50 cost per message (us)", "%.1f", T_NONE, 0, "",
	    1, 1, {0}, {0} },
	[F_HM_BYTES] = { "hist_mem_per_msg", "6 Redis used_memory/msg kept (B)",
	    "%.0f", T_NONE, 0, "(payload 64B)", 0, 1, {0}, {0} },
	/* 7: upstream on; the other column Redis alone, or upstream off. */
	[F_UP_RATE] = { "up_rate", "7 one client to the stream (msg/s)",
	    "%.0f", T_NONE, 0, "(vs XADD alone)", 0, 0, {0}, {0} },
	[F_UP_LOST] = { "up_lost", "7 to the stream lost (of 50000)", "%.0f",
	    T_ZERO, 0, "0", 1, 1, {0}, {0} },
	[F_UP_RCONN] = { "up_redis_conns", "7 Redis conns/idle conn @1000",
	    "%.2f", T_WS_LE, 1.0, "<= 1", 0, 0, {0}, {0} },
	[F_UP_PSS] = { "up_pss", "7 Pss/idle conn @1000, server (KiB)",
	    "%.1f", T_RATIO_LE, 1.1, "<= 1.1x off", 0, 0, {0}, {0} },
	/* 8: both sides through wspubsub, deflate offered / not. */
	[F_ZL_P50] = { "zlib_lat_p50", "8 latency p50, 2 KiB JSON (us)",
	    "%.0f", T_RATIO_LE, 1.2, "<= 1.2x", 0, 0, {0}, {0} },
	[F_ZL_P99] = { "zlib_lat_p99", "8 latency p99, 2 KiB JSON (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_ZL_LOST] = { "zlib_lat_lost", "8 latency lost (of 2000)", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_ZL_WIRE] = { "zlib_wire", "8 bytes on the wire/msg, 2 KiB JSON",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_ZM_IDLE] = { "zlib_pss_idle", "8 Pss/conn @1000 idle (KiB)", "%.1f",
	    T_DIFF_LE, 8, "<= +8 KiB", 0, 1, {0}, {0} },
	[F_ZM_AFTER] = { "zlib_pss_after",
	    "8 Pss/conn @1000 after 1 msg (KiB)", "%.1f", T_DIFF_LE, 8,
	    "<= +8 KiB", 0, 1, {0}, {0} },
};

/*
 * What a connection may cost depends on whether the server forks for it.
 * With a process per client (1), against the fork+exit+reap floor of the
 * same run: CPU per connection at most twice a fork's, and handshakes at
 * least one core's forks.  With reused children (the targets are those
 * set for 1000, for any N > 1), against the raw subscriber's handshakes.
 */
void
set_targets(int cpc)
{
	struct figure *rate = &fig[F_CR_RATE], *cpuf = &fig[F_CR_CPUF],
	    *ratef = &fig[F_CR_RATEF];

	if (cpc == 1) {
		rate->tgt = T_NONE;
		rate->target = "(see floor)";
		cpuf->tgt = T_WS_LE;
		cpuf->limit = 2.0;
		cpuf->target = "<= 2x (N=1)";
		ratef->tgt = T_WS_GE;
		ratef->limit = 1.0;
		ratef->target = ">= 1x (N=1)";
	} else {
		rate->tgt = T_RATIO_GE;
		rate->limit = 0.4;
		rate->target = ">= 0.4x raw";
		cpuf->tgt = ratef->tgt = T_NONE;
		cpuf->target = ratef->target = "(N=1 only)";
	}
}

/* The sides of figures 6, 7 and 8. */
static const char *const hist_name[2] = { "history", "baseline" };
static const char *const up_name[2] = { "upstream", "off / Redis" };
static const char *const zlib_name[2] = { "deflate", "plain" };

static const char *
name_of(int f, int side)
{
	if (f >= 0 && fig[f].label[0] == '6')
		return hist_name[side];
	if (f >= 0 && fig[f].label[0] == '7')
		return up_name[side];
	if (f >= 0 && fig[f].label[0] == '8')
		return zlib_name[side];
	return side_name[side];
}

/* A phase could not complete: say so, mark the figures, go on. */
void __attribute__((format(printf, 3, 4)))
phase_fail(int side, const int *figs, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wsbench: FAILED (%s): ", name_of(*figs, side));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	for (; *figs >= 0; figs++)
		fig[*figs].failed[side] = 1;
	any_failed = 1;
}

static void
fmtv(char *buf, size_t len, const struct figure *f, int side)
{
	if (side == 1 && f->raw_na)
		snprintf(buf, len, "n/a");
	else if (isnan(f->v[side]))
		snprintf(buf, len, f->failed[side] ? "FAIL" : "-");
	else {
		snprintf(buf, len, f->fmt, f->v[side]);
		if (f->failed[side])
			strncat(buf, "!", len - strlen(buf) - 1);
	}
}

static const char *
verdict(const struct figure *f, double ratio)
{
	double w = f->v[0];

	if (f->tgt == T_NONE)
		return "";
	if (isnan(w) || f->failed[0])
		return "FAIL";
	switch (f->tgt) {
	case T_RATIO_LE:
		return isnan(ratio) ? "?" : ratio <= f->limit ? "ok" : "MISS";
	case T_RATIO_GE:
		return isnan(ratio) ? "?" : ratio >= f->limit ? "ok" : "MISS";
	case T_WS_LE:
		return w <= f->limit ? "ok" : "MISS";
	case T_WS_LT:
		return w < f->limit ? "ok" : "MISS";
	case T_WS_GE:
		return w >= f->limit ? "ok" : "MISS";
	case T_ZERO:
		return w == 0 ? "ok" : "MISS";
	case T_DIFF_LE:
		return isnan(f->v[1]) ? "?" : w - f->v[1] <= f->limit ? "ok" :
		    "MISS";
	default:
		return "";
	}
}

void
print_table(const char *title)
{
	char a[32], b[32], r[32];
	double ratio;
	int i, misses = 0, sub = 0, sub7 = 0, sub8 = 0;
	const char *v;

	printf("\n%s\n", title);
	printf("%-38s %12s %12s %8s  %-13s %s\n", "figure", "wspubsub",
	    "raw Redis", "ratio", "target", "");
	printf("%-38s %12s %12s %8s  %-13s %s\n", "", "", "subscriber",
	    "ws/raw", "", "");
	for (i = 0; i < F_COUNT; i++) {
		const struct figure *f = &fig[i];
		if (!strchr(only, f->label[0]))
			continue;
		if (f->label[0] == '6' && !sub++)
			printf("%-38s %12s %12s %8s\n", "6: history against its baseline",
			    hist_name[0], hist_name[1], "hist/base");
		if (f->label[0] == '7' && !sub7++)
			printf("%-38s %12s %12s %8s\n", "7: client messages, "
			    "upstream on", up_name[0], up_name[1], "on/other");
		if (f->label[0] == '8' && !sub8++)
			printf("%-38s %12s %12s %8s\n",
			    "8: permessage-deflate offered or not", zlib_name[0],
			    zlib_name[1], "on/off");
		fmtv(a, sizeof(a), f, 0);
		fmtv(b, sizeof(b), f, 1);
		ratio = NAN;
		if (!f->no_ratio && !f->raw_na && !isnan(f->v[0]) &&
		    !isnan(f->v[1]) && f->v[1] != 0)
			ratio = f->v[0] / f->v[1];
		if (isnan(ratio))
			snprintf(r, sizeof(r), "-");
		else
			snprintf(r, sizeof(r), "%.2fx", ratio);
		v = verdict(f, ratio);
		if (strcmp(v, "MISS") == 0 || strcmp(v, "FAIL") == 0)
			misses++;
		printf("%-38s %12s %12s %8s  %-13s %s\n", f->label, a, b, r,
		    f->target, v);
	}
	printf("targets missed: %d   (FAIL: not measured; a trailing ! marks a "
	    "figure from an incomplete run)\n", misses);
}

void
write_tsv(const char *path)
{
	FILE *f = fopen(path, "w");
	int i;

	if (f == NULL) {
		note("%s: %s", path, strerror(errno));
		return;
	}
	/* The setting the figures were measured with; -m keeps it apart. */
	fprintf(f, "%s\t%d\t%d\t0\t0\n", TSV_CPC, clients_per_child,
	    clients_per_child);
	for (i = 0; i < F_COUNT; i++)
		fprintf(f, "%s\t%.6g\t%.6g\t%d\t%d\n", fig[i].key, fig[i].v[0],
		    fig[i].v[1], fig[i].failed[0], fig[i].failed[1]);
	fclose(f);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * -m: the table of medians of earlier runs' TSV files.  The runs must
 * all have used the same max_clients_per_child (a file without the line
 * is from before -c, when it was always the default, 1): a median of
 * both settings would describe neither, so mixing them is refused.
 */
int
medians(int nfiles, char **files)
{
	double vals[F_COUNT][2][64];
	int cnt[F_COUNT][2] = { { 0 } }, i, j, s, fa, fb, cpc, cpc0 = 0;
	char key[64], line[256];
	double a, b;
	FILE *f;

	if (nfiles > 64)
		nfiles = 64;
	for (i = 0; i < F_COUNT; i++)
		fig[i].v[0] = fig[i].v[1] = NAN;
	for (j = 0; j < nfiles; j++) {
		if ((f = fopen(files[j], "r")) == NULL) {
			note("%s: %s", files[j], strerror(errno));
			return 2;
		}
		cpc = 1;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%63s %lf %lf %d %d", key, &a, &b, &fa,
			    &fb) == 5 && strcmp(key, TSV_CPC) == 0)
				cpc = (int)a;
		if (j == 0)
			cpc0 = cpc;
		else if (cpc != cpc0) {
			note("%s: max_clients_per_child %d, but %s: %d; give "
			    "-m the runs of one setting at a time", files[j],
			    cpc, files[0], cpc0);
			fclose(f);
			return 2;
		}
		rewind(f);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%63s %lf %lf %d %d", key, &a, &b, &fa,
			    &fb) == 5)
				for (i = 0; i < F_COUNT; i++) {
					if (strcmp(key, fig[i].key) != 0)
						continue;
					if (!isnan(a))
						vals[i][0][cnt[i][0]++] = a;
					if (!isnan(b))
						vals[i][1][cnt[i][1]++] = b;
					fig[i].failed[0] |= fa;
					fig[i].failed[1] |= fb;
				}
		fclose(f);
	}
	for (i = 0; i < F_COUNT; i++)
		for (s = 0; s < 2; s++) {
			int n = cnt[i][s];
			if (n == 0)
				continue;
			qsort(vals[i][s], (size_t)n, sizeof(double), cmp_d);
			fig[i].v[s] = n % 2 ? vals[i][s][n / 2] :
			    (vals[i][s][n / 2 - 1] + vals[i][s][n / 2]) / 2;
		}
	clients_per_child = cpc0;
	set_targets(cpc0);
	snprintf(line, sizeof(line), "medians of %d runs, "
	    "max_clients_per_child %d (ratio = median wspubsub / median raw)",
	    nfiles, cpc0);
	print_table(line);
	return 0;
}
