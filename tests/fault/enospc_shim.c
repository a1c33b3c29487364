/* LD_PRELOAD shim for fault-injection tests: simulates a full disk.
 *
 * Every write to a file whose path starts with $IBZOO_FAULT_DIR is counted; once
 * more than $IBZOO_FAULT_AFTER_BYTES bytes have gone to such files (per process),
 * write/pwrite/writev/pwritev fail with ENOSPC, as a full file system does. Other
 * files (stdout, logs, sockets) are untouched. Build:
 *   cc -shared -fPIC -O2 -o enospc_shim.so enospc_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long g_written;

/* 1 when fd is a file under the fault directory. */
static int under_fault_dir(int fd) {
  const char* dir = getenv("IBZOO_FAULT_DIR");
  if (!dir || !*dir) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strncmp(path, dir, strlen(dir)) == 0;
}

/* 0 to let `count` bytes through, -1 (errno ENOSPC) when the disk is "full". */
static int account(int fd, size_t count) {
  if (!under_fault_dir(fd)) return 0;
  const char* limit = getenv("IBZOO_FAULT_AFTER_BYTES");
  const long long max = limit ? atoll(limit) : 0;
  if (g_written + (long long)count > max) {
    errno = ENOSPC;
    return -1;
  }
  g_written += (long long)count;
  return 0;
}

static size_t iov_bytes(const struct iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += iov[i].iov_len;
  return total;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void* buf, size_t count) {
  if (account(fd, count) < 0) return -1;
  return REAL("write", ssize_t (*)(int, const void*, size_t))(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  if (account(fd, count) < 0) return -1;
  return REAL("pwrite", ssize_t (*)(int, const void*, size_t, off_t))(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  if (account(fd, count) < 0) return -1;
  return REAL("pwrite64", ssize_t (*)(int, const void*, size_t, off_t))(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  if (account(fd, iov_bytes(iov, iovcnt)) < 0) return -1;
  return REAL("writev", ssize_t (*)(int, const struct iovec*, int))(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  if (account(fd, iov_bytes(iov, iovcnt)) < 0) return -1;
  return REAL("pwritev", ssize_t (*)(int, const struct iovec*, int, off_t))(fd, iov, iovcnt, offset);
}
