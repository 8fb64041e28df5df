// Command testapp is the tiny HTTP server that Berth's tests run in containers.
// Its behaviour is driven by environment variables so that one image covers
// the normal, slow-starting, crashing and unhealthy cases:
//
//	PORT            port to listen on (default 8080)
//	MESSAGE         prefix of the "/" answer ("v2" gives "v2: hello from …")
//	START_DELAY     Go duration to sleep before listening
//	CRASH_AT_START  exit at once with this code, after saying so on stderr
//	HEALTH_DELAY    Go duration during which /healthz answers 503
//
// Endpoints: "/" (hello from the hostname), /healthz, /env?k=NAME,
// /slow?ms=N, /echo (streams the request body back) and /exit?code=N.
// SIGTERM shuts the server down gracefully.
//
// Run as "testapp job …" it is a one-shot job instead (see runJob).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "job" {
		os.Exit(runJob(os.Args[2:]))
	}
	if s := os.Getenv("CRASH_AT_START"); s != "" {
		code, err := strconv.Atoi(s)
		if err != nil {
			code = 1
		}
		fmt.Fprintf(os.Stderr, "crashing with %d\n", code)
		os.Exit(code)
	}
	start := time.Now()
	if d := duration("START_DELAY"); d > 0 {
		time.Sleep(d)
	}
	healthDelay := duration("HEALTH_DELAY")
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	hello := "hello from " + host + "\n"
	if m := os.Getenv("MESSAGE"); m != "" {
		hello = m + ": " + hello
	}

	exit := make(chan int, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, hello) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < healthDelay {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, os.Getenv(r.URL.Query().Get("k")))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprintf(w, "slept %dms\n", ms)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		echo(w, r.Body)
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Fprintf(w, "exiting with %d\n", code)
		w.(http.Flusher).Flush()
		exit <- code
	})

	srv := &http.Server{Addr: ":" + port, Handler: mux}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Printf("listening on :%s\n", port)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case code := <-exit:
		time.Sleep(50 * time.Millisecond) // let the answer leave
		os.Exit(code)
	case s := <-sig:
		fmt.Printf("got %s, shutting down\n", s)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// echo copies body to w, flushing after every read so the echo streams.
func echo(w http.ResponseWriter, body io.Reader) {
	f, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

func duration(name string) time.Duration {
	d, err := time.ParseDuration(os.Getenv(name))
	if err != nil {
		return 0
	}
	return d
}
