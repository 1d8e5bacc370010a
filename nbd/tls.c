/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls.c: TLS sessions of NBD clients over GnuTLS (see tls.h). TLS 1.2 and
 * 1.3 only (doc/proto.md: older versions only by a configuration change,
 * which there is none of). X.509: the server's certificate and key; with a
 * CA, a client must present a certificate the CA signed (GnuTLS checks it
 * during the handshake). PSK: GnuTLS reads the "username:hexkey" file at
 * each handshake (so a key can be changed or revoked without a restart);
 * it is checked once at load so that a wrong path fails the export's start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include "nbd_internal.h"
#include "tls.h"

/* The server's order wins, and ChaCha20 comes last: a TLS 1.3 PSK (SHA-256)
 * excludes AES-256-GCM, and NORMAL's next choice, ChaCha20, costs about 8
 * times the CPU of AES-128-GCM (AES-NI) on the machines measured. */
#define PRIORITY_X509 "NORMAL:%SERVER_PRECEDENCE:-CHACHA20-POLY1305:+CHACHA20-POLY1305:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define PRIORITY_PSK  PRIORITY_X509 ":+ECDHE-PSK:+DHE-PSK:+PSK"
#define PSK_LINE_MAX  1024

struct nbd_tls_creds {
  gnutls_certificate_credentials_t x509;   /* NULL: none */
  gnutls_psk_server_credentials_t psk;     /* NULL: none */
  gnutls_priority_t prio;
  int client_certs;                        /* a CA was given: clients must present a certificate */
};

struct nbd_tls {
  gnutls_session_t s;
  const nbd_tls_creds *cr;
};

/* ---- credentials ---- */

void nbd_tls_creds_free(nbd_tls_creds *cr)
{
  if (!cr) return;
  if (cr->x509) gnutls_certificate_free_credentials(cr->x509);
  if (cr->psk) gnutls_psk_free_server_credentials(cr->psk);
  if (cr->prio) gnutls_priority_deinit(cr->prio);
  free(cr);
}

int nbd_tls_creds_x509(const nbd_tls_creds *cr) { return cr && cr->x509; }
int nbd_tls_creds_psk(const nbd_tls_creds *cr) { return cr && cr->psk; }
int nbd_tls_creds_client_certs(const nbd_tls_creds *cr) { return cr && cr->client_certs; }

static int load_x509(nbd_tls_creds *cr, const mcsi_nbd_opts *o, char *err, size_t errlen)
{
  int rc = gnutls_certificate_allocate_credentials(&cr->x509);
  if (rc < 0) return nbd_set_err(err, errlen, "TLS: %s", gnutls_strerror(rc)), -1;
  rc = gnutls_certificate_set_x509_key_file(cr->x509, o->tls_cert, o->tls_key, GNUTLS_X509_FMT_PEM);
  if (rc < 0) return nbd_set_err(err, errlen, "TLS: tls_cert/tls_key: %s", gnutls_strerror(rc)), -1;
  if (o->tls_ca) {
    rc = gnutls_certificate_set_x509_trust_file(cr->x509, o->tls_ca, GNUTLS_X509_FMT_PEM);
    if (rc <= 0)
      return nbd_set_err(err, errlen, "TLS: tls_ca: %s", rc < 0 ? gnutls_strerror(rc) : "no certificate in it"), -1;
    cr->client_certs = 1;
  }
  gnutls_certificate_set_known_dh_params(cr->x509, GNUTLS_SEC_PARAM_MEDIUM);
  return 0;
}

/* The file holds at least one "username:hexkey" line (its contents are
 * never quoted: they are secrets). */
static int psk_file_usable(const char *path, char *err, size_t errlen)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
  char line[PSK_LINE_MAX];
  int entries = 0;
  if (!f) {
    nbd_set_err(err, errlen, "TLS: tls_psk_file: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon || colon == line) continue;
    size_t hex = strspn(colon + 1, "0123456789abcdefABCDEF");
    if (hex >= 2 && hex % 2 == 0) entries++;
  }
  explicit_bzero(line, sizeof line);
  fclose(f);
  if (!entries) return nbd_set_err(err, errlen, "TLS: tls_psk_file: no username:hexkey line"), -1;
  return 0;
}

static int load_psk(nbd_tls_creds *cr, const mcsi_nbd_opts *o, char *err, size_t errlen)
{
  if (psk_file_usable(o->tls_psk_file, err, errlen) < 0) return -1;
  int rc = gnutls_psk_allocate_server_credentials(&cr->psk);
  if (rc >= 0) rc = gnutls_psk_set_server_credentials_file(cr->psk, o->tls_psk_file);
  if (rc < 0) return nbd_set_err(err, errlen, "TLS: tls_psk_file: %s", gnutls_strerror(rc)), -1;
  gnutls_psk_set_server_known_dh_params(cr->psk, GNUTLS_SEC_PARAM_MEDIUM);
  return 0;
}

int nbd_tls_opts_check(const mcsi_nbd_opts *o, char *err, size_t errlen)
{
  int any = o->tls_cert || o->tls_key || o->tls_ca || o->tls_psk_file;
  if (o->tls == MCSI_NBD_TLS_OFF && any)
    return nbd_set_err(err, errlen, "TLS is off but TLS credentials are given"), -1;
  if (o->tls != MCSI_NBD_TLS_OFF && o->tls != MCSI_NBD_TLS_REQUIRE)
    return nbd_set_err(err, errlen, "tls must be require or off"), -1;
  if (!o->tls_cert != !o->tls_key) return nbd_set_err(err, errlen, "TLS: tls_cert and tls_key go together"), -1;
  if (o->tls_ca && !o->tls_cert) return nbd_set_err(err, errlen, "TLS: tls_ca needs tls_cert and tls_key"), -1;
  return 0;
}

int nbd_tls_creds_load(const mcsi_nbd_opts *o, nbd_tls_creds **out, char *err, size_t errlen)
{
  *out = NULL;
  if (nbd_tls_opts_check(o, err, errlen) < 0) return -1;
  if (!o->tls_cert && !o->tls_psk_file) return 0;
  nbd_tls_creds *cr = calloc(1, sizeof *cr);
  if (!cr) return nbd_set_err(err, errlen, "out of memory"), -1;
  int bad = (o->tls_cert && load_x509(cr, o, err, errlen) < 0) || (o->tls_psk_file && load_psk(cr, o, err, errlen) < 0);
  if (!bad) {
    int rc = gnutls_priority_init(&cr->prio, cr->psk ? PRIORITY_PSK : PRIORITY_X509, NULL);
    if (rc < 0) bad = 1, nbd_set_err(err, errlen, "TLS priority: %s", gnutls_strerror(rc));
  }
  if (bad) {
    nbd_tls_creds_free(cr);
    return -1;
  }
  *out = cr;
  return 0;
}

/* ---- sessions ---- */

nbd_tls *nbd_tls_new(const nbd_tls_creds *cr, int fd)
{
  nbd_tls *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->cr = cr;
  if (gnutls_init(&t->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
    free(t);
    return NULL;
  }
  int bad = gnutls_priority_set(t->s, cr->prio) < 0;
  if (!bad && cr->x509) bad = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cr->x509) < 0;
  if (!bad && cr->psk) bad = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK, cr->psk) < 0;
  if (bad) {
    nbd_tls_free(t);
    return NULL;
  }
  if (cr->client_certs) {
    gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(t->s, NULL, 0);   /* against the CA, during the handshake */
  }
  gnutls_transport_set_int(t->s, fd);
  return t;
}

void nbd_tls_free(nbd_tls *t)
{
  if (!t) return;
  gnutls_deinit(t->s);
  free(t);
}

int nbd_tls_handshake(nbd_tls *t)
{
  int rc = gnutls_handshake(t->s);
  if (rc == GNUTLS_E_SUCCESS) return 1;
  if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc)) return 0;
  gnutls_alert_send_appropriate(t->s, rc);   /* the client learns why (best effort, non-blocking) */
  return -1;
}

int nbd_tls_wants(const nbd_tls *t)
{
  return gnutls_record_get_direction(t->s) ? MCSI_FD_WRITABLE : MCSI_FD_READABLE;
}

ssize_t nbd_tls_recv(nbd_tls *t, void *buf, size_t len)
{
  ssize_t r = gnutls_record_recv(t->s, buf, len);
  if (r >= 0) return r;
  if (r == GNUTLS_E_AGAIN) errno = EAGAIN;
  else if (r == GNUTLS_E_INTERRUPTED) errno = EINTR;
  else if (r == GNUTLS_E_REHANDSHAKE || gnutls_error_is_fatal((int)r)) errno = EIO;   /* no renegotiation */
  else errno = EINTR;                                  /* a warning alert: the record is consumed */
  return -1;
}

ssize_t nbd_tls_send(nbd_tls *t, const void *buf, size_t len)
{
  ssize_t w = gnutls_record_send(t->s, buf, len);
  if (w >= 0) return w;
  errno = (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) ? EAGAIN : EIO;
  return -1;
}

size_t nbd_tls_pending(nbd_tls *t)
{
  return gnutls_record_check_pending(t->s);
}

void nbd_tls_bye(nbd_tls *t)
{
  gnutls_bye(t->s, GNUTLS_SHUT_WR);   /* non-blocking: GNUTLS_E_AGAIN means the peer misses it */
}
