package api

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/zones"
)

// TestOpenAPIMatchesRoutes requires every route of the router to be in
// api/openapi.yaml and every operation of the document to be a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(openAPI, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "an OpenAPI 3 document")
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}

	store := balancer.NewStore(&balancer.Snapshot{Zones: &zones.Set{}})
	s := New(Options{Store: store, Control: balancer.NewControl(store, zones.Runtime{}, nil)})
	param := regexp.MustCompile(`:([a-z_]+)`)
	var routed []string
	for _, r := range s.echo.Routes() {
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(routed)
	require.NotEmpty(t, routed)
	require.Equal(t, documented, routed)
}
