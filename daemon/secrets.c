/* secrets.c: CHAP from secret files and stored accounts (see secrets.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "clients.h"
#include "secrets.h"

void mcsid_chap_wipe(mcsid_chap *c) { explicit_bzero(c, sizeof *c); }

/* Reads a secret file into out (size 256). */
static mcsi_status read_secret_file(const char *path, uid_t peer, const char *param, char *out, char *msg,
                                    size_t len)
{
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    snprintf(msg, len, "%s: cannot be opened: %s", param, strerror(errno));
    if (fd >= 0) close(fd);
    return ISDSC_INVALID_PARAMETER;
  }
  if (!S_ISREG(st.st_mode) || (st.st_uid != peer && st.st_uid != 0)) {
    close(fd);
    snprintf(msg, len, "%s: not a regular file owned by the caller or root", param);
    return ISDSC_INVALID_PARAMETER;
  }
  char buf[258];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  if (n <= 0 || n > 255 || memchr(buf, 0, (size_t)n)) {
    explicit_bzero(buf, sizeof buf);
    snprintf(msg, len, "%s: the secret must be 1..255 bytes", param);
    return ISDSC_INVALID_CHAP_SECRET;
  }
  memcpy(out, buf, (size_t)n);
  out[n] = 0;
  explicit_bzero(buf, sizeof buf);
  return ISDSC_SUCCESS;
}

static int copy_name(char *dst, size_t size, const char *src)
{
  if (!src) return 0;
  if (strlen(src) >= size) return -1;
  memcpy(dst, src, strlen(src) + 1);
  return 0;
}

mcsi_status mcsid_chap_from_call(const mcsid_call *call, mcsid_chap *out, char *msg, size_t len)
{
  const char *account = mcsid_param_string(call, "ChapAccount");
  const char *user = mcsid_param_string(call, "Username"), *file = mcsid_param_string(call, "SecretFile");
  const char *tuser = mcsid_param_string(call, "TargetUsername");
  const char *tfile = mcsid_param_string(call, "TargetSecretFile");
  memset(out, 0, sizeof *out);
  if (!user && !file && !tuser && !tfile)
    return account ? mcsid_chap_from_account(&call->d->state, account, out, msg, len) : ISDSC_SUCCESS;
  if (!user || !file || (!tuser != !tfile)) {
    snprintf(msg, len, "CHAP needs Username with SecretFile (and TargetUsername with TargetSecretFile)");
    return ISDSC_INVALID_PARAMETER;
  }
  if (copy_name(out->account, sizeof out->account, account ? account : user) < 0 ||
      copy_name(out->username, sizeof out->username, user) < 0 ||
      copy_name(out->target_username, sizeof out->target_username, tuser) < 0) {
    snprintf(msg, len, "CHAP account or user name too long");
    return ISDSC_INVALID_CHAP_USER_NAME;
  }
  uid_t peer = mcsid_client_uid(call->client);
  mcsi_status st = read_secret_file(file, peer, "SecretFile", out->secret, msg, len);
  if (!st && tfile) st = read_secret_file(tfile, peer, "TargetSecretFile", out->target_secret, msg, len);
  if (st) {
    mcsid_chap_wipe(out);
    return st;
  }
  out->set = 1;
  return ISDSC_SUCCESS;
}

mcsi_status mcsid_chap_from_account(mcsid_state *s, const char *name, mcsid_chap *out, char *msg, size_t len)
{
  json_t *a = mcsid_state_account(s, name);
  memset(out, 0, sizeof *out);
  if (!json_is_object(a)) {
    snprintf(msg, len, "no CHAP account of that name is stored");
    return ISDSC_INVALID_PARAMETER;
  }
  if (copy_name(out->account, sizeof out->account, name) < 0 ||
      copy_name(out->username, sizeof out->username, json_string_value(json_object_get(a, "Username"))) < 0 ||
      copy_name(out->secret, sizeof out->secret, json_string_value(json_object_get(a, "Secret"))) < 0 ||
      copy_name(out->target_username, sizeof out->target_username,
                json_string_value(json_object_get(a, "TargetUsername"))) < 0 ||
      copy_name(out->target_secret, sizeof out->target_secret,
                json_string_value(json_object_get(a, "TargetSecret"))) < 0 ||
      !out->secret[0]) {
    mcsid_chap_wipe(out);
    snprintf(msg, len, "the stored CHAP account is unusable");
    return ISDSC_INVALID_CHAP_SECRET;
  }
  out->set = 1;
  return ISDSC_SUCCESS;
}

json_t *mcsid_chap_account_json(const mcsid_chap *c)
{
  json_t *a = json_pack("{s:s, s:s}", "Username", c->username, "Secret", c->secret);
  if (c->target_secret[0]) {
    json_object_set_new(a, "TargetUsername", json_string(c->target_username));
    json_object_set_new(a, "TargetSecret", json_string(c->target_secret));
  }
  return a;
}

void mcsid_chap_to_engine(const mcsid_chap *c, mcsi_chap *o)
{
  memset(o, 0, sizeof *o);
  if (!c->set) return;
  o->username = c->username;
  o->secret = c->secret;
  if (c->target_secret[0]) {
    o->target_username = c->target_username;
    o->target_secret = c->target_secret;
  }
}
