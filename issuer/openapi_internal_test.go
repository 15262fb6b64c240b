package issuer

import "testing"

// TestOpenAPIDescribesEveryEndpoint keeps apiOperations and the endpoint
// registry in step: an endpoint added without a description would be
// missing from the OpenAPI document.
func TestOpenAPIDescribesEveryEndpoint(t *testing.T) {
	names := map[string]bool{}
	for _, e := range endpoints {
		names[e.name] = true
		if apiOperations[e.name] == nil {
			t.Errorf("endpoint %q has no entry in apiOperations (openapi.go)", e.name)
		}
	}
	for name := range apiOperations {
		if !names[name] {
			t.Errorf("apiOperations describes %q, which is not in the endpoint registry", name)
		}
	}
}
