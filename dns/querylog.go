package dns

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// The JSON query log: one zerolog line per query, with no level and no
// message:
//
//	{"time":"2026-05-01T10:00:00.123456789Z","client":"192.0.2.1","client_port":53211,"tcp":false,
//	 "ecs":"198.51.100.0/24","name":"www.example.test.","type":"A","rcode":"NOERROR",
//	 "region":"eu-west","why":"strategy geo chose [eu-west] by rule continent; ECS scope /24",
//	 "duration_us":41.2,"response_size":61}
//
// ecs, region and why are left out when empty; response_size is 0 when
// nothing was sent (the rate limiter dropped the response).

// Batch sizes of the query log: lines are gathered and written whole, at
// most this many bytes at once, when the sink's buffer runs empty or the
// batch is full. Standard streams get batches no larger than PIPE_BUF, so
// that the process log's lines on the same pipe are never cut into ours.
const (
	queryLogFileBatch   = 64 << 10
	queryLogStreamBatch = 4096
)

// QueryLog is a TapWriter of JSON lines.
type QueryLog struct {
	out     io.Writer
	closer  io.Closer // nil: not ours to close (stdout, stderr)
	batch   int
	buf     []byte
	zl      zerolog.Logger
	scratch []byte
	err     error // the first write error of the current batch
}

// NewQueryLog returns a query log writing to w, whole lines at a time in
// writes of at most batch bytes (a line longer than that is written
// alone). w is not closed.
func NewQueryLog(w io.Writer, batch int) *QueryLog {
	q := &QueryLog{out: w, batch: max(batch, 512)}
	q.zl = zerolog.New(lineBuffer{q})
	return q
}

// OpenQueryLog opens the query log target of --query-log: "-" or
// "stderr", "stdout", or a file, created if needed and appended to.
func OpenQueryLog(target string) (*QueryLog, error) {
	switch target {
	case "":
		return nil, errors.New("query log: no target")
	case "-", "stderr":
		return NewQueryLog(os.Stderr, queryLogStreamBatch), nil
	case "stdout":
		return NewQueryLog(os.Stdout, queryLogStreamBatch), nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("query log: %w", err)
	}
	q := NewQueryLog(f, queryLogFileBatch)
	q.closer = f
	return q, nil
}

// lineBuffer is the zerolog output: it gathers whole lines into q.buf.
type lineBuffer struct{ q *QueryLog }

func (l lineBuffer) Write(p []byte) (int, error) {
	q := l.q
	if len(q.buf)+len(p) > q.batch && len(q.buf) > 0 {
		q.flush()
	}
	q.buf = append(q.buf, p...)
	return len(p), nil
}

func (q *QueryLog) flush() {
	if len(q.buf) == 0 {
		return
	}
	if _, err := q.out.Write(q.buf); err != nil && q.err == nil {
		q.err = err
	}
	q.buf = q.buf[:0]
}

// Write adds one event's line.
func (q *QueryLog) Write(ev *Event) error {
	e := q.zl.Log()
	q.scratch = ev.Time.UTC().AppendFormat(q.scratch[:0], time.RFC3339Nano)
	e.Bytes("time", q.scratch)
	q.scratch = ev.Client.Addr().AppendTo(q.scratch[:0])
	e.Bytes("client", q.scratch).Uint16("client_port", ev.Client.Port()).Bool("tcp", ev.TCP)
	if ev.ECS.IsValid() {
		q.scratch = ev.ECS.AppendTo(q.scratch[:0])
		e.Bytes("ecs", q.scratch)
	}
	e.Str("name", ev.Name).Str("type", typeName(ev.Qtype)).Str("rcode", rcodeName(ev.Rcode))
	if ev.Region != "" {
		e.Str("region", ev.Region)
	}
	if why := ev.Explain(); why != "" {
		e.Str("why", why)
	}
	e.Float64("duration_us", float64(ev.Duration.Nanoseconds())/1e3).Int("response_size", len(ev.Response))
	e.Msg("")
	if len(q.buf) >= q.batch {
		q.flush()
	}
	err := q.err
	q.err = nil
	return err
}

// Flush writes the lines gathered so far.
func (q *QueryLog) Flush() error {
	q.flush()
	err := q.err
	q.err = nil
	return err
}

// Close flushes and closes the file (not a standard stream).
func (q *QueryLog) Close() error {
	err := q.Flush()
	if q.closer != nil {
		err = errors.Join(err, q.closer.Close())
	}
	return err
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func rcodeName(rc int) string {
	if rc < 0 {
		return ""
	}
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}
