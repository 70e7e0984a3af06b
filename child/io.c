/*
 * io.c -- plain or TLS byte stream for one client.
 *
 * Plain TCP goes straight to read(2) and sendmsg(2).  TLS goes through
 * OpenSSL on the same non-blocking socket; its "want read/write" answers
 * become EAGAIN plus the poll events to wait for, so the poll loop above
 * treats both kinds of connection the same.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "io.h"

/* A frame header and a small payload become one TLS record. */
#define TLS_COALESCE	16384

/* Two parts of a frame, joined into one TLS record; as much is wiped. */
static unsigned char	one[TLS_COALESCE];
static size_t		one_used;

static ssize_t
tls_result(struct io *io, int ok, size_t n)
{
	int err;

	io->want = 0;
	if (ok == 1)
		return (ssize_t)n;
	switch ((err = SSL_get_error(io->ssl, 0))) {
	case SSL_ERROR_WANT_READ:
		io->want = POLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		io->want = POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0)
			errno = ECONNRESET;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

ssize_t
io_read(struct io *io, void *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int ok;

	if (io->ssl == NULL) {
		do
			r = read(io->fd, buf, len);
		while (r == -1 && errno == EINTR);
		return r;
	}
	errno = 0;
	ok = SSL_read_ex(io->ssl, buf, len, &n);
	r = tls_result(io, ok, n);
	/* An EOF without close_notify is still an EOF for us. */
	if (r == -1 && errno == ECONNRESET &&
	    SSL_get_shutdown(io->ssl) & SSL_RECEIVED_SHUTDOWN)
		return 0;
	return r;
}

ssize_t
io_writev(struct io *io, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg;
	ssize_t r, total = 0;
	size_t n;
	int i, ok;

	if (io->ssl == NULL) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = (struct iovec *)iov;
		msg.msg_iovlen = (size_t)iovcnt;
		do
			r = sendmsg(io->fd, &msg, MSG_NOSIGNAL);
		while (r == -1 && errno == EINTR);
		return r;
	}
	if (iovcnt == 2 && iov[0].iov_len + iov[1].iov_len <= TLS_COALESCE) {
		if (one_used < iov[0].iov_len + iov[1].iov_len)
			one_used = iov[0].iov_len + iov[1].iov_len;
		memcpy(one, iov[0].iov_base, iov[0].iov_len);
		memcpy(one + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
		return io_write(io, one, iov[0].iov_len + iov[1].iov_len);
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		errno = 0;
		ok = SSL_write_ex(io->ssl, iov[i].iov_base, iov[i].iov_len,
		    &n);
		r = tls_result(io, ok, n);
		if (r == -1)
			return total > 0 ? total : -1;
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return total;
}

ssize_t
io_write(struct io *io, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	size_t n = 0;
	int ok;

	if (io->ssl == NULL)
		return io_writev(io, &iov, 1);
	if (len == 0)
		return 0;
	errno = 0;
	ok = SSL_write_ex(io->ssl, buf, len, &n);
	return tls_result(io, ok, n);
}

int
io_pending(const struct io *io)
{
	return io->ssl != NULL && SSL_pending(io->ssl) > 0;
}

int
io_tls_accept(struct io *io, const char **why)
{
	int r;

	errno = 0;
	if ((r = SSL_accept(io->ssl)) == 1) {
		io->want = 0;
		return 1;
	}
	switch (SSL_get_error(io->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		io->want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		io->want = POLLOUT;
		return 0;
	default:
		*why = ERR_reason_error_string(ERR_peek_last_error());
		if (*why == NULL)
			*why = errno ? strerror(errno) : "connection closed";
		ERR_clear_error();
		return -1;
	}
}

void
io_shutdown_write(struct io *io)
{
	if (io->ssl != NULL) {
		(void)SSL_shutdown(io->ssl);	/* close_notify, best effort */
		ERR_clear_error();
	}
	shutdown(io->fd, SHUT_WR);
}

void
io_free(struct io *io)
{
	if (io->ssl != NULL)
		SSL_free(io->ssl);
	io->ssl = NULL;
	explicit_bzero(one, one_used);
	one_used = 0;
}
