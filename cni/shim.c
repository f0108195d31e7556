/*
 * kubelite CNI shim: the executable containerd runs for every CNI call (installed as bridge,
 * host-local, loopback and portmap).
 *
 * It does no networking itself. It forwards the call to the resident server of the node agent
 * (kubelite/cni/server.py) on the unix socket "../cni.sock" next to its own bin directory:
 *
 *   request:  <plugin> NUL (<CNI_*=value> NUL)* NUL <stdin>       (then shutdown(SHUT_WR))
 *   response: <exit code> LF <stdout>
 *
 * and prints the answer with the server's exit code. Starting this costs about a millisecond,
 * where a Python plugin pays ~340 ms for interpreter and imports on every call.
 *
 * When nothing listens on the socket (the agent is down), it execs "kubelite-cni-fallback <plugin>"
 * from its own directory, which does the work in-process. If the server dies mid-call, it reports
 * CNI error 11 ("try again later"): the runtime retries, and every plugin operation is idempotent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

struct buf {
	char *data;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (!b->data) {
			fputs("kubelite cni shim: out of memory\n", stderr);
			exit(1);
		}
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fail(const char *msg, const char *detail)
{
	/* A spec-shaped error document (code 11: try again later). */
	printf("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"%s\",\"details\":\"%s\"}\n", msg, detail);
	return 1;
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], dir[PATH_MAX], sock_path[PATH_MAX], fallback[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	(void)argc;
	if (n < 0)
		return fail("kubelite cni shim: cannot find its own path", strerror(errno));
	exe[n] = 0;
	snprintf(dir, sizeof(dir), "%s", exe);
	char *bindir = dirname(dir);
	const char *plugin = argv[0] ? strrchr(argv[0], '/') : NULL;
	plugin = plugin ? plugin + 1 : (argv[0] ? argv[0] : "bridge");
	snprintf(sock_path, sizeof(sock_path), "%s/../cni.sock", bindir);
	snprintf(fallback, sizeof(fallback), "%s/kubelite-cni-fallback", bindir);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(addr.sun_path)) {
		close(fd);
		fd = -1;
	} else {
		strcpy(addr.sun_path, sock_path);
	}
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		/* no resident server: do the work in-process */
		char *args[] = {fallback, (char *)plugin, NULL};
		execv(fallback, args);
		return fail("kubelite cni: no agent socket and no fallback", strerror(errno));
	}

	struct buf req = {0};
	put(&req, plugin, strlen(plugin) + 1);
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "CNI_", 4) == 0)
			put(&req, *e, strlen(*e) + 1);
	put(&req, "", 1);
	char chunk[65536];
	for (;;) {
		ssize_t r = read(0, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		put(&req, chunk, (size_t)r);
	}
	if (write_all(fd, req.data, req.len) != 0)
		return fail("kubelite cni: sending the call to the agent failed", strerror(errno));
	shutdown(fd, SHUT_WR);

	struct buf resp = {0};
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail("kubelite cni: reading the agent's answer failed", strerror(errno));
		if (r == 0)
			break;
		put(&resp, chunk, (size_t)r);
	}
	char *nl = resp.len ? memchr(resp.data, '\n', resp.len) : NULL;
	if (!nl)
		return fail("kubelite cni: the agent closed the connection without an answer", plugin);
	*nl = 0;
	int code = atoi(resp.data);
	size_t off = (size_t)(nl - resp.data) + 1;
	if (write_all(1, resp.data + off, resp.len - off) != 0)
		return 1;
	return code;
}
