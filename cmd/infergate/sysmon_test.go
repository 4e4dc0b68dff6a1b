package main

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
)

// TestMain lets a test run this test binary as the infergate command:
// with asCommand set, it is main() with the arguments after the test
// flags' place, so serve's re-execution of itself runs main() again.
func TestMain(m *testing.M) {
	if os.Getenv(asCommand) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const asCommand = "INFERGATE_TEST_AS_COMMAND"

// A GODEBUG already in the environment must be replaced, not followed by a
// second one that the re-executed process would never read.
func TestWithGodebugReplacesTheExistingEntry(t *testing.T) {
	got := withGodebug([]string{"A=1", "GODEBUG=madvdontneed=1", "B=2", "GODEBUG=x=1"}, "madvdontneed=1,"+sysmonSetting)
	want := []string{"A=1", "B=2", "GODEBUG=madvdontneed=1," + sysmonSetting}
	if !slices.Equal(got, want) {
		t.Fatalf("withGodebug = %q, want %q", got, want)
	}
}

// serve executes itself once with the setting added to the user's GODEBUG
// (before the fix, a GODEBUG of the user's made it execute itself
// forever), says so in its serving line, and keeps a schedtrace of the
// user's as it is.
func TestServeKeepsSysmonAwake(t *testing.T) {
	repo := t.TempDir()
	if err := demomodels.WriteRepository(repo, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		godebug, want string
		awake         bool
	}{
		{"", sysmonSetting, true},
		{"madvdontneed=1", "madvdontneed=1," + sysmonSetting, true},
		{"schedtrace=0", "schedtrace=0", false},
	} {
		cmd := exec.Command(os.Args[0], "serve", "--model-repository", repo, "--http-address", "127.0.0.1",
			"--http-port", "0", "--metrics-port", "0", "--log-level", "info")
		// The case's GODEBUG only, whatever the test's own environment has.
		cmd.Env = slices.DeleteFunc(append(os.Environ(), asCommand+"=1"), func(kv string) bool {
			return strings.HasPrefix(kv, "GODEBUG=")
		})
		if tc.godebug != "" {
			cmd.Env = append(cmd.Env, "GODEBUG="+tc.godebug)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		serving := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "msg=serving") {
					serving <- sc.Text()
				}
			}
			close(serving)
		}()
		var line string
		select {
		case line = <-serving:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("GODEBUG=%q: no serving line in 60 s", tc.godebug)
		}
		if !strings.Contains(line, "sysmon_awake="+strconv.FormatBool(tc.awake)) {
			t.Errorf("GODEBUG=%q: serving line %q, want sysmon_awake=%v", tc.godebug, line, tc.awake)
		}
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		var godebugs []string
		for kv := range strings.SplitSeq(string(environ), "\x00") {
			if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
				godebugs = append(godebugs, v)
			}
		}
		if !slices.Equal(godebugs, []string{tc.want}) {
			t.Errorf("GODEBUG=%q: the serving process has GODEBUG %q, want %q", tc.godebug, godebugs, tc.want)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("GODEBUG=%q: serve stopped with %v", tc.godebug, err)
		}
	}
}
