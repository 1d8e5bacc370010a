/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json_text.h: text from a peer as a JSON string, whatever its bytes.
 *
 * jansson takes only valid UTF-8: json_string() returns NULL and json_pack()
 * fails on anything else, and a NULL message cannot be sent. Text a target
 * chooses (TargetAlias, SendTargets names and addresses, INQUIRY vendor,
 * product and revision, login and SCSI failure messages that quote it, event
 * reasons, StatusMessage) is any bytes, so it becomes JSON only through these
 * functions: valid UTF-8 (RFC 3629: no overlong form, no surrogate, nothing
 * above U+10FFFF) stays as it is, and each byte that is not part of a valid
 * sequence becomes the four ASCII characters \xHH (lowercase hex). The
 * escape keeps the byte's value (a Latin-1 alias reads "caf\xe9"), so an
 * administrator sees what the target really sent; U+FFFD would say only
 * that something was wrong. (A valid text that itself contains "\x" reads
 * the same: the escape is for people, not a reversible encoding.) */
#ifndef MCSID_JSON_TEXT_H
#define MCSID_JSON_TEXT_H

#include <stddef.h>
#include <jansson.h>

/* The length of the valid UTF-8 sequence at p (1..4), 0 if p[0] does not
 * start one within n bytes. */
size_t mcsid_utf8_char_len(const unsigned char *p, size_t n);
/* 1 if the n bytes are valid UTF-8 (NUL bytes included). */
int mcsid_utf8_valid(const char *s, size_t n);
/* How many bytes of s (at most max) to show without cutting a character in
 * two: "%.*s" with it never makes valid text invalid. */
int mcsid_text_prefix(const char *s, size_t max);
/* The text with invalid bytes escaped, NUL-terminated, malloc'd (NULL: out
 * of memory). s NULL is "". */
char *mcsid_text_escape(const char *s);
/* A JSON string of s, escaped as above; NULL only when out of memory. */
json_t *mcsid_json_text(const char *s);

#endif
