package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	// maxStreams bounds the live streams open at once (each costs a
	// render per LiveInterval): an operator's few tabs, with room.
	maxStreams = 16
	// keepAlive: a comment line this often keeps proxies and tor from
	// closing an idle stream, and tells us when the browser left.
	keepAlive = 15 * time.Second
	// rerender: a page whose data did not change is rendered again this
	// often anyway (its "8s ago" texts move); in between, an unchanged
	// page costs the data's load and hash, not the template (two thirds
	// of a 100-offer book's 4.5 ms: BenchmarkLiveRender).
	rerender = 10 * time.Second
)

// events streams a page's live part (its "live" template) as server-sent
// events: rendered again every LiveInterval and sent when it changed. The
// page's script puts it in place. Rendering happens only while a browser
// has the page open.
func (s *Server) events(w http.ResponseWriter, r *request) {
	p := s.pages[r.PathValue("page")]
	if p == nil {
		http.Error(w, "no such page", http.StatusNotFound)
		return
	}
	if s.streams.Add(1) > maxStreams {
		s.streams.Add(-1)
		http.Error(w, "too many live pages open", http.StatusServiceUnavailable)
		return
	}
	defer s.streams.Add(-1)
	rc := http.NewResponseController(w)
	// The stream outlives the server's write timeout by design.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		http.Error(w, "streaming not supported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	q := r.URL.Query()
	tick := time.NewTicker(s.cfg.LiveInterval)
	defer tick.Stop()
	var last, lastData [32]byte
	var lastWrite, lastRender time.Time
	for {
		// A session ended by logout (or expiry) ends its streams too.
		if s.auth.session(r.token) == nil {
			fmt.Fprint(w, "event: logout\ndata: \n\n")
			rc.Flush()
			return
		}
		v := s.view(r.Context(), p, r.sess, q)
		now := time.Now()
		var buf bytes.Buffer
		if dh := dataHash(v); dh != lastData || now.Sub(lastRender) >= rerender {
			lastData, lastRender = dh, now
			if err := p.tmpl.ExecuteTemplate(&buf, "live", v); err != nil {
				s.log.Warn("dashboard: rendering live part", "page", p.Name, "err", err)
				return
			}
		}
		if sum := sha256.Sum256(buf.Bytes()); buf.Len() > 0 && sum != last {
			last = sum
			if writeEvent(w, "live", buf.String()) != nil || rc.Flush() != nil {
				return
			}
			lastWrite = now
		} else if now.Sub(lastWrite) >= keepAlive {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			lastWrite = now
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// writeEvent writes one server-sent event; every line of data gets its
// own "data:" field (the browser joins them with newlines).
func writeEvent(w http.ResponseWriter, name, data string) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteByte('\n')
	for line := range strings.SplitSeq(data, "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimSuffix(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write([]byte(b.String()))
	return err
}

// dataHash fingerprints what a page shows: its data, error and the
// node's status.
func dataHash(v *view) [32]byte {
	b, err := json.Marshal(struct {
		D any
		E string
		N any
	}{v.Data, v.Err, v.Node})
	if err != nil {
		return [32]byte{} // unhashable: rendered at the rerender pace only
	}
	return sha256.Sum256(b)
}
