package api

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenFileName is the name of the admin token that EnsureToken keeps in
// the data directory, where the local CLI looks for it.
const TokenFileName = "api-token"

// DefaultDataDir is the agent's default data directory.
const DefaultDataDir = "/var/lib/quadrature"

// maxTokenLine bounds the first line of a token file; tokens are short.
const maxTokenLine = 512

// ReadTokenFile returns the token on the first line of path, trimmed of
// surrounding white space. An empty first line is an error: an empty token
// would authenticate nobody and hide a mistake.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, maxTokenLine)
	line, err := r.ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return "", fmt.Errorf("token file %s: empty", path)
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("token file %s: first line longer than %d bytes", path, maxTokenLine)
	}
	tok := string(bytes.TrimSpace(line))
	if tok == "" {
		return "", fmt.Errorf("token file %s: empty first line", path)
	}
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return tok, nil
}

// checkToken rejects tokens that cannot travel in an Authorization header.
func checkToken(tok string) error {
	for _, c := range []byte(tok) {
		if c <= ' ' || c >= 0x7f {
			return errors.New("token contains white space or non-printable characters")
		}
	}
	return nil
}

// EnsureToken returns the admin token kept in dataDir, creating it (random,
// 256 bits, file mode 0600, directory 0700 if missing) on first use. The agent
// calls it when no token file is configured; the local CLI finds the same
// file by itself (client.ResolveToken). An existing file readable by group or
// others is tightened to 0600.
func EnsureToken(dataDir string) (token, path string, err error) {
	if dataDir == "" {
		return "", "", errors.New("ensure api token: empty data dir")
	}
	path = filepath.Join(dataDir, TokenFileName)
	if st, err := os.Stat(path); err == nil {
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", path, fmt.Errorf("ensure api token: tighten %s: %w", path, err)
			}
		}
		tok, err := ReadTokenFile(path)
		return tok, path, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", path, fmt.Errorf("ensure api token: random: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	tmp, err := os.CreateTemp(dataDir, ".api-token-*")
	if err != nil {
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	// Link, not rename: if another process created the file meanwhile, keep
	// theirs so both end up with the same token.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			tok, err := ReadTokenFile(path)
			return tok, path, err
		}
		return "", path, fmt.Errorf("ensure api token: %w", err)
	}
	return tok, path, nil
}

// tokenDigest is what the server keeps of a token: comparing fixed-size
// digests in constant time leaks neither content nor length.
type tokenDigest struct {
	set bool
	sum [sha256.Size]byte
}

func digestOf(tok string) tokenDigest {
	if tok == "" {
		return tokenDigest{}
	}
	return tokenDigest{set: true, sum: sha256.Sum256([]byte(tok))}
}

func (d tokenDigest) matches(presented [sha256.Size]byte) bool {
	return d.set && subtle.ConstantTimeCompare(d.sum[:], presented[:]) == 1
}

// bearer extracts the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}
