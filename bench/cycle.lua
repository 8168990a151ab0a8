-- wrk script: each request takes the next path from a file, one path a line.
--   wrk -t THREADS ... -s bench/cycle.lua URL -- PATHS_FILE MAX_PER_THREAD THREADS
-- Thread i of n takes lines i, i+n, i+2n, ...; it stops after MAX_PER_THREAD responses, so
-- a run is bounded in count as well as in time (-d). With MAX_PER_THREAD at most the
-- thread's share of lines minus its connections, no path is ever requested twice.
-- Responses are counted by status (wrk itself only counts "non-2xx"), and so are 503s that
-- carry Retry-After. done() prints one line "WRK_JSON {...}" for bench/wrk.py to read.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[3])
  max_responses = tonumber(args[2])
  paths = {}
  local line_no = 0
  for line in io.lines(args[1]) do
    if line_no % nthreads == id then
      paths[#paths + 1] = line
    end
    line_no = line_no + 1
  end
  cursor = 0
  responses = 0
  wrapped = 0
  retry_after = 0
  statuses = {}
end

function request()
  cursor = cursor + 1
  if cursor > #paths then
    cursor = 1
    wrapped = wrapped + 1
  end
  return wrk.format("GET", paths[cursor])
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
    retry_after = retry_after + 1
  end
  responses = responses + 1
  if responses >= max_responses then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counts, wraps, with_retry_after, stopped = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    wraps = wraps + thread:get("wrapped")
    with_retry_after = with_retry_after + thread:get("retry_after")
    if thread:get("responses") >= thread:get("max_responses") then
      stopped = stopped + 1
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%s":%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"wrapped":%d,"threads_stopped":%d,"retry_after":%d,"statuses":{%s},"p95_us":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout,
    wraps, stopped, with_retry_after, table.concat(parts, ","), latency:percentile(95)))
end
