/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c: leveled log lines on stderr (see log.h for the format). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "log.h"

static int threshold = MCSID_LOG_INFO;

static const char *const level_names[] = {
  [MCSID_LOG_ERR] = "err",   [MCSID_LOG_WARNING] = "warning", [MCSID_LOG_NOTICE] = "notice",
  [MCSID_LOG_INFO] = "info", [MCSID_LOG_DEBUG] = "debug",
};

int mcsid_log_level_parse(const char *s)
{
  if (!s) return -1;
  for (int l = MCSID_LOG_ERR; l <= MCSID_LOG_DEBUG; l++)
    if (!strcmp(s, level_names[l])) return l;
  if (s[0] >= '3' && s[0] <= '7' && !s[1]) return s[0] - '0';
  return -1;
}

const char *mcsid_log_level_name(int level)
{
  return level >= MCSID_LOG_ERR && level <= MCSID_LOG_DEBUG ? level_names[level] : "?";
}

void mcsid_log_set_level(int level) { threshold = level; }
int mcsid_log_get_level(void) { return threshold; }

/* stderr is the journal when JOURNAL_STREAM names its device and inode. */
static int stderr_is_journal(void)
{
  static int known = -1;
  if (known >= 0) return known;
  const char *js = getenv("JOURNAL_STREAM");
  unsigned long long dev, ino;
  struct stat st;
  known = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
          (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
  return known;
}

static char last_error[320];           /* the last error logged, for mcsid_log_last_error */

const char *mcsid_log_last_error(void) { return last_error; }

void mcsid_log(int level, const char *fmt, ...)
{
  if (level > threshold && level > MCSID_LOG_ERR) return;
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *p = text; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';   /* one event, one line */
  if (level <= MCSID_LOG_ERR) snprintf(last_error, sizeof last_error, "%.319s", text);
  if (level > threshold) return;
  if (stderr_is_journal())
    fprintf(stderr, "<%d>%s\n", level, text);
  else
    fprintf(stderr, "mcsid: %s: %s\n", level_names[level], text);
}
