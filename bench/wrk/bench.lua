-- The one wrk script of every HTTP measurement of bench/run.py.
--
--   wrk -t2 -c8 -d10s --latency --timeout 30s -s bench/wrk/bench.lua <base url> -- <spec>
--
-- <spec> is a file written by run.py, one "key<TAB>value" per line:
--   method   GET or POST
--   path     the request path
--   header   "Name: value" (repeatable)
--   body     path of a file holding the body; "@@ID@@" in it is replaced by an id
--            unique to the request (or to the batch item)
--   batch    n > 0: send a JSON array of n copies of the body, each with its own id
--   tag      prefix of the ids, unique to the measurement
--
-- Ids are "<tag>-<thread>-<counter>", so no two requests of a run share one. done()
-- prints one "BENCH_RESULT {json}" line that run.py reads (latencies in microseconds).

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("tid", thread_count)
end

local method, path, tag = "GET", "/", "bench"
local headers = {}
local batch = 0
local prefix, suffix = nil, nil
local fixed = nil
local counter = 0

local function read_file(name)
   local fh = assert(io.open(name, "rb"))
   local text = fh:read("*a")
   fh:close()
   return text
end

function init(args)
   local body = nil
   for line in io.lines(args[1]) do
      local key, value = line:match("^(%w+)\t(.*)$")
      if key == "method" then
         method = value
      elseif key == "path" then
         path = value
      elseif key == "tag" then
         tag = value
      elseif key == "batch" then
         batch = tonumber(value)
      elseif key == "body" then
         body = read_file(value)
      elseif key == "header" then
         local name, val = value:match("^([^:]+):%s*(.*)$")
         headers[name] = val
      end
   end
   if body then
      local first, last = body:find("@@ID@@", 1, true)
      if first then
         prefix, suffix = body:sub(1, first - 1), body:sub(last + 1)
      else
         prefix, suffix = body, nil
      end
   end
   if not (suffix or batch > 0) then
      fixed = wrk.format(method, path, headers, prefix)
   end
end

local function next_id()
   counter = counter + 1
   return tag .. "-" .. tid .. "-" .. counter
end

local function item()
   if suffix then
      return prefix .. next_id() .. suffix
   end
   return prefix
end

function request()
   if fixed then
      return fixed
   end
   if batch > 0 then
      local items = {}
      for i = 1, batch do
         items[i] = item()
      end
      return wrk.format(method, path, headers, "[" .. table.concat(items, ",") .. "]")
   end
   return wrk.format(method, path, headers, item())
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"min": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
