-- [1,30] FP32 inferences on the fraud demo model, without ids: a monitored
-- gateway makes one up for each request, so every request is sampled at
-- sample_rate 1.
--
--   wrk -s bench/fraud.lua URL -- BODIES   sends BODIES' lines in turn (one
--                                          JSON body a line; fraud-common.sh
--                                          writes them from the reference
--                                          rows, so sketches see real spread)
--   wrk -s bench/fraud.lua URL             sends the one body below
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","data":[0.279,-0.95,-0.45,-0.554,0.473,0.353,0.784,-0.826,-0.156,-0.94,-0.563,0.011,-0.947,-0.602,0.3,0.09,-0.559,0.179,0.619,-0.987,0.612,0.396,-0.319,-0.689,0.914,-0.327,-0.815,-0.807,0.695,0.207]}]}'

local requests, n, i = {}, 0, 0

function init(args)
  if args[1] then
    for line in io.lines(args[1]) do
      n = n + 1
      requests[n] = wrk.format(nil, nil, nil, line)
    end
  end
end

function request()
  if n == 0 then
    return wrk.format()
  end
  i = i % n + 1
  return requests[i]
end
