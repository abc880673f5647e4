package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// The client commands (status, regions, strategy, health, failover) talk
// to the API of a running `geodns serve`.

const (
	defaultAPIURL  = "http://127.0.0.1:8080"
	envClientURL   = "GEODNS_API"
	envClientToken = "GEODNS_TOKEN"
)

// clientOptions are the flags every client command has.
type clientOptions struct {
	api     string
	token   string
	json    bool
	timeout time.Duration
}

// addClientFlags declares the client flags on c and its subcommands.
func addClientFlags(c *cobra.Command, o *clientOptions) {
	f := c.PersistentFlags()
	f.StringVar(&o.api, "api", defaultAPIURL, "URL of the geodns API; env "+envClientURL)
	f.StringVar(&o.token, "token", "", "API token, needed for changes (and for reads when the server runs with --api-auth-all); env "+envClientToken)
	f.BoolVar(&o.json, "json", false, "print the API's JSON answer instead of text")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the API")
}

// apiClient calls the API.
type apiClient struct {
	base  string
	token string
	json  bool
	http  *http.Client
	out   io.Writer
}

// newClient combines the flags with the environment (GEODNS_API,
// GEODNS_TOKEN, also read from .env); flags win.
func newClient(c *cobra.Command, o *clientOptions) (*apiClient, error) {
	env, err := loadEnvironment(".env")
	if err != nil {
		return nil, err
	}
	base, token := o.api, o.token
	if v, ok := env.get(envClientURL); ok && !c.Flags().Changed("api") {
		base = v
	}
	if v, ok := env.get(envClientToken); ok && !c.Flags().Changed("token") {
		token = v
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--api %q: want the API's URL, like %s", base, defaultAPIURL)}
	}
	return &apiClient{
		base: strings.TrimSuffix(base, "/"), token: strings.TrimSpace(token), json: o.json,
		http: &http.Client{Timeout: o.timeout}, out: c.OutOrStdout(),
	}, nil
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// apiCallError is an error answer of the API.
type apiCallError struct {
	Status int
	Field  string
	Msg    string
}

func (e *apiCallError) Error() string {
	msg := e.Msg
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return fmt.Sprintf("%s (HTTP %d %s)", msg, e.Status, http.StatusText(e.Status))
}

// call sends body (JSON-encoded, when not nil) and decodes the answer into
// out (when not nil). With --json the answer is printed as it came,
// indented, and printed reports whether it was.
func (a *apiClient) call(ctx context.Context, method, path string, body, out any) (printed bool, err error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return false, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("cannot reach the API at %s (is `geodns serve` running? set --api or %s): %w", a.base, envClientURL, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return false, fmt.Errorf("reading the API's answer: %w", err)
	}
	if res.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return false, &apiCallError{Status: res.StatusCode, Field: e.Field, Msg: e.Error}
	}
	if a.json {
		var pretty bytes.Buffer
		if json.Indent(&pretty, data, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(data)
		}
		pretty.WriteByte('\n')
		_, err := a.out.Write(pretty.Bytes())
		return true, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return false, fmt.Errorf("the API's answer is not what this client expects: %w", err)
		}
	}
	return false, nil
}

// clientRun wraps a client command: it builds the client, runs do, and
// turns failures into the exit status (1 for the API's errors and
// connection failures, 2 for usage mistakes), printing the message.
func clientRun(o *clientOptions, do func(c *cobra.Command, a *apiClient, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		a, err := newClient(c, o)
		if err == nil {
			err = do(c, a, args)
		}
		var usage usageError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &usage):
			return errorf(c, 2, "geodns: %v", err)
		default:
			return errorf(c, 1, "geodns: %v", err)
		}
	}
}

// table writes aligned columns.
func table(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

// row writes one table row.
func row(tw *tabwriter.Writer, cells ...string) {
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// orDash shows an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatMS shows a latency in milliseconds; 0 is not measured.
func formatMS(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// formatTime shows a time in UTC to the second; zero is "-".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatAgo shows how long ago t was, for "last check" columns.
func formatAgo(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
