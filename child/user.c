/*
 * user.c -- who a connection belongs to: username rules, the channel name
 * derived from it, and the identify message.
 */
#include <ctype.h>
#include <string.h>

#include <jansson.h>

#include "user.h"

int
user_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > USER_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(isascii(c) && isalnum(c)) && strchr("_.@:-", c) == NULL)
			return 0;
		if (c == '\0')
			return 0;
	}
	return 1;
}

int
user_channel(const char *prefix, const char *name, char *out, size_t outsize)
{
	size_t plen = strlen(prefix), nlen = strlen(name), i;

	if (plen + nlen + 1 > outsize)
		return -1;
	memcpy(out, prefix, plen);
	for (i = 0; i < nlen; i++)
		out[plen + i] = (char)tolower((unsigned char)name[i]);
	out[plen + nlen] = '\0';
	return 0;
}

int
user_identify_parse(const char *json, size_t len, char *name,
    size_t namesize)
{
	json_error_t err;
	json_t *root, *v;
	const char *s;
	size_t slen;
	int rc = -1;

	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL)
		return -1;
	if (json_is_object(root) &&
	    (v = json_object_get(root, "user_name")) != NULL &&
	    json_is_string(v)) {
		s = json_string_value(v);
		slen = json_string_length(v);
		if (user_name_valid(s, slen) && slen < namesize) {
			memcpy(name, s, slen + 1);
			rc = 0;
		}
	}
	json_decref(root);
	return rc;
}

int
user_identify_since(const char *json, size_t len, char *out, size_t outsize)
{
	json_error_t err;
	json_t *root, *v;
	size_t slen;
	int rc = -1;

	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL)
		return -2;
	if (json_is_object(root) &&
	    (v = json_object_get(root, "since")) != NULL) {
		rc = -2;
		if (json_is_string(v) && (slen = json_string_length(v)) <
		    outsize && memchr(json_string_value(v), '\0', slen) ==
		    NULL) {
			memcpy(out, json_string_value(v), slen + 1);
			rc = (int)slen;
		}
	}
	json_decref(root);
	return rc;
}
