package gateway

import (
	"github.com/infergate/infergate/runtime"
)

func appendServerMetadata(dst []byte, version string) []byte {
	dst = append(dst, `{"name":"infergate","version":`...)
	dst = appendString(dst, version)
	return append(dst, `,"extensions":[]}`...)
}

// appendModelMetadata writes OIP v2 model metadata. "versions" lists every
// version the repository holds, as Triton does; the tensors are those of
// the resolved version.
func appendModelMetadata(dst []byte, m *runtime.Model, v *runtime.Version) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, m.Name)
	dst = append(dst, `,"versions":[`...)
	for i, x := range m.Versions {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, x.Label)
	}
	dst = append(dst, `],"platform":"onnxruntime_onnx","inputs":`...)
	dst = appendTensorInfos(dst, v.Inputs)
	dst = append(dst, `,"outputs":`...)
	dst = appendTensorInfos(dst, v.Outputs)
	dst = append(dst, `,"parameters":{"version":`...)
	dst = appendString(dst, v.Label)
	dst = append(dst, `,"execution_provider":`...)
	dst = appendString(dst, v.Provider)
	dst = append(dst, `,"requested_execution_provider":`...)
	dst = appendString(dst, m.Config.Requested())
	dst = append(dst, `}}`...)
	return dst
}

func appendTensorInfos(dst []byte, infos []runtime.TensorInfo) []byte {
	dst = append(dst, '[')
	for i, t := range infos {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTensorHeader(dst, t.Name, t.DataType, t.Shape)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendRepositoryIndex lists every model version with its state and, for
// those not ready, the reason: Triton's repository index, which is where
// an operator looks first when a model does not serve.
func appendRepositoryIndex(dst []byte, repo *runtime.Repository) []byte {
	dst = append(dst, '[')
	first := true
	entry := func(name, version, state, reason string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `{"name":`...)
		dst = appendString(dst, name)
		if version != "" {
			dst = append(dst, `,"version":`...)
			dst = appendString(dst, version)
		}
		dst = append(dst, `,"state":"`...)
		dst = append(dst, state...)
		dst = append(dst, `","reason":`...)
		dst = appendString(dst, reason)
		dst = append(dst, '}')
	}
	for _, name := range repo.Names {
		m := repo.Models[name]
		if m.Err != nil {
			entry(name, "", runtime.Unavailable.String(), m.Err.Error())
			continue
		}
		for _, v := range m.Versions {
			st, why := v.State()
			entry(name, v.Label, st.String(), why)
		}
	}
	return append(dst, ']')
}
