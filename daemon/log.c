/* log.c: leveled log lines on stderr (see log.h for the format). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void mcsid_log_set_level(int level) { threshold = level; }
int mcsid_log_get_level(void) { return threshold; }

void mcsid_log(int level, const char *fmt, ...)
{
  if (level > threshold) return;
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *p = text; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';   /* one event, one line */
  if (getenv("JOURNAL_STREAM"))
    fprintf(stderr, "<%d>%s\n", level, text);
  else
    fprintf(stderr, "mcsid: %s: %s\n", level_names[level], text);
}
