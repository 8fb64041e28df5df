package api

import (
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/client"
)

// maxShares bounds how many revisions one traffic split names.
const maxShares = 20

// setTraffic splits an app's requests between revisions:
// {"traffic": [{"revision": 3, "percent": 90}, {"revision": 4, "percent": 10}]}.
func (s *Server) setTraffic(w http.ResponseWriter, r *http.Request) {
	var req client.Traffic
	if err := decodeJSON(r, &req, `{"traffic": [{"revision": 3, "percent": 90}, {"revision": 4, "percent": 10}]}`); err != nil {
		s.fail(w, err)
		return
	}
	if err := CheckTraffic(req.Traffic); err != nil {
		s.fail(w, err)
		return
	}
	app, err := s.backend.SetTraffic(r.Context(), nsOf(r), r.PathValue("name"), req.Traffic)
	s.answer(w, http.StatusOK, app, err)
}

// CheckTraffic checks a split's shape: 1 to 20 revisions, each named once,
// with percentages from 0 to 100 that add up to 100.
func CheckTraffic(shares []client.TrafficShare) error {
	if len(shares) == 0 || len(shares) > maxShares {
		return fmt.Errorf("%w: traffic names %d revisions; allowed: 1 to %d", ErrBadRequest, len(shares), maxShares)
	}
	seen := map[int]bool{}
	sum := 0
	for i, sh := range shares {
		switch {
		case sh.Revision < 1:
			return fmt.Errorf("%w: traffic[%d].revision %d; allowed: a revision number ≥ 1", ErrBadRequest, i, sh.Revision)
		case sh.Percent < 0 || sh.Percent > 100:
			return fmt.Errorf("%w: traffic[%d].percent %d (revision %d); allowed: 0 to 100", ErrBadRequest, i, sh.Percent, sh.Revision)
		case seen[sh.Revision]:
			return fmt.Errorf("%w: traffic[%d]: revision %d is named twice", ErrBadRequest, i, sh.Revision)
		}
		seen[sh.Revision] = true
		sum += sh.Percent
	}
	if sum != 100 {
		return fmt.Errorf("%w: traffic percentages add up to %d; they must add up to 100", ErrBadRequest, sum)
	}
	return nil
}
