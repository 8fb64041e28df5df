package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// addStreaming registers the endpoints that exercise protocols and streams.
func addStreaming(mux *http.ServeMux) {
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	mux.HandleFunc("/uname", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, kernelRelease()) })
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(&pattern{}, n))
	})
	mux.HandleFunc("/sink", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	})
	mux.HandleFunc("/sse", sse)
	mux.HandleFunc("/sse/step", sseStep)
	mux.HandleFunc("/ws", wsEcho)
}

// pattern is an endless reader of the bytes 0, 1, …, 250, 0, 1, …
type pattern struct{ off int64 }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte((r.off + int64(i)) % 251)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// steps holds, per /sse?step=ID stream, the channel /sse/step?id=ID sends on.
var steps sync.Map

// sse streams n events ("data: i"), flushing each. Between events it waits
// ms milliseconds, or, with step=ID, until /sse/step?id=ID is requested, so
// that a test can prove each event arrived before the next was sent.
func sse(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("n"))
	ms, _ := strconv.Atoi(q.Get("ms"))
	var next chan struct{}
	if id := q.Get("step"); id != "" {
		next = make(chan struct{})
		steps.Store(id, next)
		defer steps.Delete(id)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	f := w.(http.Flusher)
	for i := range n {
		if i > 0 {
			var wait <-chan time.Time
			if next == nil {
				wait = time.After(time.Duration(ms) * time.Millisecond)
			}
			select {
			case <-next:
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		f.Flush()
	}
}

func sseStep(w http.ResponseWriter, r *http.Request) {
	ch, ok := steps.Load(r.URL.Query().Get("id"))
	if !ok {
		http.Error(w, "no such stream", http.StatusNotFound)
		return
	}
	select {
	case ch.(chan struct{}) <- struct{}{}:
		io.WriteString(w, "ok")
	case <-r.Context().Done():
	}
}

// wsEcho accepts a WebSocket and sends every message back.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// kernelRelease is the kernel release the app sees (gVisor reports its own).
func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown: " + err.Error()
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
