package main

import (
	"flag"
	"fmt"

	"github.com/infergate/infergate/configs/demomodels"
)

// genModels writes the demo models' .onnx files into a repository folder;
// their config.yaml files are committed, the models are generated.
func genModels(args []string) error {
	fs := flag.NewFlagSet("gen-models", flag.ContinueOnError)
	force := fs.Bool("force", false, "overwrite existing model.onnx files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: infergate gen-models [--force] DIR")
	}
	dir := fs.Arg(0)
	if err := demomodels.WriteRepository(dir, *force); err != nil {
		return err
	}
	fmt.Printf("demo models written to %s: %v\n", dir, demomodels.Names())
	return nil
}
