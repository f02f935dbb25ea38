-- Per-request credentials for wrk, one line of a file per request, in order.
--   wrk ... -s requests.lua URL -- MODE PATH FILE [OFFSET]
-- MODE: verify-cookie | verify-bearer (forward-auth with X-Original-URI: /agent/x),
--       page-cookie (a signed-in page), deeplink (PATH?accessToken=LINE&room=7),
--       plain (PATH with no credentials; the lines only set how many requests are formatted).
-- Requests are formatted once in init(); request() only hands the next one out.
-- done() prints one line "BENCH_JSON {...}" that bench/wrk.py reads.

local requests = {}
local index = 0
wrapped = 0

local function build(mode, path, line)
   local headers = {}
   local target = path
   if mode == "verify-cookie" or mode == "page-cookie" then
      headers["Cookie"] = "latchkey_session=" .. line
   elseif mode == "verify-bearer" then
      headers["Authorization"] = "Bearer " .. line
   elseif mode == "deeplink" then
      target = path .. "?accessToken=" .. line .. "&room=7"
   elseif mode == "plain" then
      target = path
   else
      error("unknown mode " .. tostring(mode))
   end
   if mode == "verify-cookie" or mode == "verify-bearer" then
      headers["X-Original-URI"] = "/agent/x"
   end
   headers["Host"] = wrk.headers["Host"]
   return wrk.format("GET", target, headers)
end

function init(args)
   local mode, path, file = args[1], args[2], args[3]
   index = tonumber(args[4] or "0")
   for line in io.lines(file) do
      if #line > 0 then
         requests[#requests + 1] = build(mode, path, line)
      end
   end
   if #requests == 0 then
      error("no lines in " .. file)
   end
   index = index % #requests
end

function request()
   index = index + 1
   if index > #requests then
      index = 1
      wrapped = wrapped + 1
   end
   return requests[index]
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, _)
   local wraps = 0
   for _, thread in ipairs(threads) do
      wraps = wraps + (thread:get("wrapped") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
         .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%.0f,"p90_us":%.0f,'
         .. '"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f,"wrapped":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, wraps))
end
