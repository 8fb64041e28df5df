package autoscaler

import "time"

// Window averages a sampled value over recent time in one-second buckets.
// The zero value is ready to use; it is not safe for concurrent use.
type Window struct {
	buckets []bucket
}

type bucket struct {
	sec   int64
	sum   float64
	count int
}

// Record adds a sample taken at now; span is the longest window that will be
// asked for, so older buckets can be dropped.
func (w *Window) Record(now time.Time, v float64, span time.Duration) {
	sec := now.Unix()
	if n := len(w.buckets); n > 0 && w.buckets[n-1].sec == sec {
		w.buckets[n-1].sum += v
		w.buckets[n-1].count++
	} else {
		w.buckets = append(w.buckets, bucket{sec: sec, sum: v, count: 1})
	}
	cut := sec - int64(span/time.Second) - 1
	i := 0
	for i < len(w.buckets) && w.buckets[i].sec < cut {
		i++
	}
	if i > 0 {
		w.buckets = append(w.buckets[:0], w.buckets[i:]...)
	}
}

// Average is the mean of the per-second averages within d before now. A
// second without samples counts as zero, but seconds before the first sample
// do not count, so a burst on a fresh window is seen at full strength.
func (w *Window) Average(now time.Time, d time.Duration) float64 {
	secs := max(int64(d/time.Second), 1)
	from := now.Unix() - secs + 1
	if len(w.buckets) == 0 {
		return 0
	}
	if first := w.buckets[0].sec; first > from {
		from = first
	}
	var total float64
	for _, b := range w.buckets {
		if b.sec >= from && b.sec <= now.Unix() {
			total += b.sum / float64(b.count)
		}
	}
	return total / float64(now.Unix()-from+1)
}

// Empty reports whether the window holds no non-zero sample.
func (w *Window) Empty() bool {
	for _, b := range w.buckets {
		if b.sum != 0 {
			return false
		}
	}
	return true
}
