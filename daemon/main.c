/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c: mcsid, the mcsi service: options, start, signals, stop.
 *
 * One process, one mcsi_initiator, in the foreground; the control socket, its
 * clients and the signals (signalfd) are watched on the engine's own loop.
 * SIGHUP reloads the configuration and wakes idle persistent logins;
 * SIGTERM/SIGINT log every session out (asynchronously, all at once) within
 * shutdown_timeout_ms and exit 0; but a SIGTERM of systemd's restart job
 * (service_job.h) or armed by Upgrade{ViaFdStore} hands over through the
 * service manager's fd store (handover_store.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "clients.h"
#include "exports.h"
#include "handover.h"
#include "handover_store.h"
#include "service_job.h"
#include "log.h"
#include "mcsid.h"
#include "mcsid_paths.h"   /* MCSID_DEFAULT_CONFIG: SYSCONFDIR/mcsi/mcsid.conf (the Makefile writes it) */
#include "persist.h"
#include "policy.h"
#include "upgrade_running.h"

#define DEFAULT_SOCKET "/run/mcsi/mcsid.sock"
#define DEFAULT_STATE_DIR "/var/lib/mcsi"
#define DEFAULT_CONFIG MCSID_DEFAULT_CONFIG

typedef struct shutdown_state {
  long outstanding;     /* logouts not answered yet */
  long ok, failed;
  double started;
  uint64_t timer;
} shutdown_state;

static shutdown_state stop;

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void usage(FILE *f)
{
  fprintf(f,
          "usage: mcsid [OPTIONS]\n"
          "The mcsi service: owns iSCSI sessions and answers JSON-RPC 2.0 on a Unix socket\n"
          "(one JSON object per line; see doc/protocol.md or mcsid(8)). Runs in the foreground\n"
          "and logs to stderr.\n\n"
          "  --socket PATH      control socket (default " DEFAULT_SOCKET ")\n"
          "  --state-dir DIR    persistent state (default " DEFAULT_STATE_DIR ")\n"
          "  --config FILE      key = value configuration (default " DEFAULT_CONFIG ")\n"
          "  --log-level LEVEL  err, warning, notice, info (default) or debug\n"
          "  --print-config     print every configuration key = value as --config's file sets it\n"
          "                     (a key the file does not set: its default) and exit\n"
          "  --upgrade-running  hand the running mcsid (on --socket) over to this binary's path\n"
          "                     and wait: exit 0 once the successor serves, else 1 with why\n"
          "                     (systemctl reload mcsid)\n"
          "  --help, --version\n\n"
          "Signals: SIGHUP reloads the configuration; SIGTERM/SIGINT log every session out\n"
          "(bounded by shutdown_timeout_ms) and exit 0; SIGUSR2 hands every session and the\n"
          "control socket to a new mcsid started from the same path (an upgrade) and exits 0.\n"
          "Under systemd a SIGTERM of `systemctl restart` (its job, asked over D-Bus) hands\n"
          "everything over through the service manager's fd store instead of logging out.\n");
}

/* ---- stopping -------------------------------------------------------------------------------------- */

static void finish_stop(mcsid *d, const char *why)
{
  log_notice("shutdown: %ld sessions logged out, %ld failed, %ld not answered (%s) in %.0f ms", stop.ok, stop.failed,
             stop.outstanding, why, now_ms() - stop.started);
  if (stop.timer) mcsi_timer_cancel(d->ini, stop.timer);
  stop.timer = 0;
  d->done = 1;
}

static void logout_answered(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)result;
  mcsid *d = arg;
  (void)ini;
  if (st) {
    stop.failed++;
    log_warning("shutdown: logout: %s: %s", mcsi_status_name(st), message);
  } else {
    stop.ok++;
  }
  if (--stop.outstanding == 0 && !d->done) finish_stop(d, "all answered");
}

void mcsid_logout_on_shutdown(mcsid *d, mcsi_id sid)
{
  if (mcsi_logout_from_target_async(d->ini, sid, MCSI_COMPLETION(logout_answered, d)) == ISDSC_SUCCESS) stop.outstanding++;
}

static void stop_timeout(mcsi_initiator *ini, void *arg)
{
  (void)ini;
  stop.timer = 0;
  finish_stop(arg, "time is up");
}

static void begin_stop(mcsid *d, int sig)
{
  if (d->stopping) return;
  d->stopping = 1;
  stop.started = now_ms();
  mcsid_listen_close(d);
  mcsid_persist_stop_all(d);
  mcsid_exports_stop_all(d);   /* NBD clients closed before their sessions go */
  mcsi_id ids[4096];
  size_t n = mcsi_session_list(d->ini, ids, 4096);
  log_notice("%s: logging out %zu sessions (at most %ld ms)", strsignal(sig), n, d->config.shutdown_timeout_ms);
  for (size_t i = 0; i < n && i < 4096; i++) mcsid_logout_on_shutdown(d, ids[i]);
  if (stop.outstanding == 0) {
    finish_stop(d, "nothing to log out");
    return;
  }
  stop.timer = mcsi_timer_add(d->ini, (uint64_t)d->config.shutdown_timeout_ms, stop_timeout, d);
}

/* ---- SIGHUP ---------------------------------------------------------------------------------------- */

static int cli_log_level = -1;

static void apply_log_level(const mcsid *d)
{
  mcsid_log_set_level(cli_log_level >= 0      ? cli_log_level
                      : d->config.log_level >= 0 ? d->config.log_level
                                                 : MCSID_LOG_INFO);
}

static void reload(mcsid *d)
{
  mcsid_config next;
  if (mcsid_config_load(&next, d->config_path) < 0) {
    log_err("SIGHUP: %s refused, the configuration in use stays", d->config_path);
    return;
  }
  if (strcmp(next.initiator_name, d->config.initiator_name))
    log_warning("SIGHUP: initiator_name changes at the next start only");
  memcpy(next.initiator_name, d->config.initiator_name, sizeof next.initiator_name);
  d->config = next;
  apply_log_level(d);
  if (!d->stopping) mcsid_listen_refresh(d);
  log_notice("SIGHUP: configuration %s reloaded", d->config_path);
  if (!d->stopping) mcsid_persist_start_all(d);
}

static void stop_on_sigterm(mcsid *d) { begin_stop(d, SIGTERM); }

static void signal_ready(mcsi_initiator *ini, int fd, int what, void *arg)
{
  mcsid *d = arg;
  struct signalfd_siginfo si;
  (void)ini;
  (void)what;
  while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGHUP)
      reload(d);
    else if (si.ssi_signo == SIGUSR2)
      mcsid_handover_start(d);
    else if (si.ssi_signo == SIGTERM && !d->stopping &&
             (mcsid_handover_store_take_arm() || mcsid_service_job_is_restart()))
      mcsid_handover_start_store(d, stop_on_sigterm);   /* systemctl restart (its job, or armed by Upgrade{ViaFdStore}) */
    else
      begin_stop(d, (int)si.ssi_signo);
  }
}

static int watch_signals(mcsid *d)
{
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
  signal(SIGPIPE, SIG_IGN);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return -1;
  return mcsi_fd_watch(d->ini, fd, MCSI_FD_READABLE, signal_ready, d) ? 0 : -1;
}

/* ---- start ------------------------------------------------------------------------------------------- */

static int print_config;              /* --print-config */
static int upgrade_running;           /* --upgrade-running */

static int parse_options(int argc, char **argv, mcsid *d, const char **state_dir)
{
  static const struct option opts[] = {
    { "socket", required_argument, NULL, 's' },  { "state-dir", required_argument, NULL, 'd' },
    { "config", required_argument, NULL, 'c' },  { "log-level", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },          { "version", no_argument, NULL, 'V' },
    { "print-config", no_argument, NULL, 'p' },  { "upgrade-running", no_argument, NULL, 'u' },
    { NULL, 0, NULL, 0 },
  };
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 's': d->socket_path = optarg; break;
    case 'd': *state_dir = optarg; break;
    case 'c': d->config_path = optarg; break;
    case 'l':
      if ((cli_log_level = mcsid_log_level_parse(optarg)) < 0) {
        fprintf(stderr, "mcsid: --log-level: err, warning, notice, info or debug\n");
        return 2;
      }
      break;
    case 'h': usage(stdout); exit(0);
    case 'p': print_config = 1; break;
    case 'u': upgrade_running = 1; break;
    case 'V': printf("mcsid %s (protocol %d)\n", MCSID_VERSION, MCSID_PROTOCOL_VERSION); exit(0);
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    usage(stderr);
    return 2;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 2 && !strcmp(argv[1], MCSID_POLICY_RUNNER_ARG)) return mcsid_policy_runner_main(argc, argv);
  static mcsid d = { .listen_fd = -1 };
  const char *state_dir = DEFAULT_STATE_DIR;
  d.socket_path = DEFAULT_SOCKET;
  d.config_path = DEFAULT_CONFIG;
  int rc = parse_options(argc, argv, &d, &state_dir);   /* (opens nothing) */
  if (rc) return rc;
  if (upgrade_running) return mcsid_upgrade_running(d.socket_path);   /* a client of the running one */
  mcsid_handover_init(argc, argv);
  mcsid_handover_receive_store();   /* first: its sockets get back their numbers before we open any */
  if (print_config) {
    mcsid_log_set_level(MCSID_LOG_WARNING);
    if (mcsid_config_load(&d.config, d.config_path) < 0) return 1;
    mcsid_config_print(&d.config, stdout);
    return 0;
  }
  if (cli_log_level >= 0) mcsid_log_set_level(cli_log_level);
  if (mcsid_config_load(&d.config, d.config_path) < 0) {
    if (mcsid_handover_pending()) mcsid_handover_refuse();   /* a successor: the old process says why */
    return 1;
  }
  apply_log_level(&d);
  d.ini = mcsi_initiator_new(d.config.initiator_name[0] ? d.config.initiator_name : NULL);
  if (!d.ini) {
    log_err("initiator_name: not a valid iSCSI name (or out of memory)");
    return 1;
  }
  if (mcsid_state_open(&d.state, state_dir) < 0 || watch_signals(&d) < 0) {
    mcsi_initiator_free(d.ini);
    return 1;
  }
  mcsid_exports_migrate(&d);   /* stored exports named before a client can list them */
  int handed = mcsid_handover_pending();   /* the old process hands its sessions and socket over */
  if (handed ? mcsid_handover_take(&d) < 0 : mcsid_listen(&d) < 0) {
    if (handed) {              /* refused: nothing of the old process's is touched on the way out */
      mcsid_handover_refuse();  /* the old process says why in its answer */
      _exit(3);
    }
    mcsi_initiator_free(d.ini);
    return 1;
  }
  mcsid_events_start(&d);
  mcsid_policies_open(&d);
  log_notice("mcsid %s: %s on %s, state in %s", MCSID_VERSION, mcsi_initiator_name(d.ini), d.socket_path, state_dir);
  if (handed) mcsid_handover_ready(&d);
  else mcsid_notify_service_manager("READY=1");
  mcsid_persist_start_all(&d);
  while (!d.done) {
    if (mcsi_process(d.ini, mcsid_policies_timeout(&d)) < 0 && errno != EINTR) {
      log_err("event loop: %s", strerror(errno));
      d.exit_code = 1;
      break;
    }
    mcsid_policies_service(&d);
  }
  mcsid_policies_close(&d);
  mcsid_listen_close(&d);
  mcsid_clients_close_all(&d);
  mcsi_initiator_free(d.ini);
  mcsid_state_close(&d.state);
  log_notice("exit %d", d.exit_code);
  return d.exit_code;
}
