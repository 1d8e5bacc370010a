-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
export.lua: serve a LUN of an MC/S session to any NBD client (qemu, qemu-img,
nbdcopy, nbdfuse, fio, the kernel's nbd-client) until SIGINT or SIGTERM.

As a program: logs in (CHAP from a file or an environment variable), adds
connections up to --connections over the portals given, exports the LUN on a
Unix socket and/or TCP (127.0.0.1 unless a host is given), prints the NBD URI,
serves until SIGINT/SIGTERM, then prints the export's counters, stops it and
logs out.

  mcsi scripts/export.lua --target IQN --portal 127.0.0.1:3260 [--portal B...] --lun 1 \
      --socket /run/lun1.sock [--tcp 127.0.0.1:10809] [--connections 4] [--read-only]
  nbdcopy nbd+unix:///?socket=/run/lun1.sock disk.img

TCP requires TLS: --tls-cert FILE --tls-key FILE (X.509; --tls-ca FILE:
clients must present a certificate it signed) and/or --tls-psk-file FILE
(psktool's username:hexkey lines); --tls off serves plain TCP, said so.

  nbdcopy 'nbds://127.0.0.1:10809/?tls-certificates=DIR' disk.img

--keep keeps --connections healthy connections (mcsi.failover replaces the
failed ones). --churn MS is a policy that keeps changing the paths under the clients: every
MS ms it removes one non-leading connection and adds one back (round robin
over the portals); the clients never notice.

As a library (mcsi preloads it as "mcsi.export"):

  local ex = require "mcsi.export"
  local churn = ex.churn(session, portals, ms)   -- the policy above; churn.stop(), churn.changes
]]
local modname = ...
local mcsi = require "mcsi"
local M = {}

-- Every ms: remove the newest non-leading connection, then add one on the next
-- portal. Runs on mcsi timers; the operations are asynchronous (callback form).
function M.churn(session, portals, ms)
  local c = { changes = 0, failures = 0, next = 0, busy = false }
  local function add_back()
    c.next = c.next % #portals + 1
    mcsi.add_connection_to_session(session.id, { portal = portals[c.next] }, function(cid, st)
      c.busy = false
      if cid then c.changes = c.changes + 1 else c.failures = c.failures + 1 end
    end)
  end
  local function step()
    if c.busy then return end
    local info = mcsi.session_info(session.id)
    if not info then return end
    local victim
    for _, conn in ipairs(info.connections) do
      if not conn.leading and conn.state == "active" then victim = conn end
    end
    c.busy = true
    if not victim then return add_back() end
    mcsi.remove_connection_from_session(session.id, victim.id, function(st)
      if not st.ok then c.failures = c.failures + 1 end
      add_back()
    end)
  end
  c.timer = mcsi.every(ms, step)
  function c.stop() mcsi.cancel(c.timer) end
  return c
end

if modname == "mcsi.export" then return M end

-- ---- the program -------------------------------------------------------------

local o = require("mcsi.args").parse({ ... }, {
  program = "export.lua",
  usage = "mcsi scripts/export.lua --target IQN --portal ADDR [--portal ADDR...] --lun N "
    .. "(--socket PATH | --tcp HOST:PORT) [--connections N] [--read-only] [--name NAME] "
    .. "[--tls-cert F --tls-key F [--tls-ca F]] [--tls-psk-file F] [--tls off] "
    .. "[--chap-user U (--chap-secret-file F | --chap-secret-env VAR)] [--churn MS]",
  about = "Logs in, adds connections, serves the LUN over NBD until SIGINT/SIGTERM, then logs out.",
  options = {
    { "target", "name", "IQN", "the target's iSCSI name", required = true },
    { "portal", "portal", "ADDR", "a portal; the first logs in, connections go round robin", many = true,
      required = true },
    { "lun", "lun", "N", "the LUN to export", required = true },
    { "socket", "string", "PATH", "serve on this Unix socket" },
    { "tcp", "string", "HOST:PORT", "serve on TCP (HOST defaults to 127.0.0.1)" },
    { "name", "string", "NAME", "the export's name (default: \"\", the default export)" },
    { "connections", "count", "N", "connections in the session (default 1)" },
    { "read-only", "flag", nil, "refuse writes (EPERM)" },
    { "max-clients", "count", "N", "clients at once (default 16)" },
    { "tls-cert", "string", "FILE", "TLS: the server's PEM certificate (with --tls-key)" },
    { "tls-key", "string", "FILE", "TLS: its PEM key" },
    { "tls-ca", "string", "FILE", "TLS: clients must present a certificate this PEM CA signed" },
    { "tls-psk-file", "string", "FILE", "TLS: pre-shared keys, username:hexkey lines (psktool)" },
    { "tls", "string", "MODE", "require (the default) or off: plain TCP" },
    { "chap-user", "name", "U", "CHAP user name" },
    { "chap-secret-file", "string", "F", "CHAP secret: the contents of file F (never printed)" },
    { "chap-secret-env", "name", "VAR", "CHAP secret: environment variable VAR (never printed)" },
    { "churn", "ms", "MS", "every MS ms remove a connection and add one back (a path-changing policy)" },
    { "keep", "flag", nil, "keep --connections healthy connections (mcsi.failover replaces failed ones)" },
  },
  rules = function(a)
    if not a.socket and not a.tcp then return "--socket or --tcp is needed" end
    if a.tls and a.tls ~= "require" and a.tls ~= "off" then return "--tls is require or off" end
    if a.chap_secret_file and a.chap_secret_env then return "one of --chap-secret-file and --chap-secret-env" end
    if (a.chap_user ~= nil) ~= (a.chap_secret_file ~= nil or a.chap_secret_env ~= nil) then
      return "--chap-user goes with --chap-secret-file or --chap-secret-env"
    end
  end,
  exit_codes = "0 served and logged out, 1 the login or the export failed, 2 bad arguments",
})

local function say(...) io.write(string.format(...), "\n"); io.flush() end

local chap = o.chap_user and { username = o.chap_user, secret_file = o.chap_secret_file,
                               secret_env = o.chap_secret_env } or nil
local s, st = mcsi.login{ portal = o.portal[1], target = o.target, chap = chap }
say("login %s: %s", o.portal[1], tostring(st))
if not s then os.exit(1) end
for i = 2, (o.connections or 1) do
  local p = o.portal[(i - 1) % #o.portal + 1]
  local _, ast = s:add_connection{ portal = p }
  say("add %s: %s", p, tostring(ast))
end

local x, xst = mcsi.export(s, o.lun, { socket = o.socket, tcp = o.tcp, name = o.name,
                                       read_only = o.read_only, max_clients = o.max_clients,
                                       tls = o.tls, tls_cert = o.tls_cert, tls_key = o.tls_key,
                                       tls_ca = o.tls_ca, tls_psk_file = o.tls_psk_file })
say("export LUN %d: %s", o.lun, tostring(xst))
if not x then
  s:logout()
  os.exit(1)
end
local info = x:info()
say("serving %s (%d bytes, block %d%s)", info.uri, info.size, info.block_size, info.read_only and ", read-only" or "")
if info.tcp_port and info.socket then
  say("serving nbd%s://%s:%d/%s", info.tls == "off" and "" or "s", info.tcp_host, info.tcp_port, info.name)
end

local churn = o.churn and M.churn(s, o.portal, o.churn)
local keeper = o.keep and require("mcsi.failover").start{ session = s, portals = o.portal,
                                                          connections = o.connections or 1, chap = chap, quiet = true }
local ok, why = pcall(mcsi.run)                  -- until SIGINT/SIGTERM ("interrupted!") or mcsi.stop()
if churn then churn.stop() end
if keeper then keeper:stop() end
info = x:info()
say("stopping (%s): %d requests, %d errors, %d bytes read, %d bytes written, %d clients served%s",
  ok and "stopped" or tostring(why):match("interrupted!") or tostring(why), info.requests, info.errors,
  info.bytes_read, info.bytes_written, info.clients_total,
  churn and string.format(", %d path changes (%d failed)", churn.changes, churn.failures) or "")
if info.errors > 0 then say("last error: %s", info.last_error) end
if keeper then say("failover: %d repairs", keeper.repairs) end
x:stop()
say("logout: %s", tostring(s:logout()))
os.exit(0)
