//go:build e2e

package cmd

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// TestE2EQueryLog serves the example zone with --dnstap file:... and
// --query-log FILE, queries it with dig, stops it with SIGTERM and reads
// both logs back: the dnstap file with golang-dnstap's reader, the query
// log as JSON lines.
func TestE2EQueryLog(t *testing.T) {
	digBin := requireTool(t, "dig")
	root := repoRoot(t)
	logDir := t.TempDir()
	tapFile := filepath.Join(logDir, "queries.dnstap")
	jsonFile := filepath.Join(logDir, "queries.jsonl")
	gd := startGeodnsWith(t, root, loopbackZones(t, root), filepath.Join(t.TempDir(), "data"), "--dnstap", "file:"+tapFile, "--query-log", jsonFile)
	d := newDigger(t, digBin, gd.port)

	queries := []struct {
		name   string
		args   []string
		status string
		region string // in the query log; "" none
		why    string // substring of why
		ecs    string
		tcp    bool
	}{
		{"geo by ECS", []string{"www.example.test", "A", "+norec", "+subnet=198.51.100.0/24"}, "NOERROR", "eu-west", "rule continent", "198.51.100.0/24", false},
		{"geo from the client address", []string{"www.example.test", "AAAA", "+norec"}, "NOERROR", "us-east", "strategy geo", "", false},
		{"TCP", []string{"www.example.test", "A", "+norec", "+tcp", "+subnet=203.0.113.0/24"}, "NOERROR", "ap-south", "", "203.0.113.0/24", true},
		{"NXDOMAIN", []string{"nope.example.test", "A", "+norec"}, "NXDOMAIN", "", "", "", false},
		{"REFUSED", []string{"example.org", "MX", "+norec"}, "REFUSED", "", "", "", false},
	}
	digID := regexp.MustCompile(`(?m)^;; ->>HEADER<<- .*, id: (\d+)$`)
	results := make([]digResult, len(queries))
	ids := make([]uint16, len(queries))
	for i, q := range queries {
		results[i] = d.run(t, q.args...)
		require.Equal(t, q.status, results[i].Status, results[i].Output)
		m := digID.FindStringSubmatch(results[i].Output)
		require.NotNil(t, m, results[i].Output)
		id, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		ids[i] = uint16(id)
	}

	t.Run("metrics count the logged queries", func(t *testing.T) {
		// Events are written shortly after their answers.
		want := regexp.MustCompile(`(?m)^geodns_querylog_events_total\{result="written",sink="(dnstap|querylog)"\} (\d+)$`)
		require.Eventually(t, func() bool {
			resp, err := http.Get(gd.apiURL() + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			sinks := map[string]bool{}
			for _, m := range want.FindAllStringSubmatch(string(body), -1) {
				n, _ := strconv.Atoi(m[2])
				sinks[m[1]] = n >= len(queries)
			}
			return sinks["dnstap"] && sinks["querylog"]
		}, 5*time.Second, 100*time.Millisecond)
	})

	gd.proc.stop(t)
	require.NoError(t, gd.proc.waitErr, "exit after SIGTERM:\n%s", gd.proc.output())
	require.Contains(t, gd.proc.output(), "query logging on")

	t.Run("dnstap", func(t *testing.T) {
		in, err := dnstap.NewFrameStreamInputFromFilename(tapFile)
		require.NoError(t, err)
		frames := make(chan []byte, 256)
		go func() {
			in.ReadInto(frames)
			close(frames)
		}()
		type key struct {
			typ dnstap.Message_Type
			id  uint16
		}
		msgs := map[key]*dnstap.Message{}
		server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(gd.port))
		for f := range frames {
			var dt dnstap.Dnstap
			require.NoError(t, proto.Unmarshal(f, &dt))
			require.Equal(t, e2eNodeID, string(dt.GetIdentity()))
			require.True(t, strings.HasPrefix(string(dt.GetVersion()), "geodns "), string(dt.GetVersion()))
			m := dt.GetMessage()
			require.NotNil(t, m)
			ra, _ := netip.AddrFromSlice(m.GetResponseAddress())
			require.Equal(t, server, netip.AddrPortFrom(ra, uint16(m.GetResponsePort())))
			wire := m.GetQueryMessage()
			if m.GetType() == dnstap.Message_AUTH_RESPONSE {
				wire = m.GetResponseMessage()
			}
			require.GreaterOrEqual(t, len(wire), 12)
			msgs[key{m.GetType(), uint16(wire[0])<<8 | uint16(wire[1])}] = m
		}
		for i, q := range queries {
			qm := msgs[key{dnstap.Message_AUTH_QUERY, ids[i]}]
			rm := msgs[key{dnstap.Message_AUTH_RESPONSE, ids[i]}]
			require.NotNil(t, qm, "%s: no AUTH_QUERY with id %d", q.name, ids[i])
			require.NotNil(t, rm, "%s: no AUTH_RESPONSE with id %d", q.name, ids[i])
			wantProto := dnstap.SocketProtocol_UDP
			if q.tcp {
				wantProto = dnstap.SocketProtocol_TCP
			}
			for _, m := range []*dnstap.Message{qm, rm} {
				require.Equal(t, dnstap.SocketFamily_INET, m.GetSocketFamily())
				require.Equal(t, wantProto, m.GetSocketProtocol(), q.name)
				require.Equal(t, []byte{127, 0, 0, 1}, m.GetQueryAddress())
			}
			require.Equal(t, qm.GetQueryPort(), rm.GetQueryPort(), "one client socket")
			var query, resp dns.Msg
			require.NoError(t, query.Unpack(qm.GetQueryMessage()))
			require.NoError(t, resp.Unpack(rm.GetResponseMessage()))
			require.Equal(t, dns.Fqdn(q.args[0]), query.Question[0].Name)
			require.Equal(t, q.args[1], dns.TypeToString[query.Question[0].Qtype])
			require.Equal(t, q.status, dns.RcodeToString[resp.Rcode])
			require.Equal(t, rrStrings(results[i].Answer), rrStrings(resp.Answer), "%s: the answer dig printed", q.name)
			if q.ecs != "" {
				require.Equal(t, q.ecs, subnetOf(t, &query), "ECS of the query")
			}
			qt := time.Unix(int64(rm.GetQueryTimeSec()), int64(rm.GetQueryTimeNsec()))
			rt := time.Unix(int64(rm.GetResponseTimeSec()), int64(rm.GetResponseTimeNsec()))
			require.False(t, rt.Before(qt))
			require.WithinDuration(t, time.Now(), qt, time.Minute)
		}
	})

	t.Run("JSON query log", func(t *testing.T) {
		f, err := os.Open(jsonFile)
		require.NoError(t, err)
		defer f.Close()
		var lines []map[string]any
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
			lines = append(lines, line)
		}
		require.NoError(t, sc.Err())
		for _, q := range queries {
			var found map[string]any
			for _, line := range lines {
				if line["name"] == dns.Fqdn(q.args[0]) && line["type"] == q.args[1] && line["tcp"] == q.tcp && (line["ecs"] == nil) == (q.ecs == "") {
					found = line
				}
			}
			require.NotNil(t, found, "%s: no line in\n%v", q.name, lines)
			require.Equal(t, "127.0.0.1", found["client"], q.name)
			require.Equal(t, q.status, found["rcode"], q.name)
			if q.ecs != "" {
				require.Equal(t, q.ecs, found["ecs"], q.name)
			}
			if q.region != "" {
				require.Equal(t, q.region, found["region"], q.name)
				require.Contains(t, found["why"], q.why, q.name)
			} else {
				require.NotContains(t, found, "region", q.name)
			}
			require.Greater(t, found["duration_us"], 0.0, q.name)
			require.Greater(t, found["response_size"], 0.0, q.name)
		}
	})
}

// subnetOf is the client subnet option of m as ADDRESS/SOURCE.
func subnetOf(t *testing.T, m *dns.Msg) string {
	t.Helper()
	opt := m.IsEdns0()
	require.NotNil(t, opt)
	for _, o := range opt.Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			return s.Address.String() + "/" + strconv.Itoa(int(s.SourceNetmask))
		}
	}
	t.Fatal("no client subnet option")
	return ""
}

// rrStrings renders records without OPT, for comparison.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr.String())
		}
	}
	return out
}
