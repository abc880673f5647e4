package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// dnstap output (https://dnstap.info), as Knot, PowerDNS, CoreDNS and
// unbound write it: every query is an AUTH_QUERY message and, when a
// response was sent, an AUTH_RESPONSE message, each a Frame Streams frame
// of the protobuf dnstap.Dnstap, with the node's identity and version.
//
// Frames are written from the sink's goroutine through golang-dnstap's
// Writer (NewWriter): to a file (unidirectional Frame Streams), or to a
// collector's unix socket (bidirectional: READY/ACCEPT handshake, STOP
// and FINISH at Close). Both are flushed whenever the sink's buffer runs
// empty. The library's own socket writer (NewSocketWriter, behind
// NewFrameStreamSockOutput) is not used: in v0.4.0 it never reconnects
// once an established connection fails (dnstap/golang-dnstap#48, fixed
// after the release), and it retries by sleeping in WriteFrame. Ours
// reconnects at the next frame after a failure, then at most every
// dnstapRetryInterval; events that find no collector are counted as
// failed rather than held, so that a collector that comes back gets
// current queries, not a backlog.

// Socket output timings: the write timeout and the handshake's read
// timeout; the least time between two connection attempts.
const (
	dnstapTimeout       = 2 * time.Second
	dnstapRetryInterval = 2 * time.Second
)

// frameWriter is where the frames go: a file, or a collector's socket.
type frameWriter interface {
	WriteFrame([]byte) (int, error)
	Flush() error
	Close() error
}

// Dnstap is a TapWriter of dnstap frames.
type Dnstap struct {
	w     frameWriter
	dt    dnstap.Dnstap
	msg   dnstap.Message
	frame []byte

	// Storage the message's optional fields point to.
	typ          dnstap.Dnstap_Type
	mtype        dnstap.Message_Type
	family       dnstap.SocketFamily
	protocol     dnstap.SocketProtocol
	qaddr, raddr [16]byte
	qport, rport uint32
	qsec, rsec   uint64
	qnsec, rnsec uint32
}

// OpenDnstap opens the dnstap output of --dnstap: "unix:/path" (a
// collector's socket, such as dnstap -u, fstrm_capture or a Vector or
// Fluent Bit dnstap source) or "file:/path" (created, or truncated: a
// Frame Streams file holds one stream). identity and version name the
// server in every message.
func OpenDnstap(target, identity, version string, log zerolog.Logger) (*Dnstap, error) {
	kind, path, ok := strings.Cut(target, ":")
	if !ok || path == "" {
		return nil, fmt.Errorf("dnstap %q: want unix:/path/to.sock or file:/path", target)
	}
	d := &Dnstap{}
	d.dt.Identity, d.dt.Version = []byte(identity), []byte(version)
	d.typ = dnstap.Dnstap_MESSAGE
	d.dt.Type, d.dt.Message = &d.typ, &d.msg
	switch kind {
	case "unix":
		d.w = &dnstapSocket{path: path, log: log.With().Str("dnstap", target).Logger()}
	case "file":
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("dnstap: %w", err)
		}
		w, err := dnstap.NewWriter(f, nil)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("dnstap %s: %w", path, err)
		}
		d.w = &dnstapFile{w: w.(flushWriter), f: f}
	default:
		return nil, fmt.Errorf("dnstap %q: want unix:/path/to.sock or file:/path", target)
	}
	return d, nil
}

// Write writes the event's AUTH_QUERY frame and, when a response was
// sent, its AUTH_RESPONSE frame.
func (d *Dnstap) Write(ev *Event) error {
	m := &d.msg
	*m = dnstap.Message{}
	m.SocketFamily, m.SocketProtocol = &d.family, &d.protocol
	d.protocol = dnstap.SocketProtocol_UDP
	if ev.TCP {
		d.protocol = dnstap.SocketProtocol_TCP
	}
	client, server := ev.Client.Addr().Unmap(), ev.Server.Addr().Unmap()
	d.family = dnstap.SocketFamily_INET
	if client.Is6() {
		d.family = dnstap.SocketFamily_INET6
	}
	m.QueryAddress = putAddr(d.qaddr[:0], client)
	d.qport = uint32(ev.Client.Port())
	m.QueryPort = &d.qport
	if server.IsValid() && server.Is6() == client.Is6() {
		m.ResponseAddress = putAddr(d.raddr[:0], server)
		d.rport = uint32(ev.Server.Port())
		m.ResponsePort = &d.rport
	}
	d.qsec, d.qnsec = uint64(ev.Time.Unix()), uint32(ev.Time.Nanosecond())
	m.QueryTimeSec, m.QueryTimeNsec = &d.qsec, &d.qnsec

	d.mtype = dnstap.Message_AUTH_QUERY
	m.Type = &d.mtype
	m.QueryMessage = ev.Query
	if err := d.writeFrame(); err != nil {
		return err
	}
	if ev.Response == nil {
		return nil
	}
	d.mtype = dnstap.Message_AUTH_RESPONSE
	m.QueryMessage = nil
	m.ResponseMessage = ev.Response
	sent := ev.Time.Add(ev.Duration)
	d.rsec, d.rnsec = uint64(sent.Unix()), uint32(sent.Nanosecond())
	m.ResponseTimeSec, m.ResponseTimeNsec = &d.rsec, &d.rnsec
	return d.writeFrame()
}

func (d *Dnstap) writeFrame() error {
	var err error
	d.frame, err = proto.MarshalOptions{}.MarshalAppend(d.frame[:0], &d.dt)
	if err != nil {
		return fmt.Errorf("dnstap: %w", err)
	}
	_, err = d.w.WriteFrame(d.frame)
	return err
}

func putAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(b, v[:]...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// Flush writes the buffered frames out.
func (d *Dnstap) Flush() error { return d.w.Flush() }

// Close ends the Frame Streams stream (a socket waits, up to
// dnstapTimeout, for the collector's acknowledgement) and closes the
// output.
func (d *Dnstap) Close() error { return d.w.Close() }

// flushWriter is the library's Writer as NewWriter makes it (a Frame
// Streams writer), which can flush.
type flushWriter interface {
	dnstap.Writer
	Flush() error
}

// dnstapFile is a Frame Streams file.
type dnstapFile struct {
	w flushWriter
	f *os.File
}

func (d *dnstapFile) WriteFrame(p []byte) (int, error) { return d.w.WriteFrame(p) }
func (d *dnstapFile) Flush() error                     { return d.w.Flush() }
func (d *dnstapFile) Close() error                     { return errors.Join(d.w.Close(), d.f.Close()) }

// errNoCollector fails frames between two connection attempts.
var errNoCollector = errors.New("dnstap: not connected to the collector")

// dnstapSocket is a bidirectional Frame Streams connection to a
// collector's unix socket, made on the first frame and made again after
// it fails.
type dnstapSocket struct {
	path    string
	log     zerolog.Logger
	conn    net.Conn
	w       flushWriter // nil: not connected
	retryAt time.Time
}

func (s *dnstapSocket) connect() error {
	if time.Now().Before(s.retryAt) {
		return errNoCollector
	}
	conn, err := net.DialTimeout("unix", s.path, dnstapTimeout)
	if err == nil {
		var w dnstap.Writer
		if w, err = dnstap.NewWriter(conn, &dnstap.WriterOptions{Bidirectional: true, Timeout: dnstapTimeout}); err == nil {
			s.conn, s.w = conn, w.(flushWriter)
			s.log.Info().Msg("dnstap collector connected")
			return nil
		}
		conn.Close()
	}
	s.retryAt = time.Now().Add(dnstapRetryInterval)
	return fmt.Errorf("dnstap: connect (again in %v): %w", dnstapRetryInterval, err)
}

// fail drops a connection that failed; the next frame reconnects.
func (s *dnstapSocket) fail() {
	s.conn.Close()
	s.conn, s.w = nil, nil
}

func (s *dnstapSocket) WriteFrame(p []byte) (int, error) {
	if s.w == nil {
		if err := s.connect(); err != nil {
			return 0, err
		}
	}
	n, err := s.w.WriteFrame(p)
	if err != nil {
		s.fail()
	}
	return n, err
}

func (s *dnstapSocket) Flush() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Flush()
	if err != nil {
		s.fail()
	}
	return err
}

func (s *dnstapSocket) Close() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	return errors.Join(err, s.conn.Close())
}
