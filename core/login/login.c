/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login.c: the login phase of one connection (RFC 7143 6.3, 12): always
 * through SecurityNegotiation (CHAP when a secret is set, None otherwise),
 * then LoginOperationalNegotiation, redirects followed, every failure mapped
 * to an ISDSC status with the target's own class and detail kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chap.h"
#include "digest.h"
#include "login.h"

#define MAX_ROUNDS 16           /* login PDUs one connection may exchange */

enum step { ST_AUTH, ST_CHAP_A, ST_CHAP_R, ST_SECURITY_DONE, ST_OPERATIONAL };

struct mcsi_login {
  mcsi_transport *tp;
  mcsi_login_args a;
  const mcsi_login_opts *o;     /* a.opts */
  mcsi_login_done_cb done;
  void *done_arg;
  mcsi_login_result res;
  uint32_t exp_statsn;
  int ended;                    /* done was called */
  char message[MCSI_MSG_MAX];
  enum step step;
  int rounds, redirects;
  int use_chap, mutual;
  uint8_t chap_id;
  uint8_t challenge[32];
  size_t challenge_len;
  int chap_alg;
  mcsi_text rsp;                /* response text, gathered over C-bit PDUs */
  mcsi_text offered;            /* keys we offered in the operational stage */
  mcsi_text answers;            /* answers to the target's own offers, to send */
  mcsi_params ours, neg;
  uint32_t itt;
  uint16_t tsih;                /* TSIH we ask for (0: new session) */
  int finished;
  mcsi_timer timer;
};

/* Ends the login once: its exchange is dropped, the caller hears. */
static void end(struct mcsi_login *l, mcsi_status st)
{
  if (l->ended) return;
  l->ended = 1;
  mcsi_timer_stop(l->tp->loop, &l->timer);
  mcsi_text_free(&l->rsp);
  mcsi_text_free(&l->offered);
  mcsi_text_free(&l->answers);
  if (st) mcsi_transport_abort(l->tp);
  l->done(l, st, st ? l->message : "Success", l->done_arg);
}

static mcsi_status fail(struct mcsi_login *l, mcsi_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static mcsi_status fail(struct mcsi_login *l, mcsi_status st, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mcsi_msg(l->message, st, "login to %s at %s: %s", l->a.discovery ? "discovery" : l->a.target, l->tp->portal, msg);
  end(l, st);
  return st;
}

void mcsi_login_free(struct mcsi_login *l)
{
  if (!l) return;
  mcsi_timer_stop(l->tp->loop, &l->timer);
  mcsi_text_free(&l->rsp);
  mcsi_text_free(&l->offered);
  mcsi_text_free(&l->answers);
  free(l);
}

static void login_timeout(mcsi_timer *t)
{
  struct mcsi_login *l = MCSI_CONTAINER(t, struct mcsi_login, timer);
  int ms = l->o->login_timeout_ms;
  if (l->tp->state == MCSI_TP_RESOLVING) {     /* the login timeout covers resolution too */
    mcsi_msg(l->message, ISDSC_DNS_NAME_UNRESOLVED, "resolving '%s' for %s: no answer within %d ms", l->tp->host,
             l->tp->portal, ms);
    end(l, ISDSC_DNS_NAME_UNRESOLVED);
  } else if (l->tp->state == MCSI_TP_CONNECTING) {
    mcsi_msg(l->message, ISDSC_CONNECTION_FAILED, "connect to %s: no answer within %d ms", l->tp->portal, ms);
    end(l, ISDSC_CONNECTION_FAILED);
  } else
    fail(l, ISDSC_LOGIN_FAILED, "no Login Response within %d ms", ms);
}

static void reset_exchange(struct mcsi_login *l)
{
  mcsi_text_free(&l->rsp);
  mcsi_text_free(&l->offered);
  mcsi_text_free(&l->answers);
  l->step = ST_AUTH;
  mcsi_params_rfc_defaults(&l->neg);
  l->neg.max_recv_dsl = l->ours.max_recv_dsl;
}

mcsi_login *mcsi_login_start(mcsi_transport *tp, const mcsi_login_args *a, mcsi_login_done_cb done, void *arg,
                             mcsi_status *st, char *msg)
{
  const mcsi_login_opts *o = a->opts;
  struct mcsi_login *l = calloc(1, sizeof *l);
  if (!l) {
    *st = mcsi_msg(msg, ISDSC_OUT_OF_RESOURCES, "out of memory");
    return NULL;
  }
  l->tp = tp;
  l->a = *a;
  l->o = o;
  l->done = done;
  l->done_arg = arg;
  l->use_chap = o->chap.secret != NULL;
  l->mutual = o->chap.target_secret != NULL;
  l->tsih = a->leading ? 0 : a->tsih;
  mcsi_params_from_opts(&l->ours, o);
  mcsi_text_init(&l->rsp);
  mcsi_text_init(&l->offered);
  mcsi_text_init(&l->answers);
  reset_exchange(l);
  l->itt = a->itt;
  mcsi_timer_init(&l->timer, login_timeout);
  *st = mcsi_transport_connect(tp, o->portal);
  if (*st) {
    snprintf(msg, MCSI_MSG_MAX, "%s", tp->message);
    mcsi_login_free(l);
    return NULL;
  }
  mcsi_timer_start(tp->loop, &l->timer, (uint64_t)o->login_timeout_ms);
  return l;
}

void mcsi_login_cancel(mcsi_login *l)
{
  if (!l || l->ended) return;
  l->ended = 1;
  mcsi_timer_stop(l->tp->loop, &l->timer);
}

const mcsi_login_result *mcsi_login_result_of(const mcsi_login *l) { return &l->res; }

/* ---- sending ------------------------------------------------------------------ */

static void send_login(struct mcsi_login *l, int csg, int transit, int nsg, mcsi_text *keys)
{
  size_t len = 0;
  uint8_t *data = keys ? mcsi_text_encode(keys, &len) : NULL;
  if (keys && !data) { fail(l, ISDSC_OUT_OF_RESOURCES, "out of memory"); return; }
  if (len > 8192) { free(data); fail(l, ISDSC_INVALID_PARAMETER, "login text too long"); return; }
  mcsi_pdu_hdr h = { .opcode = MCSI_OP_LOGIN_REQ, .immediate = 1 };
  h.flags = (uint8_t)((transit ? MCSI_F_TRANSIT : 0) | csg << 2 | (transit ? nsg : 0));
  memcpy(h.isid, l->a.isid, 6);
  h.tsih = l->tsih;
  h.itt = l->itt;     /* one ITT for every PDU of this login */
  h.cid = l->a.cid;
  h.cmdsn = *l->a.cmdsn;
  h.expstatsn = l->exp_statsn;
  mcsi_transport_queue(l->tp, &h, data, (uint32_t)len, NULL, data);
}

static int add_first_keys(struct mcsi_login *l, mcsi_text *t)
{
  int rc = mcsi_text_add(t, "InitiatorName", l->a.initiator_name);
  if (l->a.leading) rc |= mcsi_text_add(t, "SessionType", l->a.discovery ? "Discovery" : "Normal");
  if (!l->a.discovery) rc |= mcsi_text_add(t, "TargetName", l->a.target);
  return rc | mcsi_text_add(t, "AuthMethod", l->use_chap ? "CHAP" : "None");
}

static void send_operational(struct mcsi_login *l)
{
  mcsi_text keys;
  mcsi_text_init(&keys);
  int rc = 0;
  if (l->step != ST_OPERATIONAL) {   /* first operational PDU: our offers */
    rc = mcsi_params_offer(&l->ours, l->a.leading, l->a.discovery, &keys);
    for (size_t i = 0; i < keys.count && !rc; i++) rc = mcsi_text_add(&l->offered, keys.items[i].key, "");
    l->step = ST_OPERATIONAL;
  }
  for (size_t i = 0; i < l->answers.count && !rc; i++)
    rc = mcsi_text_add(&keys, l->answers.items[i].key, l->answers.items[i].value);
  mcsi_text_free(&l->answers);
  if (rc) fail(l, ISDSC_OUT_OF_RESOURCES, "out of memory");
  else send_login(l, MCSI_STAGE_OPERATIONAL, 1, MCSI_STAGE_FULL_FEATURE, &keys);
  mcsi_text_free(&keys);
}

void mcsi_login_connected(mcsi_login *l)
{
  mcsi_text keys;
  mcsi_text_init(&keys);
  if (add_first_keys(l, &keys)) fail(l, ISDSC_OUT_OF_RESOURCES, "out of memory");
  else if (l->use_chap) send_login(l, MCSI_STAGE_SECURITY, 0, 0, &keys);
  else send_login(l, MCSI_STAGE_SECURITY, 1, MCSI_STAGE_OPERATIONAL, &keys);
  mcsi_text_free(&keys);
}

/* ---- status classes ------------------------------------------------------------ */

static mcsi_status map_login_status(uint8_t cls, uint8_t detail)
{
  if (cls == 2) {
    static const mcsi_status initiator_err[] = {
      ISDSC_INITIATOR_ERROR, ISDSC_AUTHENTICATION_FAILURE, ISDSC_AUTHORIZATION_FAILURE,
      ISDSC_TARGET_NOT_FOUND, ISDSC_TARGET_REMOVED, ISDSC_UNSUPPORTED_VERSION,
      ISDSC_TOO_MANY_CONNECTIONS, ISDSC_MISSING_PARAMETER, ISDSC_CANT_INCLUDE_IN_SESSION,
      ISDSC_SESSION_TYPE_NOT_SUPPORTED, ISDSC_REQUEST_NOT_SUPPORTED, ISDSC_LOGIN_FAILED };
    return detail < sizeof initiator_err / sizeof initiator_err[0] ? initiator_err[detail]
                                                                   : ISDSC_INITIATOR_ERROR;
  }
  if (cls == 3) {
    if (detail == 1) return ISDSC_SERVICE_UNAVAILABLE;
    if (detail == 2) return ISDSC_TARGET_OUT_OF_RESORCES;
    return ISDSC_TARGET_ERROR;
  }
  return ISDSC_LOGIN_FAILED;
}

static const char *login_status_text(uint8_t cls, uint8_t detail)
{
  static const char *const c2[] = { "initiator error", "authentication failure",
    "authorization failure", "not found", "target removed", "unsupported version",
    "too many connections", "missing parameter", "can't include in session",
    "session type not supported", "session does not exist", "invalid during login" };
  static const char *const c3[] = { "target error", "service unavailable", "out of resources" };
  if (cls == 2 && detail < 12) return c2[detail];
  if (cls == 3 && detail < 3) return c3[detail];
  return "unknown status";
}

static void redirect(struct mcsi_login *l, const mcsi_pdu_hdr *h)
{
  const char *addr = mcsi_text_get(&l->rsp, "TargetAddress");
  mcsi_status moved = h->status_detail == 2 ? ISDSC_TARGET_MOVED_PERMANENTLY : ISDSC_TARGET_MOVED_TEMPORARILY;
  if (!addr) { fail(l, moved, "redirect (0x01%02x) without TargetAddress", h->status_detail); return; }
  if (l->redirects >= l->o->max_redirects) {
    fail(l, moved, "more than %d redirects (last to %s)", l->o->max_redirects, addr);
    return;
  }
  l->redirects++;
  char to[128];
  snprintf(to, sizeof to, "%s", addr);
  reset_exchange(l);
  mcsi_status st = mcsi_transport_connect(l->tp, to);
  if (st) fail(l, st, "redirect to %s: %s", to, l->tp->message);
}

/* ---- security stage ---------------------------------------------------------------- */

static int check_auth_method(struct mcsi_login *l)
{
  const char *m = mcsi_text_get(&l->rsp, "AuthMethod");
  const char *want = l->use_chap ? "CHAP" : "None";
  if (m && !strcmp(m, want)) return 0;
  if (!m && !l->use_chap) return 0;      /* target skipped the key: None */
  fail(l, l->use_chap ? ISDSC_INVALID_LOGON_AUTH_TYPE : ISDSC_AUTHENTICATION_FAILURE,
       "we offered AuthMethod=%s, the target answered %s", want, m ? m : "nothing");
  return -1;
}

static void send_chap_response(struct mcsi_login *l)
{
  const char *a = mcsi_text_get(&l->rsp, "CHAP_A"), *i = mcsi_text_get(&l->rsp, "CHAP_I");
  const char *cc = mcsi_text_get(&l->rsp, "CHAP_C");
  uint8_t chal[MCSI_CHAP_CHALLENGE_MAX], resp[MCSI_CHAP_DIGEST_MAX];
  uint64_t id;
  l->chap_alg = a ? mcsi_chap_pick_algorithm(a) : -1;
  if (l->chap_alg < 0 || !i || !cc) {
    fail(l, ISDSC_AUTHENTICATION_FAILURE, "bad CHAP offer (CHAP_A=%s)", a ? a : "missing");
    return;
  }
  long clen = mcsi_chap_decode(cc, chal, sizeof chal);
  if (mcsi_text_parse_number(i, &id) || id > 255 || clen <= 0) {
    fail(l, ISDSC_AUTHENTICATION_FAILURE, "malformed CHAP_I or CHAP_C");
    return;
  }
  if (mcsi_chap_reflected(l->a.challenges, chal, (size_t)clen)) {
    fail(l, ISDSC_AUTHENTICATION_FAILURE, "the target reflected our own CHAP challenge");
    return;
  }
  const char *secret = l->o->chap.secret;
  mcsi_chap_response(l->chap_alg, (uint8_t)id, secret, strlen(secret), chal, (size_t)clen, resp);
  size_t dl = mcsi_chap_digest_len(l->chap_alg);
  char hex[2 * MCSI_CHAP_CHALLENGE_MAX + 3];
  mcsi_text keys;
  mcsi_text_init(&keys);
  mcsi_chap_encode_hex(resp, dl, hex);
  int rc = mcsi_text_add(&keys, "CHAP_N", l->o->chap.username ? l->o->chap.username : l->a.initiator_name);
  rc |= mcsi_text_add(&keys, "CHAP_R", hex);
  if (l->mutual) {
    l->challenge_len = 16;
    if (mcsi_chap_random(&l->chap_id, 1) || mcsi_chap_random(l->challenge, l->challenge_len)) rc = -1;
    mcsi_chap_remember(l->a.challenges, l->challenge);
    mcsi_chap_encode_hex(l->challenge, l->challenge_len, hex);
    rc |= mcsi_text_add_u32(&keys, "CHAP_I", l->chap_id);
    rc |= mcsi_text_add(&keys, "CHAP_C", hex);
  }
  l->step = ST_CHAP_R;
  if (rc) fail(l, ISDSC_OUT_OF_RESOURCES, "CHAP response could not be built");
  else send_login(l, MCSI_STAGE_SECURITY, 1, MCSI_STAGE_OPERATIONAL, &keys);
  mcsi_text_free(&keys);
}

static int check_target_chap(struct mcsi_login *l)
{
  if (!l->mutual) return 0;
  const char *n = mcsi_text_get(&l->rsp, "CHAP_N"), *r = mcsi_text_get(&l->rsp, "CHAP_R");
  uint8_t got[MCSI_CHAP_DIGEST_MAX + 1], want[MCSI_CHAP_DIGEST_MAX];
  size_t dl = mcsi_chap_digest_len(l->chap_alg);
  const char *tuser = l->o->chap.target_username;
  if (!n || !r) { fail(l, ISDSC_AUTHENTICATION_FAILURE, "target did not answer our CHAP challenge"); return -1; }
  if (tuser && strcmp(n, tuser) != 0) {
    fail(l, ISDSC_AUTHENTICATION_FAILURE, "target CHAP name '%s', expected '%s'", n, tuser);
    return -1;
  }
  const char *ts = l->o->chap.target_secret;
  mcsi_chap_response(l->chap_alg, l->chap_id, ts, strlen(ts), l->challenge, l->challenge_len, want);
  if (mcsi_chap_decode(r, got, sizeof got) != (long)dl || !mcsi_chap_equal(got, want, dl)) {
    fail(l, ISDSC_AUTHENTICATION_FAILURE, "target failed mutual CHAP (wrong CHAP_R)");
    return -1;
  }
  return 0;
}

static void security_rx(struct mcsi_login *l, const mcsi_pdu_hdr *h)
{
  int transit = (h->flags & MCSI_F_TRANSIT) != 0;
  switch (l->step) {
  case ST_AUTH:
    if (check_auth_method(l)) return;
    if (l->use_chap) {
      mcsi_text keys;
      mcsi_text_init(&keys);
      /* MD5 first: tgt 1.0.85 picks SHA-256 (7) from "7,5" and then cannot
       * decode a 32-byte CHAP_R. A target offering only 7 still gets SHA-256. */
      if (mcsi_text_add(&keys, "CHAP_A", "5,7")) { fail(l, ISDSC_OUT_OF_RESOURCES, "out of memory"); return; }
      l->step = ST_CHAP_A;
      send_login(l, MCSI_STAGE_SECURITY, 0, 0, &keys);
      mcsi_text_free(&keys);
      return;
    }
    l->step = ST_SECURITY_DONE;
    break;
  case ST_CHAP_A:
    send_chap_response(l);
    return;
  case ST_CHAP_R:
    if (check_target_chap(l)) return;
    l->step = ST_SECURITY_DONE;
    break;
  default:
    break;
  }
  if (transit && MCSI_LOGIN_NSG(h->flags) == MCSI_STAGE_OPERATIONAL) send_operational(l);
  else if (transit) fail(l, ISDSC_LOGIN_FAILED, "target moved to stage %d", MCSI_LOGIN_NSG(h->flags));
  else send_login(l, MCSI_STAGE_SECURITY, 1, MCSI_STAGE_OPERATIONAL, NULL);
}

/* ---- operational stage -------------------------------------------------------------- */

static int operational_keys(struct mcsi_login *l)
{
  for (size_t i = 0; i < l->rsp.count; i++) {
    const char *k = l->rsp.items[i].key, *v = l->rsp.items[i].value, *err = NULL;
    int offered = mcsi_text_get(&l->offered, k) != NULL;
    if (!strcmp(k, "TargetAlias")) snprintf(l->res.target_alias, sizeof l->res.target_alias, "%s", v);
    if (mcsi_params_apply(&l->neg, &l->ours, k, v, offered, &l->answers, &err)) {
      fail(l, ISDSC_INVALID_TEXT_KEY, "key %s=%.64s: %s", k, v, err ? err : "out of memory");
      return -1;
    }
  }
  return 0;
}

/* Logs out a connection the target took into full feature phase that we do
 * not keep: Logout with reason (MCSI_LOGOUT_SESSION when the target made a
 * new session out of an added connection, MCSI_LOGOUT_CONNECTION for a join
 * we refuse) on it, in its full feature phase (its header digest), sent at
 * once and best effort, outside the queue; the connection then fails once,
 * through fail(). */
static void logout_unwanted(struct mcsi_login *l, const mcsi_pdu_hdr *h, uint8_t reason)
{
  mcsi_pdu_hdr lo = { .opcode = MCSI_OP_LOGOUT_REQ, .immediate = 1, .reason = reason,
                      .itt = l->itt + 1, .cid = l->a.cid, .cmdsn = h->expcmdsn, .expstatsn = h->statsn + 1 };
  uint8_t pdu[MCSI_BHS_LEN + MCSI_DIGEST_LEN];
  size_t n = MCSI_BHS_LEN;
  mcsi_pdu_encode(&lo, pdu);
  if (l->neg.header_digest) {
    mcsi_digest_put(pdu + n, mcsi_crc32c(pdu, n));
    n += MCSI_DIGEST_LEN;
  }
  mcsi_transport_send_now(l->tp, pdu, n);
}

static int final_response(const mcsi_pdu_hdr *h)
{
  return (h->flags & MCSI_F_TRANSIT) && MCSI_LOGIN_NSG(h->flags) == MCSI_STAGE_FULL_FEATURE;
}

/* TargetPortalGroupTag (RFC 7143 13.9), in whichever response carries it:
 * a number 0..65535, and for a joining connection the portal group of the
 * session's leading connection: every connection of a session is in one
 * portal group (RFC 7143 4.4.1), a join through another one is refused. */
static int check_portal_group(struct mcsi_login *l, const mcsi_pdu_hdr *h)
{
  const char *v = mcsi_text_get(&l->rsp, "TargetPortalGroupTag");
  uint64_t n;
  if (!v) return 0;
  if (mcsi_text_parse_number(v, &n) || n > 65535) {
    fail(l, ISDSC_INVALID_TEXT_KEY, "TargetPortalGroupTag=%.32s is not a number 0..65535", v);
    return -1;
  }
  l->res.tpgt = (uint16_t)n;
  l->res.tpgt_known = 1;
  if (l->a.leading || !l->a.tpgt_known || n == l->a.tpgt) return 0;
  if (final_response(h) && h->status_class == 0) logout_unwanted(l, h, MCSI_LOGOUT_CONNECTION);
  fail(l, ISDSC_CANT_INCLUDE_IN_SESSION, "the target answered TargetPortalGroupTag=%u, the session's connections"
       " are in portal group %u: a session spans one portal group (RFC 7143 4.4.1)", (unsigned)n, l->a.tpgt);
  return -1;
}

static void finish(struct mcsi_login *l, const mcsi_pdu_hdr *h)
{
  if (l->a.leading && h->tsih == 0) {    /* RFC 7143 11.13.4: the final response carries the TSIH */
    fail(l, ISDSC_TRANSPORT_ERROR, "the final Login Response of a new session carries TSIH 0");
    return;
  }
  if (!l->a.leading && h->tsih != l->a.tsih) {
    logout_unwanted(l, h, MCSI_LOGOUT_SESSION);
    fail(l, ISDSC_CANT_INCLUDE_IN_SESSION, "target made a new session (TSIH 0x%04x) instead of joining 0x%04x;"
         " it was logged out", h->tsih, l->a.tsih);
    return;
  }
  l->res.tsih = h->tsih;
  l->res.neg = l->neg;
  l->res.exp_cmdsn = h->expcmdsn;
  l->res.max_cmdsn = h->maxcmdsn;
  l->res.exp_statsn = l->exp_statsn;
  l->finished = 1;
}

static void operational_rx(struct mcsi_login *l, const mcsi_pdu_hdr *h)
{
  if (operational_keys(l)) return;
  int transit = (h->flags & MCSI_F_TRANSIT) != 0;
  if (transit && MCSI_LOGIN_NSG(h->flags) == MCSI_STAGE_FULL_FEATURE) finish(l, h);
  else if (transit) fail(l, ISDSC_LOGIN_FAILED, "target moved to stage %d", MCSI_LOGIN_NSG(h->flags));
  else send_operational(l);
}

/* ---- one Login Response ----------------------------------------------------------------- */

static int check_response(struct mcsi_login *l, const mcsi_pdu_hdr *h)
{
  if (h->opcode != MCSI_OP_LOGIN_RSP) {
    fail(l, ISDSC_TRANSPORT_ERROR, "got a %s during login", mcsi_opcode_name(h->opcode));
    return -1;
  }
  /* tgt zeroes the ISID in its error responses: check it only on success */
  if (h->itt != l->itt || (h->status_class == 0 && memcmp(h->isid, l->a.isid, 6) != 0)) {
    fail(l, ISDSC_TRANSPORT_ERROR, "Login Response for another ITT (0x%08x) or ISID", h->itt);
    return -1;
  }
  if (h->status_class == 0 && h->version_min != 0) {
    fail(l, ISDSC_VERSION_MISMATCH, "target chose version %u", h->version_min);
    return -1;
  }
  if (++l->rounds > MAX_ROUNDS) {
    fail(l, ISDSC_LOGIN_FAILED, "no agreement after %d Login Responses", MAX_ROUNDS);
    return -1;
  }
  return 0;
}

static int gather_text(struct mcsi_login *l, const uint8_t *data, uint32_t dlen)
{
  const char *bad = NULL;
  if (!dlen) return 0;
  if (mcsi_text_parse(&l->rsp, data, dlen, &bad) == 0) return 0;
  fail(l, ISDSC_INVALID_TEXT_KEY, "malformed text in Login Response: %s", bad ? bad : "out of memory");
  return -1;
}

void mcsi_login_rx(mcsi_login *l, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen)
{
  if (l->ended || check_response(l, h)) return;
  l->exp_statsn = h->statsn + 1;
  /* The window is not taken from here: a leading login's final answer sets
   * it (finish), and a joining login's says nothing of the session (tgt
   * answers it with the CmdSN of that login as ExpCmdSN, above the real one
   * while commands lost with a dropped connection are being re-sent). */
  if (h->status_class == 1) {
    mcsi_text_free(&l->rsp);
    if (gather_text(l, data, dlen) == 0) redirect(l, h);
    return;
  }
  if (h->status_class != 0) {
    fail(l, map_login_status(h->status_class, h->status_detail), "target answered status 0x%02x%02x (%s)",
         h->status_class, h->status_detail, login_status_text(h->status_class, h->status_detail));
    return;
  }
  if (gather_text(l, data, dlen)) return;
  if (h->flags & MCSI_F_CONTINUE) {          /* more text follows: ask for it */
    send_login(l, MCSI_LOGIN_CSG(h->flags), 0, 0, NULL);
    return;
  }
  if (check_portal_group(l, h)) return;
  if (MCSI_LOGIN_CSG(h->flags) == MCSI_STAGE_SECURITY) security_rx(l, h);
  else operational_rx(l, h);
  if (l->ended) return;
  if (l->finished) end(l, ISDSC_SUCCESS);
  else mcsi_text_free(&l->rsp);
}
