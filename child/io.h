/*
 * io.h -- the client connection's byte stream, plain or TLS.  The rest
 * of the child reads and writes through these and never asks which.
 */
#ifndef CHILD_IO_H
#define CHILD_IO_H

#include <poll.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

struct io {
	int	 fd;
	SSL	*ssl;		/* NULL for plain TCP */
	short	 want;		/* extra poll events TLS needs (POLLOUT/POLLIN) */
};

/*
 * Read or write like read(2)/writev(2) on a non-blocking socket: -1 with
 * errno EAGAIN when the call must wait (then poll for POLLIN, POLLOUT and
 * io->want), 0 from io_read at EOF.
 */
ssize_t	io_read(struct io *, void *, size_t);
ssize_t	io_writev(struct io *, const struct iovec *, int);
ssize_t	io_write(struct io *, const void *, size_t);
/* Bytes TLS has decrypted but not yet handed out (poll cannot see them). */
int	io_pending(const struct io *);
/* One step of the TLS handshake: 1 done, 0 again later, -1 failed. */
int	io_tls_accept(struct io *, const char **why);
/* Send close_notify (TLS) and FIN: we will write nothing more. */
void	io_shutdown_write(struct io *);
/* Free the TLS state, and wipe what was staged for it. */
void	io_free(struct io *);

#endif /* CHILD_IO_H */
