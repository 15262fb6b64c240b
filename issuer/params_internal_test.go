package issuer

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// readBody reads what io.ReadAll reads whatever the declared length says:
// a body longer than declared is read whole (the MaxBytesReader around it
// is the bound), a shorter one as it is, and a read error is returned.
func TestReadBody(t *testing.T) {
	const body = "grant_type=client_credentials&scope=read"
	for _, n := range []int64{-1, 0, 1, 10, int64(len(body)) - 1, int64(len(body)), int64(len(body)) + 1, 1 << 20} {
		for name, r := range map[string]func() io.Reader{
			"whole":   func() io.Reader { return strings.NewReader(body) },
			"bytes":   func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) },
			"dataEOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) },
		} {
			got, err := readBody(r(), n)
			if err != nil || string(got) != body {
				t.Errorf("%s, length %d: %q, %v", name, n, got, err)
			}
		}
	}
	boom := errors.New("boom")
	if _, err := readBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 10); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	// Bounded as the issuer bounds it: past the limit is an error even
	// when the declared length was small.
	lim := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat("a", 100))), 50)
	var tooLarge *http.MaxBytesError
	if _, err := readBody(lim, 10); !errors.As(err, &tooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}
