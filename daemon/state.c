/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.c: the state and secret files, written atomically (see state.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "state.h"
#include "state_check.h"

#define STATE_FILE "state.json"
#define SECRETS_FILE "secrets.json"

static json_t *empty_state(void)
{
  return json_pack("{s:i, s:[], s:[], s:[]}", "Version", 1, "TargetPortals", "Targets", "PersistentTargets");
}

static json_t *empty_secrets(void)
{
  return json_pack("{s:i, s:{}}", "Version", 1, "ChapAccounts");
}

static int shape_ok(json_t *doc, const char *const *arrays, const char *object)
{
  json_t *rejected = json_object_get(doc, "Rejected");
  if (!json_is_object(doc) || !json_is_integer(json_object_get(doc, "Version")) ||
      json_integer_value(json_object_get(doc, "Version")) != 1 || (rejected && !json_is_array(rejected)))
    return 0;
  for (; arrays && *arrays; arrays++)
    if (!json_is_array(json_object_get(doc, *arrays))) return 0;
  return !object || json_is_object(json_object_get(doc, object));
}

static void path_of(const mcsid_state *s, const char *name, char *out, size_t len)
{
  snprintf(out, len, "%s/%s", s->dir, name);
}

/* Keeps an unreadable file aside as NAME.corrupt-<time>. */
static void keep_aside(const char *path, const char *why)
{
  char aside[4200];
  snprintf(aside, sizeof aside, "%s.corrupt-%lld", path, (long long)time(NULL));
  if (rename(path, aside) == 0)
    log_err("state file %s is unusable (%s): kept aside as %s; starting with an empty one", path, why, aside);
  else
    log_err("state file %s is unusable (%s) and cannot be kept aside (%s); starting with an empty one", path, why,
            strerror(errno));
}

static json_t *load_file(const mcsid_state *s, const char *name, const char *const *arrays, const char *object,
                         json_t *(*empty)(void))
{
  char path[4200];
  path_of(s, name, path, sizeof path);
  if (access(path, F_OK) != 0 && errno == ENOENT) return empty();
  json_error_t jerr;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    char why[300];
    snprintf(why, sizeof why, "line %d: %s", jerr.line, jerr.text);
    keep_aside(path, why);
    return empty();
  }
  if (!shape_ok(doc, arrays, object)) {
    json_decref(doc);
    keep_aside(path, "not a version 1 document of the expected shape");
    return empty();
  }
  return doc;
}

/* NAME.tmp-<pid> of a save that never got to its rename (a crash, kill -9,
 * power loss): removed, with a log line each. */
static void remove_temporaries(const mcsid_state *s)
{
  DIR *dir = opendir(s->dir);
  struct dirent *de;
  if (!dir) return;
  while ((de = readdir(dir))) {
    struct stat st;
    if (strncmp(de->d_name, STATE_FILE ".tmp-", sizeof STATE_FILE ".tmp-" - 1) &&
        strncmp(de->d_name, SECRETS_FILE ".tmp-", sizeof SECRETS_FILE ".tmp-" - 1))
      continue;
    if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode)) continue;
    if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
      log_warning("state directory %s: removed %s, left by an interrupted save", s->dir, de->d_name);
    else
      log_err("state directory %s: cannot remove %s, left by an interrupted save: %s", s->dir, de->d_name,
              strerror(errno));
  }
  closedir(dir);
}

int mcsid_state_open(mcsid_state *s, const char *dir)
{
  static const char *const state_arrays[] = { "TargetPortals", "Targets", "PersistentTargets", NULL };
  char path[4200];
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    log_err("state directory %s: %s", dir, strerror(errno));
    return -1;
  }
  remove_temporaries(s);
  s->doc = load_file(s, STATE_FILE, state_arrays, NULL, empty_state);
  s->secrets = load_file(s, SECRETS_FILE, NULL, "ChapAccounts", empty_secrets);
  path_of(s, STATE_FILE, path, sizeof path);
  size_t bad_state = mcsid_state_sort_out(s->doc, path);
  path_of(s, SECRETS_FILE, path, sizeof path);
  size_t bad_secrets = mcsid_secrets_sort_out(s->secrets, path);
  s->doc_on_disk = json_deep_copy(s->doc);
  s->secrets_on_disk = json_deep_copy(s->secrets);
  if (bad_state) mcsid_state_save(s);   /* the entries set aside go to "Rejected" on disk too */
  if (bad_secrets) mcsid_secrets_save(s);
  return 0;
}

void mcsid_state_close(mcsid_state *s)
{
  json_decref(s->doc);
  json_decref(s->secrets);
  json_decref(s->doc_on_disk);
  json_decref(s->secrets_on_disk);
  s->doc = s->secrets = s->doc_on_disk = s->secrets_on_disk = NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int fsync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* temporary file, fsync, rename, fsync of the directory */
static int save_atomic(const mcsid_state *s, const char *name, json_t *doc, mode_t mode)
{
  char path[4200], tmp[4300];
  path_of(s, name, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!text) return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  int ok = fd >= 0 && fchmod(fd, mode) == 0 && write_all(fd, text, strlen(text)) == 0 && write_all(fd, "\n", 1) == 0 &&
           fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) close(fd);
  free(text);
  if (ok && rename(tmp, path) == 0 && fsync_dir(s->dir) == 0) return 0;
  if (!ok) errno = err;
  log_err("cannot write %s: %s", path, strerror(errno));
  unlink(tmp);
  return -1;
}

/* Saved: on_disk follows. Not saved: the document goes back to on_disk. */
static int save_or_undo(const mcsid_state *s, const char *name, json_t **doc, json_t **on_disk, mode_t mode)
{
  json_t *copy;
  if (save_atomic(s, name, *doc, mode) == 0) {
    if ((copy = json_deep_copy(*doc))) {
      json_decref(*on_disk);
      *on_disk = copy;
    }
    return 0;
  }
  if ((copy = json_deep_copy(*on_disk))) {
    json_decref(*doc);
    *doc = copy;
    log_err("%s/%s: the change is undone: the daemon keeps what is on disk", s->dir, name);
  }
  return -1;
}

int mcsid_state_save(mcsid_state *s) { return save_or_undo(s, STATE_FILE, &s->doc, &s->doc_on_disk, 0644); }
int mcsid_secrets_save(mcsid_state *s) { return save_or_undo(s, SECRETS_FILE, &s->secrets, &s->secrets_on_disk, 0600); }

json_t *mcsid_state_portals(mcsid_state *s) { return json_object_get(s->doc, "TargetPortals"); }
json_t *mcsid_state_targets(mcsid_state *s) { return json_object_get(s->doc, "Targets"); }
json_t *mcsid_state_persistent(mcsid_state *s) { return json_object_get(s->doc, "PersistentTargets"); }

json_t *mcsid_state_account(mcsid_state *s, const char *name)
{
  return json_object_get(json_object_get(s->secrets, "ChapAccounts"), name);
}

void mcsid_state_set_account(mcsid_state *s, const char *name, json_t *account)
{
  json_object_set_new(json_object_get(s->secrets, "ChapAccounts"), name, account);
}

json_t *mcsid_secrets_snapshot(mcsid_state *s) { return json_deep_copy(s->secrets); }

int mcsid_secrets_restore(mcsid_state *s, const json_t *snapshot)
{
  json_t *copy;
  if (!snapshot || json_equal(s->secrets, (json_t *)snapshot)) return 0;
  if (!(copy = json_deep_copy(snapshot))) return -1;
  json_decref(s->secrets);
  s->secrets = copy;
  return mcsid_secrets_save(s);
}
