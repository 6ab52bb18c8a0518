/*
 * corral-dirtier: keeps rewriting a block of the test guest's memory so that live migration
 * has pages to resend, at a set rate. Built static by scripts/test-guest.sh.
 *
 *   corral-dirtier MIB [MIBPS]      MIBPS 0 (the default) = as fast as the vCPU goes
 *
 * One store per 4 KiB page dirties the whole page for QEMU's bitmap, so that is all it writes.
 * The block is filled with a non-zero byte first and the stored values are never zero: QEMU
 * sends zero pages as a flag, which would make the workload look lighter than it is.
 * Prints CORRAL_DIRTY every 5 s (what it achieved since the last line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096UL
#define PAGES_PER_MIB (1048576UL / PAGE)
#define REPORT_EVERY 5.0

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_for(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static long parse_nonneg(const char *text, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0) {
    fprintf(stderr, "corral-dirtier: bad %s '%s'\n", what, text);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: corral-dirtier MIB [MIBPS]\n");
    return 2;
  }
  long mib = parse_nonneg(argv[1], "size");
  long mibps = argc == 3 ? parse_nonneg(argv[2], "rate") : 0;
  if (mib == 0) {
    fprintf(stderr, "corral-dirtier: size must be at least 1 MiB\n");
    return 2;
  }
  size_t pages = (size_t)mib * PAGES_PER_MIB;
  uint8_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    fprintf(stderr, "corral-dirtier: mmap %ld MiB: %s\n", mib, strerror(errno));
    return 1;
  }
  memset(mem, 0x5a, pages * PAGE);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("CORRAL_DIRTIER_START mb=%ld rate=%ld\n", mib, mibps);

  /* The rate is kept per MiB: after each MiB the loop sleeps until the schedule catches up. A
   * loop that fell more than a second behind (the guest was paused, or migrated) starts a new
   * schedule instead of bursting to make up for it. */
  double start = seconds(), schedule_start = start, last_report = start;
  uint64_t mib_done = 0, scheduled_mib = 0, reported_mib = 0, passes = 0;
  uint8_t value = 1;
  size_t page = 0;
  for (;;) {
    for (size_t i = 0; i < PAGES_PER_MIB; i++) {
      mem[page * PAGE] = value;
      if (++page == pages) {
        page = 0;
        passes++;
        value = (uint8_t)(value % 255 + 1); /* 1..255, never 0 */
      }
    }
    mib_done++;
    scheduled_mib++;
    double now = seconds();
    if (mibps > 0) {
      double due = schedule_start + (double)scheduled_mib / (double)mibps;
      if (due > now) {
        pause_for(due - now);
        now = seconds();
      } else if (now - due > 1.0) {
        schedule_start = now;
        scheduled_mib = 0;
      }
    }
    if (now - last_report >= REPORT_EVERY) {
      printf("CORRAL_DIRTY t=%.1f mibps=%.1f passes=%llu\n", now - start,
             (double)(mib_done - reported_mib) / (now - last_report), (unsigned long long)passes);
      reported_mib = mib_done;
      last_report = now;
    }
  }
}
