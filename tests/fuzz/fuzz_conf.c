/*
 * fuzz_conf.c -- libFuzzer target for the configuration parser.  Its
 * error messages go to /dev/null.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../master/conf.h"
#include "../../master/log.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct conf c;
	FILE *f;
	int fd;

	if (!quiet) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			log_setfd(fd);
		quiet = 1;
	}
	if (size == 0)
		return 0;
	if ((f = fmemopen((void *)data, size, "r")) == NULL)
		return 0;
	if (conf_read(&c, f, "fuzz.conf") == 0) {
		/* A file that parses must give sane values. */
		if (c.nlisten < 1 || c.nlisten > CONF_LISTEN_MAX ||
		    c.max_connections < 1 || c.spare_children < 0 ||
		    c.child.max_message_size == 0 ||
		    c.child.handshake_timeout <= 0)
			abort();
	}
	fclose(f);
	return 0;
}
