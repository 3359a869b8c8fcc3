-- wrk script: POST one JSON-RPC message ($BODY) with headers ($HDRS, a JSON object of
-- simple string values) on keep-alive connections, and check every reply: status 200
-- and the body contains $EXPECT. Prints one "JSON {...}" summary line.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  wrk.method = "POST"
  wrk.body = os.getenv("BODY")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  for k, v in string.gmatch(os.getenv("HDRS") or "{}", '"([^"]+)"%s*:%s*"([^"]*)"') do
    wrk.headers[k] = v
  end
  expect = os.getenv("EXPECT")
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"bad":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"min_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, b, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.min, latency.max))
end
