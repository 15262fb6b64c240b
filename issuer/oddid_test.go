package issuer_test

import (
	"encoding/json"
	"testing"

	"github.com/portcullis/portcullis/internal/dbtest"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// TestOddClientIDIsUnknown: a client id that CreateClient would refuse (a
// NUL byte, invalid UTF-8, a control character, non-ASCII) is an unknown
// client, 401 invalid_client like any other, on every endpoint that
// authenticates clients and whatever the store. PostgreSQL refuses NUL
// bytes and invalid UTF-8 in text, and once answered such ids with 503.
func TestOddClientIDIsUnknown(t *testing.T) {
	for name, open := range map[string]func(*testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return memory.New() },
		"postgres": func(t *testing.T) store.Store {
			st, err := sqlstore.Open(dbtest.Postgres(t), sqlstore.Postgres)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return st
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			e := newEnv(t, false, func(c *issuer.Config) { c.Store = st })
			e.client(issuer.ClientSpec{ID: "svc"})
			unknown := errBody("invalid_client", "client authentication failed")
			for _, id := range []string{"svc\x00", "a\xffb", "sv\u00e9", "s\tvc"} {
				b, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": "pcs_x"})
				for _, r := range []req{
					{body: form("grant_type", "client_credentials", "client_id", id, "client_secret", "pcs_x")},
					{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, "pcs_x")}},
					{ct: "application/json", body: string(b)},
					{path: "/oauth/revoke", body: form("token", "x", "client_id", id, "client_secret", "pcs_x")},
					{path: "/oauth/introspect", body: form("token", "x", "client_id", id, "client_secret", "pcs_x")},
				} {
					if rec := e.do(r); rec.Code != 401 || rec.Body.String() != unknown {
						t.Errorf("client id %q at %s: %d %s, want 401 %s", id, r.path, rec.Code, rec.Body, unknown)
					}
				}
			}
		})
	}
}
