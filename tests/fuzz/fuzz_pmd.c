/*
 * fuzz_pmd.c -- libFuzzer target for the permessage-deflate offer parser,
 * ws_pmd_negotiate(), and the answer, ws_pmd_response().
 *
 * The input is up to WS_EXTENSION_LINES header values, one per line.  The
 * oracles: the agreed parameters are within what the server allows, and
 * the answer, read back as an offer, is accepted with the same
 * parameters (it is well-formed, and says what the server does).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ws/ws.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *lines[WS_EXTENSION_LINES], *s, *nl;
	char answer[WS_PMD_RESPONSE_MAX];
	const char *one[1];
	struct ws_pmd pmd, again;
	int n = 0;

	if ((copy = malloc(size + 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (s = copy; n < WS_EXTENSION_LINES; s = nl + 1) {
		lines[n++] = s;
		if ((nl = strchr(s, '\n')) == NULL)
			break;
		*nl = '\0';
	}
	if (ws_pmd_negotiate((const char *const *)lines, n, 10, 10, &pmd)) {
		if (!pmd.on || pmd.server_bits < 9 || pmd.server_bits > 10 ||
		    pmd.client_bits < 8 || pmd.client_bits > 15 ||
		    (pmd.client_bits_said && pmd.client_bits > 10))
			abort();
		ws_pmd_response(&pmd, answer);
		one[0] = answer;
		if (ws_pmd_negotiate(one, 1, 10, 10, &again) != 1 ||
		    again.server_bits != pmd.server_bits ||
		    again.client_reset != pmd.client_reset ||
		    again.client_bits_said != pmd.client_bits_said ||
		    again.client_bits != pmd.client_bits)
			abort();
	} else if (pmd.on)
		abort();
	free(copy);
	return 0;
}
