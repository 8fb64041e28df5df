package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Tokens lists the namespace tokens, revoked ones included (admin only).
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var l TokenList
	if err := c.getJSON(ctx, "/v1/tokens", &l); err != nil {
		return nil, err
	}
	return l.Tokens, nil
}

// CreateToken makes a token of a namespace (admin only). The answer holds
// the secret; the server keeps only its hash and never shows it again.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (*NewToken, error) {
	var t NewToken
	if err := c.doJSON(ctx, http.MethodPost, "/v1/tokens", req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeToken revokes a token at once (admin only).
func (c *Client) RevokeToken(ctx context.Context, id string) (*Token, error) {
	if id == "" {
		return nil, errors.New("no token ID given")
	}
	req, err := c.newRequest(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var t Token
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	return &t, nil
}
