/* SPDX-License-Identifier: MIT */
/*
 * lmcsi_main.c: the `mcsi` program, modelled on lua.c: a Lua 5.4 interpreter
 * with the mcsi module linked in (global `mcsi`, and `iscsicli`).
 *
 *   mcsi                      REPL when stdin is a terminal, else runs stdin
 *   mcsi script.lua args...   runs a script (arg table as in lua)
 *   mcsi -e 'code' / mcsi -   runs code / stdin; -i enters the REPL afterwards
 *   --sandbox                 see lsandbox.c: no processes, native code, binary
 *                             chunks, debug library; writes only under --allow-dir
 *   --budget-instructions N   the script stops (with an error that pcall cannot
 *   --budget-seconds S        swallow) after N VM instructions or S seconds; past
 *                             S + 1 s a watchdog thread ends the program (exit 1)
 *   --json                    results and listing commands printed as JSON
 *   --connect [SOCKET]        the mcsi module talks to the daemon mcsid
 *                             (mcsi.connect: bindings/mcsi/remote.lua); SOCKET is
 *                             the next argument when it is a socket, or
 *                             --connect=SOCKET; default $MCSI_SOCKET, else
 *                             /run/mcsi/mcsid.sock
 *
 * The REPL uses readline's callback interface: it waits with poll() on stdin
 * and on the engine (mcsi_fd, timers), so that while it waits at the prompt
 * NOPs are answered, failures detected and callbacks run. It tries
 * "return <line>" first, continues incomplete chunks on ">> " lines, prints
 * results with mcsi.pretty, completes the mcsi API with Tab and keeps a
 * history (~/.mcsi_history, or $MCSI_HISTORY) without the lines that hold a
 * CHAP secret (a literal secret = "..." or any secret given so far).
 *
 * Ctrl-C while a chunk runs only sets a flag and a count hook (lua.c's
 * laction); the hook raises "interrupted!", and mcsi.run/sleep/poll see the
 * flag through the module's interrupt check. At the prompt it drops the line.
 * Exit status: 0, or 1 when the script (or -e chunk) raised, as lua does.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <readline/history.h>
#include <readline/readline.h>
#include "lmcsi.h"
#include "lsandbox.h"
#include "lualib.h"

#define PROGNAME "mcsi"
#define PROMPT1 "mcsi> "
#define PROMPT2 "  >> "
#define HISTORY_MAX 1000
#define MAX_ALLOW 16
#define BUDGET_STEP 1000

static lua_State *globalL;             /* reachable: the sanitizers see the state */
static const char *progname = PROGNAME;

/* ---- interrupts and budgets (one count hook) -------------------------------- */

static volatile sig_atomic_t sig_int;
static long long budget_instructions;  /* 0: none */
static double budget_seconds;          /* 0: none */
static double budget_deadline;
static long long used_instructions;
static int budget_hit;
static char budget_msg[128];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hook(lua_State *L, lua_Debug *ar);

static void set_normal_hook(lua_State *L)
{
  if (budget_hit) lua_sethook(L, hook, LUA_MASKCOUNT, 1);
  else if (budget_instructions || budget_seconds) lua_sethook(L, hook, LUA_MASKCOUNT, BUDGET_STEP);
  else lua_sethook(L, NULL, 0, 0);
}

/* Once the budget is spent every instruction raises again, so a pcall can
 * catch the error but the script cannot go on running. */
static int budget_spent(void)
{
  if (budget_hit) return 1;
  if (budget_instructions && used_instructions >= budget_instructions)
    snprintf(budget_msg, sizeof budget_msg, "instruction budget of %lld exceeded", budget_instructions);
  else if (budget_seconds && now_s() >= budget_deadline)
    snprintf(budget_msg, sizeof budget_msg, "time budget of %g s exceeded", budget_seconds);
  else
    return 0;
  budget_hit = 1;
  if (globalL) set_normal_hook(globalL);
  return 1;
}

static void hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  if (sig_int) {
    sig_int = 0;
    set_normal_hook(L);
    luaL_error(L, "interrupted!");
  }
  if (!budget_hit) used_instructions += BUDGET_STEP;
  if (budget_spent()) luaL_error(L, "%s", budget_msg);
}

/* For the module: while mcsi.run/sleep/poll wait, no Lua code runs. */
static const char *interrupt_check(void)
{
  if (sig_int) {
    sig_int = 0;
    if (globalL) set_normal_hook(globalL);
    return "interrupted!";
  }
  if ((budget_instructions || budget_seconds) && budget_spent()) return budget_msg;
  return NULL;
}

/* The hard stop: what the count hook cannot reach (a finalizer, where Lua 5.4
 * runs no hooks; a long C call such as a backtracking string.find; a call
 * blocked inside core; the finalizers run by lua_close) ends at the time
 * budget plus BUDGET_GRACE_S. A thread sleeps until then, puts the terminal
 * back if the REPL had it, writes its message and _exits: write, tcsetattr
 * and _exit are async-signal-safe, nothing else is touched. */
#define BUDGET_GRACE_S 1.0
static char watchdog_msg[200];
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void *watchdog(void *arg)
{
  struct timespec *until = arg;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, until, NULL) == EINTR) {}
  if (tio_saved) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
  ssize_t w = write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg));
  (void)w;
  _exit(EXIT_FAILURE);
  return NULL;
}

static void start_watchdog(double deadline_s)
{
  static struct timespec until;
  double at = deadline_s + BUDGET_GRACE_S;
  until.tv_sec = (time_t)at;
  until.tv_nsec = (long)((at - (double)until.tv_sec) * 1e9);
  snprintf(watchdog_msg, sizeof watchdog_msg,
           "%s: time budget of %g s exceeded: stopped hard after %g s of grace "
           "(the script was in a finalizer, a message handler, a long C call or a blocking call)\n",
           progname, budget_seconds, BUDGET_GRACE_S);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);       /* signals stay with the main thread */
  pthread_t t;
  if (pthread_create(&t, NULL, watchdog, &until) == 0) pthread_detach(t);
  else fprintf(stderr, "%s: cannot start the budget watchdog thread\n", progname);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* lua.c's laction: no state is touched but the hook. */
static void laction(int i)
{
  (void)i;
  sig_int = 1;
  if (globalL) lua_sethook(globalL, hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void on_sigint_flag(int i)
{
  (void)i;
  sig_int = 1;
}

static void set_sigint(void (*handler)(int))
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);               /* no SA_RESTART: poll() returns EINTR */
}

/* While a chunk runs, SIGTERM interrupts it as Ctrl-C does, so that a script
 * ends through its own cleanup (and the logout at exit) instead of dying
 * with its sessions open (scripts/export.lua stops on SIGINT or SIGTERM). */
static void set_sigterm(void (*handler)(int))
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
}

/* ---- messages and protected calls (lua.c) ------------------------------------- */

static void l_message(const char *pname, const char *msg)
{
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

static int report(lua_State *L, int status)
{
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    l_message(progname, msg ? lmcsi_redact(L, msg) : "(error object is not a string)");
    if (msg) lua_pop(L, 1);
    lua_pop(L, 1);
  }
  return status;
}

static int docall(lua_State *L, int narg, int nres)
{
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, lmcsi_msghandler);
  lua_insert(L, base);
  sig_int = 0;
  set_sigint(laction);
  set_sigterm(laction);
  int status = lua_pcall(L, narg, nres, base);
  set_sigint(SIG_DFL);
  set_sigterm(SIG_DFL);
  lua_remove(L, base);
  return status;
}

/* Prints the values on the stack above base with mcsi.pretty (JSON under --json). */
static void print_results(lua_State *L, int base)
{
  int n = lua_gettop(L) - base;
  if (n <= 0) return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.pretty");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) { report(L, LUA_ERRRUN); lua_settop(L, base); return; }
  lua_getfield(L, -1, "print");
  lua_remove(L, -2);
  lua_insert(L, base + 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    l_message(progname, lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
  lua_settop(L, base);
}

static int dochunk(lua_State *L, int status)
{
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name)
{
  int base = lua_gettop(L);
  int status = luaL_loadbuffer(L, s, strlen(s), name);
  if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
  if (status == LUA_OK) print_results(L, base);
  return report(L, status);
}

static int dolibrary(lua_State *L, const char *name)
{
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, name);
  return report(L, status);
}

static int pushargs(lua_State *L)
{
  if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
  int n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  int i;
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -i);
  return n;
}

static int handle_script(lua_State *L, char **argv)
{
  const char *fname = argv[0];
  if (fname && strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL;  /* stdin */
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = pushargs(L);
    status = docall(L, n, 0);
  }
  return report(L, status);
}

/* ---- the REPL ---------------------------------------------------------------------- */

static char *chunk;                   /* the chunk being typed (continuation lines) */
static char *line_in;                 /* a line readline handed over */
static int line_ready, at_eof;
static int rl_on;                     /* the callback handler is installed */
static int hidden;                    /* prompt hidden while a callback prints */
static char *saved_text;
static int saved_point;

static void on_line(char *line)
{
  line_in = line;
  line_ready = 1;
  if (!line) at_eof = 1;
  rl_callback_handler_remove();       /* no new prompt until the line is handled */
  rl_on = 0;
}

static void install_prompt(void)
{
  rl_callback_handler_install(chunk ? PROMPT2 : PROMPT1, on_line);
  rl_on = 1;
}

static void before_output(void)
{
  if (!rl_on || hidden++) return;
  saved_point = rl_point;
  saved_text = rl_copy_text(0, rl_end);
  rl_set_prompt("");
  rl_replace_line("", 0);
  rl_redisplay();
}

static void after_output(void)
{
  if (!rl_on || !hidden || --hidden) return;
  rl_set_prompt(chunk ? PROMPT2 : PROMPT1);
  rl_replace_line(saved_text ? saved_text : "", 0);
  rl_point = saved_point;
  free(saved_text);
  saved_text = NULL;
  rl_redisplay();
}

static int incomplete(lua_State *L, int status)
{
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

/* A literal secret typed in a chap table: secret = "...", target_secret = '...',
 * ["secret"] = [[...]] (secret_file = and secret_env = are not secrets). */
static int has_literal_secret(const char *s)
{
  for (const char *p = strcasestr(s, "secret"); p; p = strcasestr(p + 1, "secret")) {
    const char *q = p + 6;
    if (*q == '"' || *q == '\'') q++;
    if (*q == ']') q++;
    while (*q == ' ' || *q == '\t') q++;
    if (*q++ != '=') continue;
    while (*q == ' ' || *q == '\t') q++;
    if (*q == '"' || *q == '\'' || (q[0] == '[' && (q[1] == '[' || q[1] == '='))) return 1;
  }
  return 0;
}

/* Lines holding a secret never enter the history: a literal one, or any
 * secret the module has been given (known only once the line ran). */
static int secret_line(lua_State *L, const char *s)
{
  return has_literal_secret(s) || lmcsi_has_secret(L, s);
}

static void add_to_history(lua_State *L, const char *s)
{
  if (*s && !secret_line(L, s)) add_history(s);
}

/* Drops history entries that hold a secret learnt since they were added
 * (iscsicli "QAddTargetPortal host user SECRET", used by a later line). */
static void scrub_history(lua_State *L)
{
  HIST_ENTRY **list = history_list();
  for (int i = 0; list && list[i];) {
    if (secret_line(L, list[i]->line)) {
      HIST_ENTRY *h = remove_history(i);
      if (h) {
        histdata_t d = free_history_entry(h);
        (void)d;
      }
      list = history_list();
    } else {
      i++;
    }
  }
}

/* A complete line arrived: run it, or keep it for continuation. */
static void handle_line(lua_State *L, const char *line)
{
  int base = lua_gettop(L);
  if (chunk) {
    size_t n = strlen(chunk) + strlen(line) + 2;
    char *c = malloc(n);
    if (!c) return;
    snprintf(c, n, "%s\n%s", chunk, line);
    free(chunk);
    chunk = c;
  } else {
    chunk = strdup(line);
    if (!chunk) return;
    const char *s = chunk;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '=') s++;                      /* lua 5.1 habit: "= expr" */
    const char *ret = lua_pushfstring(L, "return %s;", s);
    if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK) {
      lua_remove(L, -2);
      goto run;
    }
    lua_pop(L, 2);
  }
  {
    int status = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
    if (incomplete(L, status)) return;       /* wait for more lines */
    if (status != LUA_OK) {
      report(L, status);
      add_to_history(L, chunk);
      goto done;
    }
  }
run:
  if (report(L, docall(L, 0, LUA_MULTRET)) == LUA_OK) print_results(L, base);
  add_to_history(L, chunk);                 /* after running: the secrets it gave are known */
  scrub_history(L);
done:
  lua_settop(L, base);
  free(chunk);
  chunk = NULL;
}

/* ---- tab completion: globals, fields, methods of the mcsi API ---------------------- */

static char **cands;
static size_t ncands, capcands;

static void add_cand(const char *prefix, const char *name, const char *suffix)
{
  if (ncands == capcands) {
    size_t n = capcands ? capcands * 2 : 64;
    char **c = realloc(cands, n * sizeof *c);
    if (!c) return;
    cands = c;
    capcands = n;
  }
  size_t len = strlen(prefix) + strlen(name) + strlen(suffix) + 1;
  char *s = malloc(len);
  if (!s) return;
  snprintf(s, len, "%s%s%s", prefix, name, suffix);
  cands[ncands++] = s;
}

/* Adds the string keys of the table on top starting with word. */
static void add_keys(lua_State *L, const char *prefix, const char *word, int methods_only)
{
  size_t wl = strlen(word);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      int isf = lua_type(L, -1) == LUA_TFUNCTION;
      if (strncmp(k, word, wl) == 0 && (!methods_only || isf) && k[0] != '_')
        add_cand(prefix, k, isf ? "(" : lua_istable(L, -1) ? "." : "");
    }
    lua_pop(L, 1);
  }
}

/* Pushes the table where the fields of the value on top live, or nothing (returns 0). */
static int fields_of(lua_State *L)
{
  if (lua_istable(L, -1)) return 1;
  if (lua_getmetatable(L, -1)) {
    lua_getfield(L, -1, "methods");
    if (!lua_istable(L, -1)) { lua_pop(L, 1); lua_getfield(L, -1, "__index"); }
    lua_remove(L, -2);
    if (lua_istable(L, -1)) { lua_remove(L, -2); return 1; }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

static int collect(lua_State *L)
{
  const char *text = lua_tostring(L, 1);
  const char *last = NULL;
  for (const char *p = text; *p; p++) if (*p == '.' || *p == ':') last = p;
  if (!last) {
    static const char *const kw[] = { "and", "break", "do", "else", "elseif", "end", "false", "for",
      "function", "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
      "until", "while", NULL };
    for (int i = 0; kw[i]; i++) if (strncmp(kw[i], text, strlen(text)) == 0) add_cand("", kw[i], " ");
    lua_pushglobaltable(L);
    add_keys(L, "", text, 0);
    return 0;
  }
  lua_pushglobaltable(L);
  for (const char *p = text; p < last;) {
    size_t n = strcspn(p, ".:");
    if (!fields_of(L)) return 0;
    lua_pushlstring(L, p, n);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) return 0;
    p += n + 1;
  }
  if (!fields_of(L)) return 0;
  lua_pushlstring(L, text, (size_t)(last - text) + 1);
  const char *prefix = lua_tostring(L, -1);
  lua_insert(L, -2);
  add_keys(L, prefix, last + 1, *last == ':');
  return 0;
}

static char *generator(const char *text, int state)
{
  static size_t idx;
  if (state == 0) {
    for (size_t i = 0; i < ncands; i++) free(cands[i]);
    ncands = 0;
    idx = 0;
    lua_State *L = globalL;
    lua_pushcfunction(L, collect);
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
  }
  if (idx < ncands) {
    char *s = cands[idx];
    cands[idx++] = NULL;
    return s;
  }
  return NULL;
}

static char **complete(const char *text, int start, int end)
{
  (void)start; (void)end;
  rl_attempted_completion_over = 1;
  rl_completion_append_character = '\0';
  return rl_completion_matches(text, generator);
}

static char *history_path(void)
{
  const char *h = getenv("MCSI_HISTORY");
  if (h) return *h ? strdup(h) : NULL;
  const char *home = getenv("HOME");
  if (!home) return NULL;
  size_t n = strlen(home) + 20;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/.mcsi_history", home);
  return p;
}

static void repl(lua_State *L)
{
  const char *oldprog = progname;
  progname = NULL;
  char *hist = history_path();
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) tio_saved = 1;
  rl_readline_name = "mcsi";
  rl_catch_signals = 0;
  rl_attempted_completion_function = complete;
  rl_basic_word_break_characters = " \t\n\"\\'`><=;+-*/%^~#&|{}()[],";
  stifle_history(HISTORY_MAX);
  if (hist) read_history(hist);
  lmcsi_set_host(L, interrupt_check, before_output, after_output);
  set_sigint(on_sigint_flag);
  install_prompt();
  struct pollfd *pf = NULL;
  size_t cap_pf = 0;
  while (!at_eof) {
    const int *fds;
    int timeout;
    int n = lmcsi_wait_set(L, &fds, &timeout);
    if ((size_t)n + 1 > cap_pf) {
      struct pollfd *p = realloc(pf, ((size_t)n + 1) * sizeof *p);
      if (!p) break;
      pf = p;
      cap_pf = (size_t)n + 1;
    }
    pf[0].fd = STDIN_FILENO;
    pf[0].events = POLLIN;
    pf[0].revents = 0;
    for (int i = 0; i < n; i++) pf[i + 1] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    int r = poll(pf, (nfds_t)n + 1, timeout);
    if (r < 0 && errno != EINTR) break;
    if (sig_int) {                              /* Ctrl-C at the prompt: drop the line */
      sig_int = 0;
      free(chunk);
      chunk = NULL;
      rl_free_line_state();
      rl_callback_sigcleanup();
      rl_replace_line("", 0);
      rl_crlf();
      rl_callback_handler_remove();
      install_prompt();
      continue;
    }
    if (r > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) rl_callback_read_char();
    if (line_ready) {
      line_ready = 0;
      if (line_in) {
        set_sigint(SIG_DFL);
        handle_line(L, line_in);
        free(line_in);
        line_in = NULL;
        set_sigint(on_sigint_flag);
      }
      if (!at_eof) install_prompt();
    }
    lmcsi_service(L);
  }
  free(pf);
  if (rl_on) rl_callback_handler_remove();
  rl_on = 0;
  set_sigint(SIG_DFL);
  lmcsi_set_host(L, interrupt_check, NULL, NULL);
  fputc('\n', stdout);
  fflush(stdout);
  if (hist) {
    scrub_history(L);
    write_history(hist);
    free(hist);
  }
  for (size_t i = 0; i < ncands; i++) free(cands[i]);
  free(cands);
  cands = NULL;
  ncands = capcands = 0;
  progname = oldprog;
}

/* ---- options (lua.c's collectargs) --------------------------------------------------- */

static void print_usage_to(FILE *out, const char *badoption)
{
  if (badoption) fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
  fprintf(out,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat    execute string 'stat' (its results are printed)\n"
          "  -i         enter interactive mode after executing 'script'\n"
          "  -l mod     require library 'mod' into global 'mod'\n"
          "  -v         show version information\n"
          "  -E         ignore environment variables\n"
          "  -W         turn warnings on\n"
          "  --sandbox  no os.execute, io.popen, os.tmpname, package.loadlib, C modules,\n"
          "             binary chunks (load, loadfile, dofile, require), debug library\n"
          "             (debug.traceback only), collectgarbage 'stop'; reading is\n"
          "             free, writing (io.open, io.output, os.remove, os.rename) only\n"
          "             under --allow-dir, never through a symbolic link; MCSI_INIT\n"
          "             runs inside the sandbox\n"
          "  --allow-dir DIR              a directory the sandbox may write in\n"
          "  --budget-instructions N      stop the script after N VM instructions\n"
          "  --budget-seconds S           stop the script after S seconds (waits and\n"
          "             login timeouts end by then); what Lua cannot interrupt\n"
          "             (finalizers, long C calls, blocked I/O) is ended 1 s later\n"
          "             by a watchdog; exit status 1 either way\n"
          "  --json     results and listing commands as JSON\n"
          "  --connect [SOCKET]  the mcsi API (REPL, scripts, iscsicli) served by the\n"
          "             daemon mcsid (mcsi.connect); SOCKET (or --connect=SOCKET)\n"
          "             defaults to $MCSI_SOCKET, else /run/mcsi/mcsid.sock\n"
          "  --help     this text (exit 0);  --version  the version (exit 0)\n"
          "  --         stop handling options\n"
          "  -          stop handling options and execute stdin\n"
          "CHAP secrets: give them as chap = { secret_file = PATH } or { secret_env =\n"
          "NAME } (and target_secret_file, target_secret_env) to keep them out of the\n"
          "REPL history; lines with a literal or known secret are never saved, and\n"
          "output shows secrets as <hidden>.\n"
          "Lua API: blocking calls, their callback form (a function as last\n"
          "argument) and mcsi.spawn(fn) coroutines in which they yield; Ctrl-C\n"
          "stops a blocking call and the chunk; every session left is logged out\n"
          "at exit (also after os.exit).\n",
          progname);
}

static void print_usage(const char *badoption)
{
  print_usage_to(stderr, badoption);
}

enum { has_error = 1, has_i = 2, has_v = 4, has_e = 8, has_E = 16, has_help = 32 };

static int json_mode;
static int sandbox;
static int connect_mode;               /* --connect: the module talks to mcsid */
static const char *connect_socket;     /* its socket (NULL: the default) */
static const char *allow_dirs[MAX_ALLOW];
static int nallow;

static int collectargs(char **argv, int *first)
{
  int args = 0;
  int i;
  if (argv[0] != NULL) {
    if (argv[0][0]) progname = argv[0];
  } else {
    *first = -1;
    return 0;
  }
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args;
    if (strcmp(argv[i], "--sandbox") == 0) { sandbox = 1; continue; }
    if (strcmp(argv[i], "--json") == 0) { json_mode = 1; continue; }
    if (strncmp(argv[i], "--connect=", 10) == 0) { connect_mode = 1; connect_socket = argv[i] + 10; continue; }
    if (strcmp(argv[i], "--connect") == 0) {
      struct stat sb;
      connect_mode = 1;
      if (argv[i + 1] && stat(argv[i + 1], &sb) == 0 && S_ISSOCK(sb.st_mode)) connect_socket = argv[++i];
      continue;
    }
    if (strcmp(argv[i], "--help") == 0) return has_help;
    if (strcmp(argv[i], "--version") == 0) { args |= has_v; continue; }
    if (strcmp(argv[i], "--allow-dir") == 0 || strcmp(argv[i], "--budget-instructions") == 0 ||
        strcmp(argv[i], "--budget-seconds") == 0) {
      const char *opt = argv[i], *v = argv[i + 1];
      char *end;
      if (!v) return has_error;
      i++;
      if (strcmp(opt, "--allow-dir") == 0) {
        if (nallow == MAX_ALLOW) return has_error;
        allow_dirs[nallow++] = v;
      } else if (strcmp(opt, "--budget-instructions") == 0) {
        budget_instructions = strtoll(v, &end, 10);
        if (*end || budget_instructions <= 0) return has_error;
      } else {
        budget_seconds = strtod(v, &end);
        if (*end || budget_seconds <= 0) return has_error;
      }
      continue;
    }
    switch (argv[i][1]) {
    case '-':
      if (argv[i][2] != '\0') return has_error;
      *first = i + 1;
      return args;
    case '\0':
      return args;
    case 'E':
      if (argv[i][2] != '\0') return has_error;
      args |= has_E;
      break;
    case 'W':
      if (argv[i][2] != '\0') return has_error;
      break;
    case 'i':
      args |= has_i; /* FALLTHROUGH */
    case 'v':
      if (argv[i][2] != '\0') return has_error;
      args |= has_v;
      break;
    case 'e':
      args |= has_e; /* FALLTHROUGH */
    case 'l':
      if (argv[i][2] == '\0') {
        i++;
        if (argv[i] == NULL || argv[i][0] == '-') return has_error;
      }
      break;
    default:
      return has_error;
    }
  }
  *first = 0;                                   /* no script name */
  return args;
}

static int runargs(lua_State *L, char **argv, int n)
{
  for (int i = 1; i < n; i++) {
    if (strcmp(argv[i], "--allow-dir") == 0 || strcmp(argv[i], "--budget-instructions") == 0 ||
        strcmp(argv[i], "--budget-seconds") == 0) {
      i++;
      continue;
    }
    if (argv[i][0] != '-' || argv[i][1] == '-') continue;
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      const char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int status = option == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
    } else if (option == 'W') {
      lua_warning(L, "@on", 0);
    }
  }
  return 1;
}

static void createargtable(lua_State *L, char **argv, int argc, int script)
{
  if (script == argc) script = 0;
  int narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static void print_version(void)
{
  printf("%s with %s  Copyright (C) 1994-2022 Lua.org, PUC-Rio\n", LMCSI_VERSION, LUA_RELEASE);
  fflush(stdout);
}

/* --connect: mcsi.connect(socket); raises when the daemon cannot be reached. */
static void connect_daemon(lua_State *L)
{
  lua_getglobal(L, "mcsi");
  lua_getfield(L, -1, "connect");
  if (connect_socket) lua_pushstring(L, connect_socket);
  else lua_pushnil(L);
  lua_call(L, 1, 2);
  if (lua_isnil(L, -2)) {
    l_message(progname, lua_pushfstring(L, "--connect: %s", luaL_tolstring(L, -1, NULL)));
    exit(EXIT_FAILURE);
  }
  lua_pop(L, 3);
}

/* mcsi, iscsicli and the pretty printer as globals; the program's options. */
static int open_mcsi(lua_State *L)
{
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_mcsi);
  lua_setfield(L, -2, "mcsi");
  lua_pop(L, 1);
  luaL_requiref(L, "mcsi", luaopen_mcsi, 1);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "program");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.pretty");
  lua_call(L, 1, 1);
  lua_pushboolean(L, json_mode);
  lua_setfield(L, -2, "json");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mcsi.iscsicli");
  lua_call(L, 1, 1);
  lua_setglobal(L, "iscsicli");
  lmcsi_set_host(L, interrupt_check, NULL, NULL);
  if (connect_mode) connect_daemon(L);
  return 0;
}

static int pmain(lua_State *L)
{
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script;
  int args = collectargs(argv, &script);
  luaL_checkversion(L);
  if (argv[0] && argv[0][0]) progname = argv[0];
  if (args == has_error) {
    print_usage(argv[script]);
    return 0;
  }
  if (args == has_help) {
    print_usage_to(stdout, NULL);
    lua_pushboolean(L, 1);
    return 1;
  }
  for (int i = 0; i < nallow; i++) {
    if (lsandbox_allow(allow_dirs[i]) != 0) {
      l_message(progname, lua_pushfstring(L, "--allow-dir %s: %s", allow_dirs[i], strerror(errno)));
      return 0;
    }
  }
  if (args & has_v) print_version();
  if (args & has_E) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCGEN, 0, 0);
  lua_pushcfunction(L, open_mcsi);
  if (report(L, docall(L, 0, 0)) != LUA_OK) return 0;
  if (sandbox) lsandbox_apply(L);
  if (budget_instructions || budget_seconds) {
    lsandbox_protect_hook(L);
    set_normal_hook(L);
  }
  if (budget_seconds) {
    budget_deadline = now_s() + budget_seconds;
    lmcsi_set_deadline(L, budget_deadline * 1000.0);
    start_watchdog(budget_deadline);
  }
  /* MCSI_INIT is user code like the rest: under the sandbox and the budgets. */
  if (!(args & has_E)) {
    const char *init = getenv("MCSI_INIT");
    if (init && dostring(L, init, "=MCSI_INIT") != LUA_OK) return 0;
  }
  if (!runargs(L, argv, script > 0 ? script : argc)) return 0;
  if (script > 0 && handle_script(L, argv + script) != LUA_OK) return 0;
  if (args & has_i) {
    repl(L);
  } else if (script < 1 && !(args & (has_e | has_v))) {
    if (isatty(STDIN_FILENO)) {
      print_version();
      repl(L);
    } else {
      if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) return 0;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv)
{
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    l_message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  globalL = L;
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int result = lua_toboolean(L, -1);
  report(L, status);
  lua_sethook(L, NULL, 0, 0);
  budget_hit = 0;
  lua_close(L);
  globalL = NULL;
  lsandbox_free();
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}

/******************************************************************************
* lmcsi_main.c is modelled on lua.c of Lua 5.4 and keeps its license (MIT):
*
* Copyright (C) 1994-2022 Lua.org, PUC-Rio.
* Copyright (C) 2026 the mcsi authors.
*
* Permission is hereby granted, free of charge, to any person obtaining
* a copy of this software and associated documentation files (the
* "Software"), to deal in the Software without restriction, including
* without limitation the rights to use, copy, modify, merge, publish,
* distribute, sublicense, and/or sell copies of the Software, and to
* permit persons to whom the Software is furnished to do so, subject to
* the following conditions:
*
* The above copyright notice and this permission notice shall be
* included in all copies or substantial portions of the Software.
*
* THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
* EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
* MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
* IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
* CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
* TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
* SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
*
* The program `mcsi` links GNU readline (GPL-3.0-or-later): as distributed,
* the program as a whole is under the GNU GPL version 3 or later (LICENSE).
******************************************************************************/
