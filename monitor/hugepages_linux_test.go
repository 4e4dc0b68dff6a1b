package monitor

import (
	"bufio"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestHugeSlice: a large table is zeroed, aligned to a huge page, backed
// by huge pages where the kernel's setting allows them, and unmapped once
// its owner is gone.
func TestHugeSlice(t *testing.T) {
	owner := new(predictions)
	n := 3 * hugePageBytes / 8 / 2 // a page and a half of uint64
	xs := hugeSlice[uint64](owner, n)
	if len(xs) != n {
		t.Fatalf("len %d, want %d", len(xs), n)
	}
	addr := uintptr(unsafe.Pointer(&xs[0]))
	if addr%hugePageBytes != 0 {
		t.Fatalf("table at %#x, not aligned to a huge page", addr)
	}
	for i, x := range xs {
		if x != 0 {
			t.Fatalf("xs[%d] = %d, not zeroed", i, x)
		}
		xs[i] = uint64(i)
	}
	for i, x := range xs {
		if x != uint64(i) {
			t.Fatalf("xs[%d] = %d after writing %d", i, x, i)
		}
	}
	huge, found := mappingHugeKB(t, addr)
	if !found {
		t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	}
	setting, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if strings.Contains(string(setting), "[always]") || strings.Contains(string(setting), "[madvise]") {
		if huge < 4096 {
			t.Errorf("AnonHugePages %d kB, want both huge pages (4096 kB) with THP %q", huge, strings.TrimSpace(string(setting)))
		}
	} else {
		t.Logf("transparent huge pages unavailable (%q): ordinary pages", strings.TrimSpace(string(setting)))
	}
	goruntime.KeepAlive(owner)
	xs, owner = nil, nil
	for deadline := time.Now().Add(5 * time.Second); ; {
		goruntime.GC()
		if _, found := mappingHugeKB(t, addr); !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the table is still mapped after its owner was collected")
		}
		time.Sleep(10 * time.Millisecond)
	}

	small := hugeSlice[uint64](new(int), 1024)
	if len(small) != 1024 {
		t.Fatalf("small table len %d", len(small))
	}
}

// mappingHugeKB finds the mapping that starts at addr in /proc/self/smaps
// and returns its AnonHugePages.
func mappingHugeKB(t *testing.T, addr uintptr) (kb int, found bool) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	start := fmt.Sprintf("%x-", addr)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// A mapping's header is its range, "start-end perms ...";
		// its fields follow as "Name: value".
		if first, _, _ := strings.Cut(line, " "); !strings.HasSuffix(first, ":") {
			in = strings.HasPrefix(line, start)
			found = found || in
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			fmt.Sscanf(strings.TrimPrefix(line, "AnonHugePages:"), "%d", &kb)
		}
	}
	return kb, found
}
