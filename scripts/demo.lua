-- SPDX-License-Identifier: LGPL-2.1-or-later
--[[
demo.lua: the main job, run by `make demo` on the local targets that
tests/harness/with-targets starts (it reads MCSI_TGT_PORT, MCSI_TGT_IQN_PLAIN
and MCSI_TGT_IPC from there):

  1. log in to tgt on 127.0.0.1, list the LUNs with their capacity;
  2. let failover.lua grow the session to 4 connections over 127.0.0.1 and
     127.0.0.2 (one iSCSI session: same ISID and TSIH, four CIDs);
  3. run verified I/O (write a block, read it back) every few milliseconds;
  4. drop two connections from the target side (tgtadm), and watch the
     session carry the I/O on while failover.lua puts them back;
  5. remove a connection by request, try to remove the leading one, log out.

Every operation prints its Status; the session table is printed before and
after the failures.

  bash tests/harness/with-targets build/mcsi scripts/demo.lua

Exit status: 0 when every verified write read back equal and no operation
failed, 1 otherwise (or when the login failed), 2 for any argument or when not
run under the harness. --help prints this.
]]
local mcsi = require "mcsi"
local pretty = require "mcsi.pretty"
local failover = require "mcsi.failover"

require("mcsi.args").parse({ ... }, {
  program = "demo.lua",
  usage = "mcsi scripts/demo.lua (no arguments; run by `make demo` inside tests/harness/with-targets)",
  about = "Logs in to the harness's tgt, grows the session to 4 connections with failover.lua, runs verified "
    .. "I/O while the target drops connections, removes a connection and logs out.",
  options = {},
  exit_codes = "0 every verified write read back equal and no operation failed, 1 otherwise, "
    .. "2 arguments given or not run under the harness",
})
local port = os.getenv("MCSI_TGT_PORT")
if not port then
  io.stderr:write("demo.lua: MCSI_TGT_PORT is not set: run it with `make demo` (tests/harness/with-targets)\n")
  os.exit(2)
end
local iqn, ipc = os.getenv("MCSI_TGT_IQN_PLAIN"), os.getenv("MCSI_TGT_IPC")
local p1, p2 = "127.0.0.1:" .. port, "127.0.0.2:" .. port

local function say(what, ...)
  local n = select("#", ...)
  local st = select(n, ...)
  print(string.format("%-38s %s", what, tostring(st)))
  return ...
end

local function section(title) print("\n== " .. title) end

section("LoginToTarget " .. iqn .. " at " .. p1)
local sid = say("login_to_target", mcsi.login_to_target{ portal = p1, target = iqn, max_connections = 4 })
if not sid then os.exit(1) end

section("LUNs")
local luns = say("scsi_report_luns", mcsi.scsi_report_luns(sid)) or {}
for _, lun in ipairs(luns) do
  local inq = mcsi.scsi_inquiry(sid, lun)
  local cap = inq and inq.peripheral_type == 0 and mcsi.scsi_read_capacity(sid, lun)
  print(string.format("  LUN %d  %-8s %-16s %s", lun, inq and inq.vendor or "?", inq and inq.product or "?",
    cap and string.format("%d blocks x %d bytes = %.1f GiB", cap.blocks, cap.block_size,
      cap.blocks * cap.block_size / 2^30) or "(no medium)"))
end

section("failover.lua keeps 4 connections over both portals")
local f = failover.start{ session = sid, connections = 4,
  portals = { { portal = p1, weight = 1 }, { portal = p2, weight = 1 } } }
mcsi.sleep(500)
print(pretty.format(mcsi.sessions()))

section("verified I/O every 2 ms while the target drops connections")
local writes, mismatches, failures, n = 0, 0, 0, 0
local io_timer = mcsi.every(2, function()
  n = n + 1
  local lba = (n % 1024) * 8
  local block = string.rep(string.format("%-16d", n), 256)       -- 4 KiB, unique per write
  local st = mcsi.write(sid, 1, lba, block)
  if not st.ok then failures = failures + 1; print("  write failed: " .. tostring(st)); return end
  local back, st2 = mcsi.read(sid, 1, lba, 8)
  if not st2.ok then failures = failures + 1; print("  read failed: " .. tostring(st2)); return end
  writes = writes + 1
  if back ~= block then mismatches = mismatches + 1 end
end)
mcsi.sleep(500)

local function drop(conn)
  local info = mcsi.session_info(sid)
  local tgt_sid = ((info.tsih & 0xff) << 8) | (info.tsih >> 8)     -- tgtadm shows the TSIH byte-swapped
  print(string.format("  >>> the target drops connection %d (CID %d, %s)", conn.id, conn.cid, conn.portal))
  os.execute(string.format("TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi --op delete --mode conn --tid 1 --sid %d --cid %d",
    ipc, tgt_sid, conn.cid))
end

local conns = mcsi.session_info(sid).connections
drop(conns[#conns])
mcsi.sleep(700)
drop(conns[2])
mcsi.sleep(1500)
mcsi.cancel(io_timer)
print(string.format("  %d verified writes, %d mismatches, %d failed operations", writes, mismatches, failures))
print(pretty.format(mcsi.sessions()))

section("RemoveConnectionFromSession")
f:stop()
conns = mcsi.session_info(sid).connections
say("remove (leading connection)", mcsi.remove_connection_from_session(sid, conns[1].id))
say("remove (connection " .. conns[#conns].id .. ")", mcsi.remove_connection_from_session(sid, conns[#conns].id))
say("remove (the same again)", mcsi.remove_connection_from_session(sid, conns[#conns].id))

section("LogoutFromTarget")
say("logout_from_target", mcsi.logout_from_target(sid))
os.exit(failures == 0 and mismatches == 0 and 0 or 1)
