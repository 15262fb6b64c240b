package issuer_test

import (
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// The OpenAPI description follows the configuration: here the OffBlocks
// wire format at its own paths, its own-credentials endpoint on, the
// OAuth 2.0 endpoints it does not have off, and the document itself served
// at /openapi.json. Serving it tells anyone the endpoints' shapes, which
// the metadata already publishes; it holds no secret and no client.
func ExampleIssuer_OpenAPI() {
	iss, err := issuer.New(issuer.Config{
		Issuer:  "https://api.example.com",
		Store:   memory.New(),
		Dialect: issuer.OffBlocks(),
		Paths: issuer.Paths{
			Token:          "/v1/auth/token",
			OwnCredentials: "/v1/auth/credentials",
			OpenAPI:        "/openapi.json",
			Revocation:     "-", Introspection: "-", Credentials: "-", JWKS: "-", Metadata: "-",
			Login: "-", AccountKeys: "-", Changes: "-",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	var doc struct {
		OpenAPI string
		Paths   map[string]map[string]struct {
			OperationID string
		}
		Components struct {
			Schemas map[string]struct {
				Required []string
			}
		}
	}
	if err := json.Unmarshal(iss.OpenAPI(), &doc); err != nil {
		log.Fatal(err)
	}
	fmt.Println("OpenAPI", doc.OpenAPI)
	for _, path := range slices.Sorted(maps.Keys(doc.Paths)) {
		var ops []string
		for _, method := range slices.Sorted(maps.Keys(doc.Paths[path])) {
			ops = append(ops, strings.ToUpper(method)+" "+doc.Paths[path][method].OperationID)
		}
		fmt.Println(path, ops)
	}
	fmt.Println("request:", doc.Components.Schemas["ClientCredentialsRequest"].Required)
	fmt.Println("response:", doc.Components.Schemas["TokenResponse"].Required)
	// Output:
	// OpenAPI 3.1.1
	// /openapi.json [GET getOpenAPI HEAD headOpenAPI]
	// /v1/auth/credentials [DELETE deleteOwnCredentials PUT replaceOwnCredentials]
	// /v1/auth/token [POST token]
	// request: [apiKey apiSecret]
	// response: [token expiresAt tokenType]
}
