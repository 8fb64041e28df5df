package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/server"
	"github.com/berth-dev/berth/internal/store"
)

// defaultAPI is the API URL when neither a flag, the environment nor
// server.json says otherwise.
const defaultAPI = "http://127.0.0.1:7070"

// Environment variables.
const (
	envData  = "BERTH_DATA"
	envAPI   = "BERTH_API"
	envToken = "BERTH_TOKEN"
	envNS    = "BERTH_NAMESPACE"
)

// defaultDataDir is $BERTH_DATA, else /var/lib/berth for root, else
// $XDG_DATA_HOME/berth or ~/.local/share/berth.
func (e *env) defaultDataDir() string {
	if d := e.getenv(envData); d != "" {
		return d
	}
	if e.euid == 0 {
		return "/var/lib/berth"
	}
	if x := e.getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "berth")
	}
	home := e.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return "/var/lib/berth"
	}
	return filepath.Join(home, ".local", "share", "berth")
}

// clientFlags are the flags of every command that talks to the API.
type clientFlags struct {
	api, token, data string
	namespace        string
}

func (e *env) addClientFlags(cmd *cobra.Command, f *clientFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.api, "api", "", "API URL (env "+envAPI+"; default: from DATA/server.json, else "+defaultAPI+")")
	fl.StringVar(&f.token, "token", "", "API token (env "+envToken+"; default: DATA/admin.token)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "the namespace of the apps and jobs addressed (env "+envNS+"; default: default)")
	fl.StringVar(&f.data, "data", "", "the server's data directory, where server.json and admin.token are found (env "+envData+"; default "+e.defaultDataDir()+")")
}

// endpoint is where the API is and how to authenticate, with where each came from.
type endpoint struct {
	api, token string
	dataDir    string
	namespace  string
}

// resolve finds the API URL and token: a flag beats the environment, which
// beats discovery in the data directory.
func (e *env) resolve(f *clientFlags) (endpoint, error) {
	ep := endpoint{api: f.api, token: strings.TrimSpace(f.token), dataDir: f.data, namespace: f.namespace}
	if ep.namespace == "" {
		ep.namespace = e.getenv(envNS)
	}
	if ep.namespace != "" {
		if err := store.ValidNamespace(ep.namespace); err != nil {
			return ep, fmt.Errorf("--namespace (-n, or %s): %v", envNS, strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": "))
		}
	}
	if ep.dataDir == "" {
		ep.dataDir = e.defaultDataDir()
	}
	if ep.api == "" {
		ep.api = e.getenv(envAPI)
	}
	if ep.api == "" {
		ep.api = discoverAPI(ep.dataDir)
	}
	if !strings.Contains(ep.api, "://") {
		ep.api = "http://" + ep.api
	}
	if ep.token == "" {
		ep.token = strings.TrimSpace(e.getenv(envToken))
	}
	if ep.token == "" {
		path := filepath.Join(ep.dataDir, server.TokenFile)
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return ep, fmt.Errorf("no API token: %s does not exist; pass --token or set %s, or point --data (%s) at the server's data directory", path, envToken, envData)
		case err != nil:
			return ep, fmt.Errorf("no API token: %v; pass --token or set %s, or run as a user that can read it", err, envToken)
		}
		ep.token = strings.TrimSpace(string(b))
		if ep.token == "" {
			return ep, fmt.Errorf("no API token: %s is empty; pass --token or set %s", path, envToken)
		}
	}
	return ep, nil
}

// discoverAPI reads the API URL from dir/server.json, which a running server
// writes; without one it is the default address.
func discoverAPI(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, server.InfoFile))
	if err != nil {
		return defaultAPI
	}
	var info server.ServerInfo
	if json.Unmarshal(b, &info) != nil || info.API == "" {
		return defaultAPI
	}
	return info.API
}

// client returns an API client for f.
func (e *env) client(f *clientFlags) (*client.Client, error) {
	ep, err := e.resolve(f)
	if err != nil {
		return nil, err
	}
	return e.clientFor(ep)
}

func (e *env) clientFor(ep endpoint) (*client.Client, error) {
	opts := []client.Option{client.WithUserAgent("berth/" + e.version)}
	if e.httpClient != nil {
		opts = append(opts, client.WithHTTPClient(e.httpClient))
	}
	if ep.namespace != "" {
		opts = append(opts, client.WithNamespace(ep.namespace))
	}
	c, err := client.New(ep.api, ep.token, opts...)
	if err != nil {
		return nil, err
	}
	return c, nil
}
