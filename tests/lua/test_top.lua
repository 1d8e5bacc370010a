-- SPDX-License-Identifier: LGPL-2.1-or-later
-- test_top.lua: mcsi.top (bindings/mcsi/top.lua), the math and the view in-process.
-- The percentiles from two snapshots of a latency histogram with known
-- latencies; rates, roles and sorting from synthetic snapshots; then a
-- script's own session (two connections to tgt, I/O running in coroutines)
-- seen through require("mcsi.top").run: JSON frames with both connections
-- busy and their latency, a connection dropped at the target (ss -K) as an
-- event and the connection count going from 2 to 1; the plain --once frame.
local H = require "helper"
local lu, mcsi = H.lu, H.mcsi
local top = require "mcsi.top"
local cjson = require "cjson"

-- a histogram (24 log2 buckets of us) holding the given latencies
local function hist(lat)
  local h = {}
  for k = 1, top.BUCKETS do h[k] = 0 end
  for _, us in ipairs(lat) do
    local k = us < 2 and 1 or math.min(top.BUCKETS, math.floor(math.log(us, 2)) + 1)
    h[k] = h[k] + 1
  end
  return h
end

local function rep(t, us, n) for _ = 1, n do t[#t + 1] = us end return t end

TestTopMath = {}

function TestTopMath:test_percentiles_known_latencies()
  -- before: 1000 commands of 5 ms (must not count); the interval adds 90 of 100 us, 9 of 1 ms, 1 of 20 ms
  local before = hist(rep({}, 5000, 1000))
  local lat = rep(rep(rep(rep({}, 5000, 1000), 100, 90), 1000, 9), 20000, 1)
  local after = hist(lat)
  local d = top.histogram_delta(before, after)
  local n = 0
  for k = 1, top.BUCKETS do n = n + d[k] end
  lu.assertEquals(n, 100, "the interval's 100 commands")
  local p50, p99 = top.percentile(d, 0.50), top.percentile(d, 0.99)
  lu.assertTrue(p50 >= 64 and p50 < 128, "p50 in 100 us's bucket [64, 128): " .. p50)
  lu.assertAlmostEquals(p50, 64 + 64 * 50 / 90, 1e-9, "interpolated in the bucket")
  lu.assertTrue(p99 >= 512 and p99 <= 1024, "p99 in 1 ms's bucket [512, 1024]: " .. p99)
  local p100 = top.percentile(d, 1.0)
  lu.assertTrue(p100 >= 16384 and p100 <= 32768, "the max in 20 ms's bucket: " .. p100)
  lu.assertNil(top.percentile(top.histogram_delta(after, after), 0.5), "no command: no latency")
  lu.assertEquals(top.percentile(hist{ 0, 1, 1 }, 0.5), 4 / 3, "bucket 0 is [0, 2)")
  lu.assertEquals(top.percentile(hist{ 30e6 }, 0.99), 2 ^ 23, "the last bucket is open: its floor")
end

local function conn(id, cid, o)
  return { id = id, cid = cid, state = "active", portal = o.portal or "127.0.0.1:3260", leading = o.leading,
           primary = o.primary, active = o.active ~= false, queue_depth = o.qd or 0,
           stats = { commands = o.commands, bytes_sent = o.sent or 0, bytes_received = o.recv or 0,
                     latency = hist(o.lat or {}) } }
end

local function sess(id, target, conns, o)
  o = o or {}
  return { id = id, target = target, state = "active", policy_name = "round-robin", connection_count = #conns,
           max_connections = 4, commands_retried = o.retried or 0, recoveries = o.recoveries or 0,
           connections = conns }
end

function TestTopMath:test_frame_rates_roles_sort()
  local a = { t = 1000, sessions = {
    sess(10, "iqn.x:b", { conn(11, 0, { leading = true, commands = 100 }), conn(12, 1, { commands = 50 }) }),
    sess(20, "iqn.x:a", { conn(21, 0, { leading = true, commands = 0 }) }) } }
  local b = { t = 3000, sessions = {
    sess(10, "iqn.x:b", { conn(11, 0, { leading = true, commands = 300, sent = 4e6, recv = 2e6, qd = 3,
                                        lat = rep({}, 500, 200) }),
                          conn(12, 1, { commands = 150, active = false, lat = rep({}, 3000, 100) }),
                          conn(13, 2, { commands = 7 }) }, { retried = 5, recoveries = 1 }),
    sess(20, "iqn.x:a", { conn(21, 0, { leading = true, primary = true, commands = 20 }) }) } }
  local f = top.frame(a, b)
  lu.assertEquals(f.interval_s, 2)
  local s10 = f.sessions[1]
  lu.assertEquals(s10.id, 10)
  lu.assertEquals(s10.connections[1].iops, 100, "200 commands in 2 s")
  lu.assertEquals(s10.connections[1].mbps, 3, "6 MB in 2 s")
  lu.assertEquals(s10.connections[1].queue_depth, 3)
  lu.assertEquals(s10.connections[1].role, "leading/active")
  lu.assertEquals(s10.connections[2].role, "standby")
  lu.assertEquals(f.sessions[2].connections[1].role, "leading/primary")
  lu.assertNil(s10.connections[3].iops, "a connection seen once has no rate yet")
  lu.assertEquals(s10.iops, 150, "the session: the sum of its connections")
  lu.assertEquals(s10.commands_retried, 5)
  lu.assertEquals(s10.recoveries, 1)
  lu.assertTrue(s10.p50_us >= 256 and s10.p50_us < 512, "the session's p50 from both histograms: " .. s10.p50_us)
  lu.assertTrue(s10.p99_us >= 2048 and s10.p99_us <= 4096, "the session's p99: " .. s10.p99_us)
  top.sort(f, "name")
  lu.assertEquals(f.sessions[1].id, 20, "by name: iqn.x:a first")
  top.sort(f, "iops")
  lu.assertEquals(f.sessions[1].id, 10, "by IOPS: the busy one first")
  lu.assertEquals(f.sessions[1].connections[1].id, 11, "... and its busiest connection")
  local lines = top.lines(f, { sort = "iops", only = 20, events = { { time = "12:00:00", kind = "conn-failed",
                                                                        session_id = 10, connection_id = 12,
                                                                        reason = "gone" } } })
  local text = table.concat(lines, "\n")
  lu.assertStrContains(text, "showing session 0x0000000000000014")
  lu.assertNotStrContains(text, "iqn.x:b", false, "picked: only session 20")
  lu.assertStrContains(text, "conn-failed        session 0x000000000000000a conn 0x000000000000000c: gone")
  lu.assertNotStrContains(text, "\27", false, "plain text")
  local j = cjson.decode(top.json(f, {}))
  lu.assertEquals(#j.sessions, 2)
  lu.assertEquals(j.sessions[1].connections[1].iops, 100)
end

function TestTopMath:test_keys()
  local f = top.frame(nil, { t = 0, sessions = { sess(1, "iqn.x:a", {}), sess(2, "iqn.x:b", {}), sess(3, "iqn.x:c", {}) } })
  local t = setmetatable({ frame = f, sort = "name" }, { __index = function(_, k) return top._Top[k] end })
  t:key("i") lu.assertEquals(t.sort, "iops")
  t:key("l") lu.assertEquals(t.sort, "latency")
  t:key("2") lu.assertEquals(t.only, 2)
  for _, c in ipairs{ "\27", "[", "B" } do t:key(c) end
  lu.assertEquals(t.only, 3, "down arrow: the next session")
  for _, c in ipairs{ "\27", "[", "A" } do t:key(c) end
  lu.assertEquals(t.only, 2, "up arrow: the previous one")
  t:key("a") lu.assertNil(t.only, "a: all again")
  t:key("q") lu.assertTrue(t.quit)
end

TestTopLive = {}
local writers = {}                     -- the running writers' state: stopped in tearDown whatever failed

function TestTopLive:tearDown()
  writers.stop = true
  H.check_clean()
end

local function busy(sid, state)
  for _ = 1, 2 do
    mcsi.spawn(function()
      local data = string.rep("t", 4096)
      local lba = 0
      while not state.stop do
        local st = mcsi.write(sid, H.file_lun, lba, data)
        if not st.ok then state.failed = st break end
        lba = (lba + 8) % 4096
      end
      state.ended = (state.ended or 0) + 1
    end)
  end
end

local function tmpfile()
  local name = os.tmpname()
  return name, assert(io.open(name, "w"))
end

function TestTopLive:test_own_session_live_and_drop()
  local sid, lead = H.login(H.tgt, H.tgt_iqn, { max_connections = 4 })
  local c2 = assert(mcsi.add_connection_to_session(sid, H.tgt2))
  local port = mcsi.connection_info(sid, c2).local_port
  local state = writers
  busy(sid, state)
  local name, out = tmpfile()
  local t0 = mcsi.now()
  mcsi.timer(1700, function()    -- in the second interval: the target drops connection c2
    H.run(string.format("ss -K -tn 'sport = :%s and dport = :%d'", H.env("MCSI_TGT_PORT"), port))
  end)
  top.run{ interval = 0.8, json = true, frames = 4, out = out, keys = false }
  out:close()
  local frames = {}
  for line in io.lines(name) do frames[#frames + 1] = cjson.decode(line) end
  os.remove(name)
  lu.assertEquals(#frames, 4, "four JSON frames, one a line")
  lu.assertTrue(mcsi.now() - t0 >= 4 * 800 - 50, "one an interval")
  local first = frames[1].sessions[1]
  lu.assertEquals(first.id, sid)
  lu.assertEquals(first.connection_count, 2, "two connections first")
  for i, c in ipairs(first.connections) do
    lu.assertTrue(c.iops > 0, "connection " .. i .. " carries I/O: " .. tostring(c.iops))
    lu.assertTrue(c.p50_us > 0 and c.p99_us >= c.p50_us, "... with its latency")
    lu.assertTrue(c.mbps > 0)
  end
  lu.assertEquals(first.connections[1].id, lead)
  lu.assertEquals(first.connections[1].role, "leading/active")
  local kinds, last = {}, frames[#frames].sessions[1]
  for _, f in ipairs(frames) do
    for _, e in ipairs(f.events) do kinds[#kinds + 1] = e.kind .. ":" .. tostring(math.tointeger(e.connection_id)) end
  end
  lu.assertStrContains(table.concat(kinds, " "), "conn-failed:" .. c2, false, "the drop came as an event")
  lu.assertEquals(last.connection_count, 1, "one connection left")
  lu.assertTrue(last.iops > 0, "I/O goes on")
  -- the plain frame: one, no escape codes
  local pname, pout = tmpfile()
  top.run{ interval = 0.3, once = true, out = pout }
  pout:close()
  local f = assert(io.open(pname))
  local text = f:read("a")
  f:close()
  os.remove(pname)
  lu.assertStrContains(text, "SESSION / CONNECTION")
  lu.assertStrContains(text, string.format("0x%016x ", sid))
  lu.assertStrContains(text, string.format("  0x%016x cid 0", lead))
  lu.assertNotStrContains(text, "\27")
  state.stop = true
  for _ = 1, 100 do
    if (state.ended or 0) == 2 then break end
    mcsi.poll(20)
  end
  lu.assertEquals(state.ended, 2)
  lu.assertNil(state.failed, "every write succeeded")
  mcsi.logout_from_target(sid)
end

H.finish()
