package health

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkThousandRegions reports what checking 1,000 regions every second
// costs: CPU seconds per second of wall time and heap, measured over 5s.
// The loopback target server runs in the same process, so the CPU figure
// includes answering the checks too. Run with -benchtime=1x.
func BenchmarkThousandRegions(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	for range b.N {
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New(Options{Interval: time.Second, Log: zerolog.Nop()})
		targets := make([]Target, 1000)
		for i := range targets {
			targets[i] = Target{Region: fmt.Sprintf("r%d", i), Endpoint: srv.URL}
		}
		c.Sync(targets)
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		start := time.Now()
		time.Sleep(5 * time.Second)
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		wall := time.Since(start)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
		checks := 0
		for _, st := range c.States() {
			if st.Checked {
				checks++
			}
		}
		c.Stop()
		b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-s/s")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines-after-stop")
		b.ReportMetric(float64(checks), "regions-checked")
	}
}
