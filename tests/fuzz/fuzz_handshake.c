/*
 * fuzz_handshake.c -- libFuzzer target for the HTTP upgrade request:
 * ws_head_end(), ws_request_parse(), ws_request_check(), the accept key
 * and the query-string decoder applied to the user parameter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../child/user.h"
#include "../../ws/ws.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ws_request req;
	char accept[WS_ACCEPT_LEN + 1], user[USER_NAME_MAX + 1];
	size_t end;
	int status, n;

	if (size > WS_HEAD_MAX)
		return 0;
	end = ws_head_end((const char *)data, size);
	if (end > size)
		abort();
	if (end == 0)
		end = size;
	if (ws_request_parse(&req, (const char *)data, end) != 0)
		return 0;
	status = ws_request_check(&req);
	if (status == 0) {
		if (ws_accept_key(req.key, accept) != 0 ||
		    strlen(accept) != WS_ACCEPT_LEN)
			abort();
	} else if (status != 400 && status != 405 && status != 426)
		abort();
	n = ws_query_get(req.query, "user", user, sizeof(user));
	if (n >= 0 && ((size_t)n != strlen(user) || n > USER_NAME_MAX))
		abort();
	if (n >= 0)
		(void)user_name_valid(user, (size_t)n);
	return 0;
}
