/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.h: mcsid's log lines on stderr, with levels.
 *
 * Format: "mcsid: LEVEL: text" on a terminal or a file; when stderr is the
 * journal (JOURNAL_STREAM names stderr's device and inode, as systemd sets
 * it) "<N>text", the sd-daemon prefix the journal turns into the priority
 * (3 err, 4 warning, 5 notice, 6 info, 7 debug). Nothing secret is ever
 * passed here. */
#ifndef MCSID_LOG_H
#define MCSID_LOG_H

enum { MCSID_LOG_ERR = 3, MCSID_LOG_WARNING = 4, MCSID_LOG_NOTICE = 5, MCSID_LOG_INFO = 6, MCSID_LOG_DEBUG = 7 };

/* "err", "warning", "notice", "info", "debug" (or 3..7); -1 if none of these. */
int mcsid_log_level_parse(const char *s);
/* The name of a level 3..7 ("info"); "?" for any other number. */
const char *mcsid_log_level_name(int level);
void mcsid_log_set_level(int level);
int mcsid_log_get_level(void);
void mcsid_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text of the last error logged (logged or not: below the threshold too), "" before any. */
const char *mcsid_log_last_error(void);
#define log_err(...) mcsid_log(MCSID_LOG_ERR, __VA_ARGS__)
#define log_warning(...) mcsid_log(MCSID_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) mcsid_log(MCSID_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) mcsid_log(MCSID_LOG_INFO, __VA_ARGS__)
#define log_debug(...) mcsid_log(MCSID_LOG_DEBUG, __VA_ARGS__)

#endif
