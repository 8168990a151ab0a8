-- wrk script: each request uploads one image, made distinct by a comment segment.
--   wrk ... -s bench/upload.lua URL -- BODY_FILE MAX_PER_THREAD THREADS TOKEN PATH RUN
-- BODY_FILE is a JPEG; each request sends it with a COM segment inserted after its SOI
-- marker holding RUN (a name unique to the run), the thread's id and a counter, so that
-- every upload is new bytes to the server (the same bytes twice would be one asset) and
-- still the same picture. Responses are counted by status and summarised as
-- bench/cycle.lua does (its response() and done()).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "cycle.lua")

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local jpeg = file:read("*a")
  file:close()
  assert(jpeg:sub(1, 2) == "\255\216", args[1] .. " is not a JPEG")
  soi, rest = jpeg:sub(1, 2), jpeg:sub(3)
  max_responses = tonumber(args[2])
  token, path, run = args[4], args[5], args[6]
  sent = 0
  responses = 0
  wrapped = 0
  retry_after = 0
  statuses = {}
end

function request()
  sent = sent + 1
  local note = string.format("imgfleet-bench %s %d %d", run, id, sent)
  local segment = "\255\254" .. string.char(math.floor((#note + 2) / 256), (#note + 2) % 256)
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "image/jpeg",
  }, soi .. segment .. note .. rest)
end
