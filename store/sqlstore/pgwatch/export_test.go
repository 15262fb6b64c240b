package pgwatch

import (
	"context"
	"time"
)

// SetTiming shortens the listener's health checks and reconnect waits.
func (s *Store) SetTiming(healthEvery, minBackoff time.Duration) {
	s.healthEvery, s.minBackoff = healthEvery, minBackoff
}

// Channel returns the channel Watch listens on, as Watch finds it.
func (s *Store) Channel(ctx context.Context) (string, error) {
	l, err := s.listen(ctx)
	if err != nil {
		return "", err
	}
	l.close()
	return l.channel, nil
}
