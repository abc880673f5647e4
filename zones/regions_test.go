package zones

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRegionalEndpoints(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []*Region
		err  string
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank entries", in: " , ,", want: nil},
		{name: "host names answer by CNAME", in: " us-east : https://US.example.com/health , eu-west:http://eu.example.com:8080,", want: []*Region{
			{Name: "us-east", Endpoint: "https://US.example.com/health", CNAME: "us.example.com.", Weight: 1},
			{Name: "eu-west", Endpoint: "http://eu.example.com:8080", CNAME: "eu.example.com.", Weight: 1},
		}},
		{name: "IP literals answer A and AAAA", in: "v4:https://192.0.2.1:8443,v6:http://[2001:db8::1]/,mapped:tcp://[::ffff:198.51.100.1]:53", want: []*Region{
			{Name: "v4", Endpoint: "https://192.0.2.1:8443", IPv4: addrs("192.0.2.1"), Weight: 1},
			{Name: "v6", Endpoint: "http://[2001:db8::1]/", IPv6: addrs("2001:db8::1"), Weight: 1},
			{Name: "mapped", Endpoint: "tcp://[::ffff:198.51.100.1]:53", IPv4: addrs("198.51.100.1"), Weight: 1},
		}},
		{name: "missing colon", in: "us-east", err: `regional endpoint "us-east": expected name:URL`},
		{name: "missing name", in: "https://us.example.com", err: `regional endpoint "https://us.example.com": expected name:URL`},
		{name: "bad name", in: "US:https://us.example.com", err: `regional endpoint "US:https://us.example.com": a region name is 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'`},
		{name: "bad URL", in: "us:https://us.example.com:x", err: `regional endpoint "us:https://us.example.com:x": "https://us.example.com:x" is not an absolute http, https or tcp URL with a host`},
		{name: "bad scheme", in: "us:ftp://us.example.com", err: `regional endpoint "us:ftp://us.example.com": "ftp://us.example.com": the scheme must be http, https or tcp`},
		{name: "duplicate name", in: "us:https://a.example.com, us:https://b.example.com", err: `regional endpoint "us:https://b.example.com": region us is listed twice`},
		{name: "every bad entry", in: "a,b:https://b.example.com,c", err: "regional endpoint \"a\": expected name:URL\nregional endpoint \"c\": expected name:URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegionalEndpoints(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
