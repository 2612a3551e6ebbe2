package httpapi_test

import (
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestMetricsCountAndTimeByRouteAndStatus checks that /metrics exposes request
// counts and latency under the route pattern (not the raw path, which could
// carry ids) and the status.
func TestMetricsCountAndTimeByRouteAndStatus(t *testing.T) {
	a := newAPI(t, storetest.OpenSQLite(t))
	a.do("GET", "/healthz", "", nil)
	a.do("GET", "/api/v1/me", "", nil) // 401
	body := string(a.do("GET", "/metrics", "", nil).Body)
	for _, want := range []string{
		`healthhub_http_requests_total{method="GET",route="GET /healthz",status="200"} 1`,
		`healthhub_http_requests_total{method="GET",route="GET /api/v1/me",status="401"} 1`,
		`healthhub_http_request_duration_seconds_count{method="GET",route="GET /healthz",status="200"} 1`,
		`healthhub_http_request_duration_seconds_bucket{method="GET",route="GET /api/v1/me",status="401",le="+Inf"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
