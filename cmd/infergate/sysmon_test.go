package main

import (
	"slices"
	"testing"
)

// A GODEBUG already in the environment must be replaced, not followed by a
// second one that the re-executed process would never read.
func TestWithGodebugReplacesTheExistingEntry(t *testing.T) {
	got := withGodebug([]string{"A=1", "GODEBUG=madvdontneed=1", "B=2", "GODEBUG=x=1"}, "madvdontneed=1,"+sysmonSetting)
	want := []string{"A=1", "B=2", "GODEBUG=madvdontneed=1," + sysmonSetting}
	if !slices.Equal(got, want) {
		t.Fatalf("withGodebug = %q, want %q", got, want)
	}
}
