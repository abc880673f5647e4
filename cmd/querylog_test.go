package cmd

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

func TestQueryLogSettings(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		args  []string
		env   map[string]string // the .env file's variables
		want  queryLogSettings
		err   string // from the environment or from opening the outputs
		sinks []string
	}{
		{name: "off by default", want: queryLogSettings{Sample: 1, Buffer: 4096}},
		{name: "both from flags", args: []string{"--dnstap", "file:" + filepath.Join(dir, "a.tap"), "--query-log", filepath.Join(dir, "a.jsonl"), "--query-log-sample", "10"},
			want:  queryLogSettings{Dnstap: "file:" + filepath.Join(dir, "a.tap"), QueryLog: filepath.Join(dir, "a.jsonl"), Sample: 10, Buffer: 4096},
			sinks: []string{"dnstap", "querylog"}},
		{name: "from the environment", env: map[string]string{envQueryLog: "stderr", envQueryLogSample: "3"},
			want: queryLogSettings{QueryLog: "stderr", Sample: 3, Buffer: 4096}, sinks: []string{"querylog"}},
		{name: "flags win over the environment", args: []string{"--query-log-sample", "2"}, env: map[string]string{envQueryLog: "-", envQueryLogSample: "3"},
			want: queryLogSettings{QueryLog: "-", Sample: 2, Buffer: 4096}, sinks: []string{"querylog"}},
		{name: "sample not a number", env: map[string]string{envQueryLogSample: "ten"}, err: "GEODNS_QUERY_LOG_SAMPLE=\"ten\": want a whole number"},
		{name: "sample 0", args: []string{"--query-log", "-", "--query-log-sample", "0"}, err: "--query-log-sample 0: want 1"},
		{name: "buffer 0", args: []string{"--query-log", "-", "--query-log-buffer", "0"}, err: "--query-log-buffer 0: want at least 1"},
		{name: "dnstap over tcp", args: []string{"--dnstap", "tcp:127.0.0.1:6000"}, err: "--dnstap"},
		{name: "query log in a missing directory", args: []string{"--query-log", filepath.Join(dir, "no", "such", "q.jsonl")}, err: "--query-log"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var q queryLogSettings
			cmd := &cobra.Command{Use: "serve"}
			addQueryLogFlags(cmd, &q)
			require.NoError(t, cmd.ParseFlags(c.args))
			err := q.fromEnvironment(environment{file: c.env}, cmd.Flags())
			if err == nil {
				tp, terr := q.tap("node", zerolog.Nop())
				if tp != nil {
					var names []string
					for _, st := range tp.Stats() {
						names = append(names, st.Sink)
					}
					require.Equal(t, c.sinks, names)
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					require.NoError(t, tp.Close(ctx))
				} else if terr == nil {
					require.Empty(t, c.sinks)
				}
				err = terr
			}
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, q)
		})
	}
}
