-- wrk script: bench/cycle.lua with a pause before every request of a connection.
--   wrk -t THREADS ... -s bench/paced.lua URL -- PATHS_FILE MAX_PER_THREAD THREADS PAUSE_MS
-- wrk waits delay() milliseconds before each request it sends on a connection (the first
-- one too), so a connection offers at most one request per PAUSE_MS + its latency: a
-- client that paces itself, unlike cycle.lua's, which resends at once (after a 503 too).
-- Latency is timed from the send, after the pause.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "cycle.lua")

local cycle_init = init

function init(args)
  cycle_init(args)
  pause_ms = tonumber(args[4])
end

function delay()
  return pause_ms
end
