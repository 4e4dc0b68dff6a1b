// Command infergate is the inference gateway: one binary, with
// subcommands.
//
//	infergate serve --model-repository DIR   serve a model repository
//	infergate gen-models DIR                 write the demo models' .onnx files
//	infergate bench -model NAME              load-test an OIP v2 endpoint
//	infergate version                        print versions
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "gen-models":
		err = genModels(os.Args[2:])
	case "bench":
		err = benchCmd(os.Args[2:])
	case "version", "--version", "-version":
		fmt.Println("infergate", version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "infergate: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "infergate:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `infergate: an inference gateway for ONNX models (Open Inference Protocol v2)

Usage:
  infergate serve --model-repository DIR [flags]   serve every model in DIR (see: infergate serve -h)
  infergate gen-models [--force] DIR               write the demo models' .onnx files into DIR
  infergate bench -model NAME [flags]              load-test, capacity-search or sweep an OIP v2 endpoint (see: infergate bench -h)
  infergate version                                print the version
`)
}
