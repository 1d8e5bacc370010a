-- SPDX-License-Identifier: LGPL-2.1-or-later
-- bench-report.lua RESULTS.tsv: the Markdown tables of make bench (tools/bench.sh
-- writes RESULTS.tsv, this prints the report on stdout). Plain lua5.4, no module.
--
-- RESULTS.tsv, tab-separated, one record a line, by its first field:
--   H key value                                   run facts (date, commit, rounds, load, ...)
--   W target wkey label url block_size m b bytes  a workload, in report order
--   R target wkey contender round first iops mbs cpu_us wrap_us rc
--                                                 one measured run; first=1: it ran first in
--                                                 its round; "-" where a figure is missing
--   U target wkey contender iops                  a warm-up run (not counted)
--   N text                                        a note (failed run, ...)
-- Contenders: mcsi, mcsi-c2, mcsi-c4 (this build, -c N), base, base-c4 (the BASE
-- build), iscsi (libiscsi's iscsi-perf, one connection).

local TARGET_TITLE = {
  tgt = "tgt null LUN",
  istgt = "istgt, file-backed LUN",
}
local CONTENDER_NAME = {
  mcsi = "mcsi-perf", ["mcsi-c2"] = "mcsi-perf -c 2", ["mcsi-c4"] = "mcsi-perf -c 4",
  base = "old mcsi-perf", ["base-c4"] = "old mcsi-perf -c 4", iscsi = "iscsi-perf",
}
local NEW_CONTENDERS = { "mcsi", "mcsi-c2", "mcsi-c4" }
local BASE_PAIRS = { { "mcsi", "base", "1 connection" }, { "mcsi-c4", "base-c4", "4 connections" } }
local CONTENDER_ORDER = { "mcsi", "mcsi-c2", "mcsi-c4", "base", "base-c4", "iscsi" }

-- ---- reading ------------------------------------------------------------------

local function split_tabs(line)
  local f = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
  return f
end

local function read_results(path)
  local data = { facts = {}, workloads = {}, runs = {}, warmups = {}, notes = {} }
  for line in assert(io.lines(path)) do
    local f = split_tabs(line)
    if f[1] == "H" then
      data.facts[f[2]] = f[3]
    elseif f[1] == "W" then
      data.workloads[#data.workloads + 1] = {
        target = f[2], key = f[3], label = f[4], url = f[5], block_size = f[6],
        m = f[7], b = f[8], bytes = tonumber(f[9]) }
    elseif f[1] == "R" then
      local id = f[2] .. "/" .. f[3]
      data.runs[id] = data.runs[id] or {}
      local list = data.runs[id][f[4]] or {}
      data.runs[id][f[4]] = list
      list[#list + 1] = { round = tonumber(f[5]), first = f[6] == "1", iops = tonumber(f[7]),
                          mbs = tonumber(f[8]), cpu = tonumber(f[9]), wrap = tonumber(f[10]) }
    elseif f[1] == "U" then
      data.warmups[f[2] .. "/" .. f[3] .. "/" .. f[4]] = tonumber(f[5])
    elseif f[1] == "N" then
      data.notes[#data.notes + 1] = f[2]
    end
  end
  return data
end

-- ---- statistics -----------------------------------------------------------------

local function values(runs, field)
  local v = {}
  for _, r in ipairs(runs or {}) do
    if r[field] then v[#v + 1] = r[field] end
  end
  table.sort(v)
  return v
end

local function median(v)
  local n = #v
  if n == 0 then return nil end
  if n % 2 == 1 then return v[(n + 1) // 2] end
  return (v[n // 2] + v[n // 2 + 1]) / 2
end

local function ratio(a, b)
  if not a or not b or b == 0 then return nil end
  return a / b
end

-- Ratios a/b of the runs of the same round.
local function paired_ratios(runs_a, runs_b)
  local by_round, v = {}, {}
  for _, r in ipairs(runs_b or {}) do by_round[r.round] = r.iops end
  for _, r in ipairs(runs_a or {}) do
    local q = ratio(r.iops, by_round[r.round])
    if q then v[#v + 1] = q end
  end
  table.sort(v)
  return v
end

-- ---- formatting -----------------------------------------------------------------

local function fmt(x, decimals)
  if not x then return "-" end
  if decimals == 0 then return string.format("%d", math.floor(x + 0.5)) end
  return string.format("%." .. decimals .. "f", x)
end

-- "median (min–max)", with "n=k/N" when runs are missing.
local function summary(runs, field, decimals)
  local v = values(runs, field)
  if #v == 0 then return "-" end
  local s = string.format("%s (%s–%s)", fmt(median(v), decimals), fmt(v[1], decimals), fmt(v[#v], decimals))
  if #v < #(runs or {}) then s = s .. string.format(" n=%d/%d", #v, #runs) end
  return s
end

local function row(cells)
  return "| " .. table.concat(cells, " | ") .. " |"
end

local function workload_name(w)
  return string.format("%s (-m %s -b %s)", w.label, w.m, w.b)
end

-- ---- sections -------------------------------------------------------------------

local function targets_in_order(data)
  local seen, list = {}, {}
  for _, w in ipairs(data.workloads) do
    if not seen[w.target] then
      seen[w.target] = true
      list[#list + 1] = w.target
    end
  end
  return list
end

local function against_iscsi_perf(data, target)
  local out, first = {}, nil
  for _, w in ipairs(data.workloads) do
    if w.target == target then
      first = first or w
      local runs = data.runs[w.target .. "/" .. w.key] or {}
      local theirs = runs.iscsi
      for _, c in ipairs(NEW_CONTENDERS) do
        local ours = runs[c]
        if ours then
          local label = workload_name(w) .. (c == "mcsi" and "" or ", " .. CONTENDER_NAME[c])
          out[#out + 1] = row {
            label,
            fmt(ratio(median(values(ours, "iops")), median(values(theirs, "iops"))), 2),
            summary(ours, "iops", 0), summary(theirs, "iops", 0),
            fmt(median(values(ours, "mbs")), 0) .. " / " .. fmt(median(values(theirs, "mbs")), 0),
            fmt(ratio(median(values(ours, "cpu")), median(values(theirs, "cpu"))), 2),
            summary(ours, "cpu", 2), summary(theirs, "cpu", 2),
          }
        end
      end
    end
  end
  if not first then return nil end
  return table.concat({
    string.format("### %s: mcsi-perf against iscsi-perf", TARGET_TITLE[target] or target),
    "",
    string.format("%s, block size %s. iscsi-perf always uses one connection.", first.url, first.block_size),
    "",
    row { "workload", "IOPS ratio mcsi/iscsi-perf", "mcsi-perf IOPS", "iscsi-perf IOPS",
          "MB/s mcsi / iscsi-perf", "CPU/IO ratio", "mcsi-perf CPU µs/IO", "iscsi-perf CPU µs/IO" },
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    table.concat(out, "\n"),
  }, "\n")
end

local function against_base(data)
  local out = {}
  for _, w in ipairs(data.workloads) do
    local runs = data.runs[w.target .. "/" .. w.key] or {}
    for _, pair in ipairs(BASE_PAIRS) do
      local new, old = runs[pair[1]], runs[pair[2]]
      if new and old then
        local paired = paired_ratios(new, old)
        out[#out + 1] = row {
          string.format("%s, %s, %s", TARGET_TITLE[w.target] or w.target, workload_name(w), pair[3]),
          fmt(ratio(median(values(new, "iops")), median(values(old, "iops"))), 2),
          summary(new, "iops", 0), summary(old, "iops", 0),
          #paired > 0 and string.format("%.2f–%.2f", paired[1], paired[#paired]) or "-",
          fmt(ratio(median(values(new, "cpu")), median(values(old, "cpu"))), 2),
          summary(new, "cpu", 2), summary(old, "cpu", 2),
        }
      end
    end
  end
  if #out == 0 then return nil end
  return table.concat({
    string.format("### Side by side: this build (new) against %s (old)", data.facts.base or "?"),
    "",
    "Both mcsi-perf builds alternate in the same rounds on the same target; \"new/old per round\" " ..
    "is the range of the ratios of runs of the same round (the noise). Issue 8 asks for a median " ..
    "IOPS ratio new/old of at least 0.95 at 4 KiB QD 32 and 256 KiB QD 16.",
    "",
    row { "workload", "IOPS ratio new/old", "new IOPS", "old IOPS", "new/old per round",
          "CPU/IO ratio new/old", "new CPU µs/IO", "old CPU µs/IO" },
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    table.concat(out, "\n"),
  }, "\n")
end

-- IOPS of every run, round by round; * marks the run that went first in its round.
local function per_round(data)
  local rounds = tonumber(data.facts.rounds) or 0
  local out = { "### Every run (IOPS; * ran first in its round; warm-up not counted)", "" }
  local header, rule = { "workload", "tool", "warm-up" }, { "---", "---", "---:" }
  for r = 1, rounds do
    header[#header + 1] = "r" .. r
    rule[#rule + 1] = "---:"
  end
  header[#header + 1] = "CPU µs/IO own / wait4"
  rule[#rule + 1] = "---:"
  out[#out + 1] = row(header)
  out[#out + 1] = "|" .. table.concat(rule, "|") .. "|"
  for _, w in ipairs(data.workloads) do
    local runs = data.runs[w.target .. "/" .. w.key] or {}
    for _, c in ipairs(CONTENDER_ORDER) do
      if runs[c] then
        local warm = data.warmups[w.target .. "/" .. w.key .. "/" .. c]
        local cells = { w.target .. " " .. w.key, CONTENDER_NAME[c], warm and fmt(warm, 0) or "" }
        local by_round = {}
        for _, r in ipairs(runs[c]) do by_round[r.round] = r end
        for r = 1, rounds do
          local run = by_round[r]
          cells[#cells + 1] = run and (fmt(run.iops, 0) .. (run.first and "*" or "")) or ""
        end
        local own = c == "iscsi" and "-" or fmt(median(values(runs[c], "cpu")), 2)
        cells[#cells + 1] = own .. " / " .. fmt(median(values(runs[c], "wrap")), 2)
        out[#out + 1] = row(cells)
      end
    end
  end
  return table.concat(out, "\n")
end

local function header(data)
  local f = data.facts
  local lines = {
    "## mcsi-perf against iscsi-perf (make bench)",
    "",
    string.format("%s, %s CPUs, kernel %s, mcsi %s%s.", f.date or "?", f.cpus or "?",
                  f.kernel or "?", f.commit or "?", f.base and (", old build " .. f.base) or ""),
    string.format("Load average (1, 5, 15 min) before: %s; after: %s.", f.load_before or "?",
                  f.load_after or "?"),
    string.format("Reads, sequential. Per workload: a warm-up run of each program (%s s, not counted), " ..
                  "then %s rounds of one %s s run per tool, the order reversed every other round; " ..
                  "figures are medians with (min–max) over the rounds; ratios are ratios of medians.",
                  f.warmup or "?", f.rounds or "?", f.seconds or "?"),
    "CPU per I/O is user+sys seconds / I/Os of the whole process: mcsi-perf's own getrusage " ..
    "(its `us_per_io` line), iscsi-perf's from its rusage as a child (wait4, tools/bench-rusage.c; " ..
    "I/Os = its average IOPS × run time).",
  }
  return table.concat(lines, "\n")
end

local function main(path)
  local data = read_results(path)
  local parts = { header(data) }
  local base = against_base(data)
  if base then parts[#parts + 1] = base end
  for _, t in ipairs(targets_in_order(data)) do
    parts[#parts + 1] = against_iscsi_perf(data, t)
  end
  parts[#parts + 1] = per_round(data)
  if #data.notes > 0 then
    local n = { "### Notes", "" }
    for _, text in ipairs(data.notes) do n[#n + 1] = "- " .. text end
    parts[#parts + 1] = table.concat(n, "\n")
  end
  print(table.concat(parts, "\n\n"))
end

main(assert(arg[1], "usage: lua5.4 bench-report.lua RESULTS.tsv"))
