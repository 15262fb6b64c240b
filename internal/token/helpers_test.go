package token_test

// The fixtures these tests share with middleware's (the clock, the fixed
// keys, the signer, key managers and readers) are in internal/tokentest.

const testIssuer = "https://issuer.test"
