package runtime

// ProviderConfig chooses the execution provider of a model's sessions.
// It is embedded in ModelConfig, so its keys sit at the top of config.yaml.
type ProviderConfig struct{}
