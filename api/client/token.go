package client

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"quadrature/api"
)

// TokenEnv is the environment variable holding a token for the CLI.
const TokenEnv = "QUADRATURE_TOKEN"

// ResolveToken finds the CLI's token: the file named by -token-file, else
// $QUADRATURE_TOKEN (getenv is os.Getenv outside tests), else the admin token
// the local agent generated in dataDir (api.DefaultDataDir if empty). source
// says which one was used, for error messages.
func ResolveToken(tokenFile string, getenv func(string) string, dataDir string) (token, source string, err error) {
	if tokenFile != "" {
		tok, err := api.ReadTokenFile(tokenFile)
		if err != nil {
			return "", "", err
		}
		return tok, tokenFile, nil
	}
	if getenv != nil {
		if tok := strings.TrimSpace(getenv(TokenEnv)); tok != "" {
			return tok, "$" + TokenEnv, nil
		}
	}
	if dataDir == "" {
		dataDir = api.DefaultDataDir
	}
	path := filepath.Join(dataDir, api.TokenFileName)
	tok, err := api.ReadTokenFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("no API token: pass -token-file FILE, set %s, or run where the agent's %s is readable", TokenEnv, path)
		}
		return "", "", fmt.Errorf("no usable API token (-token-file, %s unset): %w", TokenEnv, err)
	}
	return tok, path, nil
}
