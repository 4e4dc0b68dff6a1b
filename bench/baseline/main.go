// Command baseline is the ceiling in infergate's HTTP figures: a fasthttp
// server whose handler parses nothing and answers every request with a
// fixed OIP v2 response, so the distance between it and the gateway is
// exactly what decoding, routing, ONNX Runtime and encoding cost.
//
//	go run ./bench/baseline --listen 127.0.0.1:9100
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

// response is what the gateway answers for the elementwise demo model on
// one [1,4] input, so both servers write the same number of bytes.
const response = `{"model_name":"elementwise","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[1,4],"data":[3,5,7,9]}]}`

func main() {
	listen := flag.String("listen", "127.0.0.1:9100", "address to serve on")
	flag.Parse()
	body := []byte(response)
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
	}
	log.Fatal(srv.ListenAndServe(*listen))
}
