/*
 * deflate.c -- permessage-deflate (RFC 7692) for the server role: read
 * the client's offers, inflate the client's compressed messages for the
 * parser (parser.c) under the message cap, and compress one server
 * message at a time.
 *
 * Memory is the point of the design.  zlib's defaults cost about 256 KiB
 * per stream, more than a whole idle connection, so:
 *  - the server never keeps a compression context (it always answers
 *    server_no_context_takeover), and compresses with a small window and
 *    memLevel in a static arena whose pages the caller gives back to the
 *    kernel (ws_deflate_release) once messages stop coming: an idle
 *    connection holds no compression state at all;
 *  - the inflate state is made only when a client sends its first
 *    compressed message (clients of a push server rarely send), and with
 *    client_no_context_takeover freed after each;
 *  - inflated bytes go into the parser's message buffer, never past the
 *    message cap, so a small compressed message cannot grow the process
 *    beyond what an uncompressed one may (a "zip bomb" is a 1009).
 *
 * zlib fails a back-reference only when it cannot resolve it: one beyond
 * the window agreed (client_max_window_bits) that still reaches bytes
 * inflated in the same call is followed.  A client that oversteps its
 * window gets 1007 or not, depending on how its data arrived; its data
 * is never misread.
 *
 * Like the rest of ws/, this never logs and touches no socket.
 */
#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <zlib.h>

#include "ws.h"
#include "internal.h"

/*
 * Compression: zlib's deflate state for windowBits w and memLevel m is
 * about 6 KiB of struct, 2 << w window, 2 << w chain, 2 << (m + 7) hash
 * heads and 4 << (m + 6) pending output: with w = 10, m = 3, 14 KiB.
 * memLevel 3 keeps blocks long enough that a 2 KiB JSON message
 * compresses within 1% of memLevel 8 (and within 3% of a 32 KiB window).
 */
#define DEFLATE_MEMLEVEL	3
#define ARENA_SIZE		(32 * 1024)	/* windows up to 2^11 */

/*
 * Page-aligned and a whole number of pages, for madvise().  How much is
 * used is counted on the caller's stack (zlib's opaque pointer): a static
 * counter would dirty a page of its own in every child.
 */
static struct {
	uint8_t	 mem[ARENA_SIZE];
} arena __attribute__((aligned(4096)));

static voidpf
arena_alloc(voidpf opaque, uInt items, uInt size)
{
	size_t *used = opaque;
	size_t n = (size_t)items * size, at = (*used + 15) & ~(size_t)15;

	if (n > ARENA_SIZE || at > ARENA_SIZE - n)
		return Z_NULL;
	*used = at + n;
	return arena.mem + at;
}

static void
arena_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	(void)p;	/* all of it goes at once, in arena_release() */
}

/*
 * The pages zlib wrote go back to the kernel, their bytes (the last
 * message's) with them: a connection that has sent a compressed message
 * is as small as one that has not.  The next message faults in fresh
 * zero pages: four for a small one, 17 of the 30 us it takes to
 * compress 2 KiB on a VM where a fault costs 4 us, hence not after every
 * message.
 */
void
ws_deflate_release(void)
{
	(void)madvise(arena.mem, ARENA_SIZE, MADV_DONTNEED);
}

long
ws_deflate_message(int level, int bits, const struct ws_part *parts,
    int nparts, uint8_t *out, size_t outcap)
{
	static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
	z_stream z;
	size_t have, used = 0;
	long n = -1;
	int i, r;

	if (bits < 9)
		bits = 9;	/* zlib's raw deflate makes 8 into 9 anyway */
	if (outcap > UINT_MAX)
		outcap = UINT_MAX;	/* larger output is sent as it is */
	memset(&z, 0, sizeof(z));
	z.zalloc = arena_alloc;
	z.zfree = arena_free;
	z.opaque = &used;
	if (deflateInit2(&z, level, Z_DEFLATED, -bits, DEFLATE_MEMLEVEL,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_out = out;
	z.avail_out = (uInt)outcap;
	for (i = 0; i < nparts; i++) {
		const uint8_t *p = parts[i].data;
		size_t left = parts[i].len, take;
		int last;

		do {
			take = left > UINT_MAX ? UINT_MAX : left;
			last = i == nparts - 1 && take == left;
			z.next_in = (Bytef *)(uintptr_t)p;
			z.avail_in = (uInt)take;
			r = deflate(&z, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
			if ((r != Z_OK && r != Z_BUF_ERROR) || z.avail_in != 0)
				goto done;	/* an error, or out is full */
			p += take;
			left -= take;
		} while (left > 0);
	}
	if (nparts == 0 && deflate(&z, Z_SYNC_FLUSH) != Z_OK)
		goto done;
	/* A flush that filled out exactly may not be complete. */
	if (z.avail_out == 0)
		goto done;
	have = outcap - z.avail_out;
	if (have < sizeof(tail) ||
	    memcmp(out + have - sizeof(tail), tail, sizeof(tail)) != 0)
		goto done;
	n = (long)(have - sizeof(tail));
done:
	deflateEnd(&z);
	return n;
}

/* ------------------------------------------------------------ inflate */

/*
 * The inflate state holds the client's last bytes (its window): wiped
 * when freed, as the message buffer is, for a child that serves another
 * client next.  Each block carries its size in front.
 */
static voidpf
wiped_alloc(voidpf opaque, uInt items, uInt size)
{
	size_t n = (size_t)items * size, *p;

	(void)opaque;
	if (size != 0 && n / size != items)
		return Z_NULL;
	if ((p = malloc(sizeof(max_align_t) + n)) == NULL)
		return Z_NULL;
	*p = n;
	return (char *)p + sizeof(max_align_t);
}

static void
wiped_free(voidpf opaque, voidpf q)
{
	size_t *p = (size_t *)(void *)((char *)q - sizeof(max_align_t));

	(void)opaque;
	explicit_bzero(q, *p);
	free(p);
}

void
ws_parser_inflate(struct ws_parser *p, int bits, int reset)
{
	/*
	 * Inflate with at least a 512-byte window: zlib-based clients asked
	 * for 8 bits compress with 9 (zlib raises raw deflate's 8 to 9), and
	 * a larger window than agreed only accepts more.
	 */
	p->inflate_bits = bits < 9 ? 9 : bits;
	p->inflate_reset = reset;
}

void
ws_inflate_free(struct ws_parser *p)
{
	if (p->inflate == NULL)
		return;
	inflateEnd(p->inflate);
	free(p->inflate);
	p->inflate = NULL;
}

/*
 * A stream that ended (a block with BFINAL set) starts again; with
 * context takeover it keeps its window as the dictionary, so the
 * client's back-references into earlier messages still resolve.
 */
static int
restart(struct ws_parser *p)
{
	z_stream *z = p->inflate;
	uint8_t *dict;
	uInt n = 1u << p->inflate_bits;

	if (p->inflate_reset)
		return inflateReset(z) == Z_OK ? 0 : WS_E_NOMEM;
	if ((dict = malloc(n)) == NULL)
		return WS_E_NOMEM;
	if (inflateGetDictionary(z, dict, &n) != Z_OK ||
	    inflateReset(z) != Z_OK ||
	    (n > 0 && inflateSetDictionary(z, dict, n) != Z_OK)) {
		explicit_bzero(dict, 1u << p->inflate_bits);
		free(dict);
		return WS_E_DEFLATE;
	}
	explicit_bzero(dict, 1u << p->inflate_bits);
	free(dict);
	return 0;
}

/* Room for more output in the message buffer, never past msg_max + 1. */
static int
grow(struct ws_parser *p)
{
	size_t cap = p->msg_cap ? p->msg_cap * 2 : 256, limit;
	uint8_t *n;

	if (p->msg_max != 0) {
		limit = p->msg_max + 1;	/* one over tells "too big" */
		if (p->msg_cap >= limit)
			return WS_E_TOO_BIG;
		if (cap > limit)
			cap = limit;
	}
	if ((n = realloc(p->msg, cap)) == NULL)
		return WS_E_NOMEM;
	p->msg = n;
	p->msg_cap = cap;
	return 0;
}

int
ws_inflate_feed(struct ws_parser *p, const uint8_t *in, size_t len)
{
	z_stream *z = p->inflate;
	size_t room, made;
	uInt used;
	int r, e;

	if (z == NULL) {
		if ((z = calloc(1, sizeof(*z))) == NULL)
			return WS_E_NOMEM;
		z->zalloc = wiped_alloc;
		z->zfree = wiped_free;
		if (inflateInit2(z, -p->inflate_bits) != Z_OK) {
			free(z);
			return WS_E_NOMEM;
		}
		p->inflate = z;
	}
	for (;;) {
		if (z->avail_in == 0 && len > 0) {
			z->next_in = (Bytef *)(uintptr_t)in;
			z->avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
			in += z->avail_in;
			len -= z->avail_in;
		}
		if (p->msg_len == p->msg_cap && (e = grow(p)) != 0)
			return e;
		room = p->msg_cap - p->msg_len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		z->next_out = p->msg + p->msg_len;
		z->avail_out = (uInt)room;
		used = z->avail_in;
		r = inflate(z, Z_SYNC_FLUSH);
		if (z->avail_in != used)
			p->inflate_ended = 0;	/* data after the end */
		made = room - z->avail_out;
		if (made > 0 && p->msg_opcode == WS_OP_TEXT &&
		    ws_utf8_feed(&p->utf8, p->msg + p->msg_len, made) != 0)
			return WS_E_UTF8;
		p->msg_len += made;
		if (p->msg_max != 0 && p->msg_len > p->msg_max)
			return WS_E_TOO_BIG;
		switch (r) {
		case Z_OK:
			break;
		case Z_STREAM_END:
			if ((e = restart(p)) != 0)
				return e;
			p->inflate_ended = 1;
			break;
		case Z_BUF_ERROR:
			/* No progress with input and room: cannot be. */
			if (z->avail_in > 0 && z->avail_out > 0)
				return WS_E_DEFLATE;
			break;
		case Z_MEM_ERROR:
			return WS_E_NOMEM;
		default:
			return WS_E_DEFLATE;
		}
		/*
		 * All input taken and room left over: nothing more comes out
		 * of it.  Otherwise go round, with more room or more input.
		 */
		if (z->avail_in == 0 && len == 0 && z->avail_out > 0)
			return 0;
	}
}

int
ws_inflate_finish(struct ws_parser *p)
{
	static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
	int r;

	/*
	 * The tail completes the empty stored block that ends a sync flush
	 * (its first 3 bits are in the message): after it the inflater must
	 * be between blocks, or the data stopped inside one (truncated, or
	 * garbage that happened to decode).  Not after a block with BFINAL
	 * set, which needs no tail, nor for an empty message.
	 */
	if (p->msg_wire > 0 && !p->inflate_ended) {
		if ((r = ws_inflate_feed(p, tail, sizeof(tail))) != 0)
			return r;
		if (!(((z_stream *)p->inflate)->data_type & 128))
			return WS_E_DEFLATE;
	}
	p->inflate_ended = 0;
	if (p->inflate_reset)
		ws_inflate_free(p);
	return 0;
}

/* ------------------------------------------------------- negotiation */

#define VALUE_MAX	16	/* longer values are not valid here anyway */

static int
is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *
ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static size_t
token(const char *s)
{
	size_t n = 0;

	while (is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

/*
 * A parameter value: a token, or a quoted-string (RFC 9110 5.6.4), whose
 * content RFC 7692 requires to be a token as well.  Copied unquoted into
 * v; *toolong when it did not fit (the value is then invalid for every
 * parameter we know).  Returns the end, or NULL when malformed.
 */
static const char *
value(const char *s, char v[VALUE_MAX + 1], int *toolong)
{
	size_t n = 0;

	*toolong = 0;
	if (*s != '"') {
		if ((n = token(s)) == 0)
			return NULL;
		if (n > VALUE_MAX)
			*toolong = 1;
		else
			memcpy(v, s, n);
		v[*toolong ? 0 : n] = '\0';
		return s + n;
	}
	for (s++; *s != '"'; s++) {
		if (*s == '\\')
			s++;
		if (*s == '\0' || *s == '\r' || *s == '\n')
			return NULL;
		if (n < VALUE_MAX)
			v[n++] = *s;
		else
			*toolong = 1;
	}
	v[n] = '\0';
	if (!*toolong && token(v) != n)
		*toolong = 1;	/* not a token once unquoted: invalid */
	return s + 1;
}

/* "8" to "15", no leading zero: the bits, or -1. */
static int
window_bits(const char *v, int toolong)
{
	if (toolong)
		return -1;
	if (v[0] >= '8' && v[0] <= '9' && v[1] == '\0')
		return v[0] - '0';
	if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
		return 10 + v[1] - '0';
	return -1;
}

struct offer {
	int	ok;		/* permessage-deflate, every parameter valid */
	int	seen[4];
	int	server_reset, server_bits, client_reset, client_bits;
};

enum { P_SERVER_RESET, P_CLIENT_RESET, P_SERVER_BITS, P_CLIENT_BITS };

/* One parameter of a permessage-deflate offer. */
static void
offer_param(struct offer *o, const char *name, size_t nlen, int has_value,
    const char *v, int toolong)
{
	static const char *const names[] = {
		"server_no_context_takeover", "client_no_context_takeover",
		"server_max_window_bits", "client_max_window_bits",
	};
	int i, bits;

	for (i = 0; i < 4; i++)
		if (strlen(names[i]) == nlen &&
		    strncasecmp(names[i], name, nlen) == 0)
			break;
	if (i == 4 || o->seen[i]++) {
		o->ok = 0;	/* unknown, or given twice */
		return;
	}
	switch (i) {
	case P_SERVER_RESET:
	case P_CLIENT_RESET:
		if (has_value)
			o->ok = 0;
		else if (i == P_SERVER_RESET)
			o->server_reset = 1;
		else
			o->client_reset = 1;
		break;
	case P_SERVER_BITS:
		/* A value is required; zlib cannot compress with 8. */
		if (!has_value || (bits = window_bits(v, toolong)) < 9)
			o->ok = 0;
		else
			o->server_bits = bits;
		break;
	case P_CLIENT_BITS:
		if (!has_value)
			o->client_bits = 15;	/* "any you like" */
		else if ((bits = window_bits(v, toolong)) == -1)
			o->ok = 0;
		else
			o->client_bits = bits;
		break;
	}
}

/*
 * One element of the extension list at s: name *(";" param).  Returns
 * the end (at ',' or NUL), or NULL when the header is malformed.
 */
static const char *
element(const char *s, struct offer *o)
{
	char v[VALUE_MAX + 1];
	const char *name;
	size_t n, nlen;
	int toolong, has_value;

	memset(o, 0, sizeof(*o));
	if ((n = token(s)) == 0)
		return NULL;
	o->ok = n == 18 && strncasecmp(s, "permessage-deflate", n) == 0;
	s = ows(s + n);
	while (*s == ';') {
		s = ows(s + 1);
		if ((nlen = token(s)) == 0)
			return NULL;
		name = s;
		s = ows(s + nlen);
		has_value = *s == '=';
		v[0] = '\0';
		toolong = 0;
		if (has_value &&
		    (s = value(ows(s + 1), v, &toolong)) == NULL)
			return NULL;
		s = ows(s);
		if (o->ok)
			offer_param(o, name, nlen, has_value, v, toolong);
	}
	if (*s != ',' && *s != '\0')
		return NULL;
	return s;
}

int
ws_pmd_negotiate(const char *const *lines, int nlines, int server_bits,
    int client_bits, struct ws_pmd *pmd)
{
	struct offer o;
	const char *s;
	int i;

	memset(pmd, 0, sizeof(*pmd));
	for (i = 0; i < nlines; i++) {
		for (s = lines[i]; *s != '\0'; ) {
			s = ows(s);
			if (*s == ',') {	/* empty elements are allowed */
				s++;
				continue;
			}
			if (*s == '\0')
				break;
			if ((s = element(s, &o)) == NULL)
				return 0;	/* malformed: accept nothing */
			if (o.ok)
				goto accept;
		}
	}
	return 0;
accept:
	pmd->on = 1;
	pmd->server_bits = server_bits;
	if (o.seen[P_SERVER_BITS]) {
		pmd->server_bits_said = 1;
		if (o.server_bits < pmd->server_bits)
			pmd->server_bits = o.server_bits;
	}
	pmd->client_bits = 15;
	if (o.seen[P_CLIENT_BITS]) {
		pmd->client_bits_said = 1;
		pmd->client_bits = o.client_bits < client_bits ?
		    o.client_bits : client_bits;
	}
	pmd->client_reset = o.client_reset;
	return 1;
}

void
ws_pmd_response(const struct ws_pmd *pmd, char out[WS_PMD_RESPONSE_MAX])
{
	char sb[40] = "", cb[40] = "";

	if (pmd->server_bits_said)
		snprintf(sb, sizeof(sb), "; server_max_window_bits=%d",
		    pmd->server_bits);
	if (pmd->client_bits_said)
		snprintf(cb, sizeof(cb), "; client_max_window_bits=%d",
		    pmd->client_bits);
	snprintf(out, WS_PMD_RESPONSE_MAX,
	    "permessage-deflate; server_no_context_takeover%s%s%s", sb,
	    pmd->client_reset ? "; client_no_context_takeover" : "", cb);
}
