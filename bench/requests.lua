-- Replays pre-signed requests from a file (one per line, tab-separated:
-- method, path, webhook-id, webhook-timestamp, webhook-signature, body).
-- Each wrk thread takes every n-th line, so no request is sent twice.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = counter
  requests = {}
  local path = os.getenv("BENCH_REQUESTS")
  local override = os.getenv("BENCH_PATH")
  local i = 0
  for line in io.lines(path) do
    if i % tonumber(os.getenv("BENCH_THREADS")) == tid then
      local method, p, id, ts, sig, body = line:match("^(%S+)\t(%S+)\t(%S+)\t(%S+)\t([^\t]+)\t(.*)$")
      local headers = {
        ["Content-Type"] = "application/json",
        ["webhook-id"] = id,
        ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig,
      }
      requests[#requests + 1] = wrk.format(method, override or p, headers, body)
    end
    i = i + 1
  end
  n = 0
end

function request()
  n = n + 1
  if n > #requests then
    n = 1
    wrapped = true
  end
  return requests[n]
end
