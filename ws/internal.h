/*
 * internal.h -- between the files of ws/, not for its users: the
 * inflating that deflate.c does for parser.c.
 */
#ifndef WS_INTERNAL_H
#define WS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct ws_parser;

/*
 * Inflate len bytes of a compressed message's payload into the parser's
 * message buffer (validating UTF-8 for text, within msg_max); then, at
 * its last frame's end, ws_inflate_finish().  Both return 0 or a
 * negative enum ws_err.
 */
int	ws_inflate_feed(struct ws_parser *, const uint8_t *in, size_t len);
int	ws_inflate_finish(struct ws_parser *);
/* Free the inflate state (the next compressed message makes a new one). */
void	ws_inflate_free(struct ws_parser *);

#endif /* WS_INTERNAL_H */
