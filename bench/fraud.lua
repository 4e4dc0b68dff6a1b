-- One [1,30] FP32 inference on the fraud demo model, without an id: a
-- monitored gateway makes one up for each request, so every request is
-- sampled at sample_rate 1.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","data":[0.279,-0.95,-0.45,-0.554,0.473,0.353,0.784,-0.826,-0.156,-0.94,-0.563,0.011,-0.947,-0.602,0.3,0.09,-0.559,0.179,0.619,-0.987,0.612,0.396,-0.319,-0.689,0.914,-0.327,-0.815,-0.807,0.695,0.207]}]}'
