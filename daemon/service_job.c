/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* service_job.c: the service manager's job on mcsid's own unit, asked over
 * D-Bus within a deadline (service_job.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "service_job.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define PRIVATE_BUS "unix:path=/run/systemd/private"

static const char *const restart_jobs[] = { "restart", "try-restart", "reload-or-restart", "try-reload-or-restart" };

static uint64_t now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The time left before deadline (µs), at least 1; 0 once it has passed. */
static uint64_t left_us(uint64_t deadline)
{
  uint64_t now = now_us();
  return now < deadline ? deadline - now : 0;
}

/* Connects, authenticates (and says Hello on the system bus) before deadline: 0 or -errno. */
static int wait_ready(sd_bus *bus, uint64_t deadline)
{
  for (;;) {
    int r = sd_bus_is_ready(bus);
    if (r != 0) return r < 0 ? r : 0;
    if ((r = sd_bus_process(bus, NULL)) < 0) return r;
    if (r > 0) continue;
    uint64_t left = left_us(deadline);
    if (!left) return -ETIMEDOUT;
    if ((r = sd_bus_wait(bus, left)) < 0 && r != -EINTR) return r;
  }
}

/* systemd's private bus (root), else the system bus, ready before deadline; NULL with why[nw]. */
static sd_bus *open_bus(uint64_t deadline, char *why, size_t nw)
{
  sd_bus *bus = NULL;
  int r = sd_bus_new(&bus);
  if (r >= 0) r = sd_bus_set_address(bus, PRIVATE_BUS);
  if (r >= 0) r = sd_bus_start(bus);
  if (r >= 0) r = wait_ready(bus, deadline);
  if (r >= 0) return bus;
  sd_bus_close_unref(bus);
  bus = NULL;
  int r2 = sd_bus_open_system(&bus);
  if (r2 >= 0) r2 = wait_ready(bus, deadline);
  if (r2 >= 0) return bus;
  sd_bus_close_unref(bus);
  if (r == -ETIMEDOUT || r2 == -ETIMEDOUT)
    snprintf(why, nw, "no answer within the deadline");
  else
    snprintf(why, nw, "%s: %s; the system bus: %s", PRIVATE_BUS, strerror(-r), strerror(-r2));
  return NULL;
}

/* The next call's timeout: what is left before deadline; -ETIMEDOUT once it has passed. */
static int bound_call(sd_bus *bus, uint64_t deadline)
{
  uint64_t left = left_us(deadline);
  return left ? sd_bus_set_method_call_timeout(bus, left) : -ETIMEDOUT;
}

/* Our unit's object path into unit[nu], its job's type into type[n] ("" for no job): 0, or -1 with why[nw]. */
static int ask_job(sd_bus *bus, uint64_t deadline, char *unit, size_t nu, char *type, size_t n, char *why, size_t nw)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  const char *path = NULL;
  char *got = NULL;
  uint32_t id = 0;
  int r = bound_call(bus, deadline);
  if (r >= 0)
    r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_DEST ".Manager", "GetUnitByPID", &error, &reply,
                           "u", (uint32_t)getpid());
  if (r >= 0) r = sd_bus_message_read(reply, "o", &path);
  if (r >= 0) snprintf(unit, nu, "%s", path);
  reply = sd_bus_message_unref(reply);
  if (r >= 0) r = bound_call(bus, deadline);
  if (r >= 0) r = sd_bus_get_property(bus, SYSTEMD_DEST, unit, SYSTEMD_DEST ".Unit", "Job", &error, &reply, "(uo)");
  if (r >= 0) r = sd_bus_message_read(reply, "(uo)", &id, &path);
  if (r >= 0 && id) r = bound_call(bus, deadline);
  if (r >= 0 && id)
    r = sd_bus_get_property_string(bus, SYSTEMD_DEST, path, SYSTEMD_DEST ".Job", "JobType", &error, &got);
  if (r >= 0) snprintf(type, n, "%s", id ? got : "");
  if (r < 0) snprintf(why, nw, "%s", sd_bus_error_is_set(&error) ? error.message : strerror(-r));
  free(got);
  sd_bus_message_unref(reply);
  sd_bus_error_free(&error);
  return r < 0 ? -1 : 0;
}

static int is_restart(const char *type)
{
  for (size_t i = 0; i < sizeof restart_jobs / sizeof *restart_jobs; i++)
    if (!strcmp(type, restart_jobs[i])) return 1;
  return 0;
}

int mcsid_service_job_is_restart(void)
{
  if (!getenv("NOTIFY_SOCKET") || !getenv("INVOCATION_ID")) return 0;
  uint64_t t0 = now_us(), deadline = t0 + MCSID_SERVICE_JOB_DEADLINE_MS * 1000u;
  char unit[256] = "", type[64] = "", why[200] = "";
  sd_bus *bus = open_bus(deadline, why, sizeof why);
  int asked = bus && ask_job(bus, deadline, unit, sizeof unit, type, sizeof type, why, sizeof why) == 0;
  sd_bus_close_unref(bus);
  unsigned ms = (unsigned)((now_us() - t0) / 1000u);
  if (!asked) {
    log_warning("SIGTERM: cannot tell the service manager's job (%s, %u ms): a stop, every session logs out", why, ms);
    return 0;
  }
  int restart = is_restart(type);
  log_notice("SIGTERM: the service manager's job on %s: %s (asked in %u ms): %s", unit, *type ? type : "none", ms,
             restart ? "a restart, the sessions wait in the fd store" : "a stop, every session logs out");
  return restart;
}
