// Package demomodels builds the small ONNX models that the gateway ships as
// its demo and test repository.
//
// The models are generated from Go rather than exported from a Python
// framework so that the repository builds anywhere the Go toolchain does,
// and so that the weights are reproducible byte for byte: the .onnx files
// are not committed, only the code that writes them. The package therefore
// carries its own minimal ONNX protobuf writer (onnx.go), which is exported
// so that tests elsewhere can build additional one-off models.
package demomodels
