package eventlog

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Leaser is a Log shared by several relays that can grant one of them at a
// time a named lease in a workspace: the webhook endpoint a relay delivers
// to, so that the others do not deliver the same events again. A log of
// one relay need not implement it: that relay holds every lease.
type Leaser interface {
	// Lease takes or renews lease name of ws for this relay, for ttl. It
	// reports whether this relay holds it now; another relay's lease is
	// taken only once it has not been renewed for ttl.
	Lease(ws, name string, ttl time.Duration) (bool, error)
	// Release gives up lease name of ws if this relay holds it.
	Release(ws, name string) error
}

type leaseValue struct {
	Holder string `json:"holder"`
	Until  int64  `json:"until"` // Unix ms
}

func leaseKeyName(name string) string { return "lease." + hex.EncodeToString([]byte(name)) }

// holder names this relay in leases.
func (j *JetStream) holder() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.id == "" {
		j.id = nuid.Next()
	}
	return j.id
}

// Lease implements Leaser with the workspace's bucket: a key per lease
// holding its holder and expiry, changed only with the revision read, so
// two relays never both take it. Expiry is read on each relay's clock:
// keep them within a fraction of ttl.
func (j *JetStream) Lease(ws, name string, ttl time.Duration) (bool, error) {
	s, err := j.space(ws)
	if err != nil {
		return false, err
	}
	me := j.holder()
	ctx, cancel := j.ctx()
	defer cancel()
	key := leaseKeyName(name)
	now := time.Now()
	mine, _ := json.Marshal(leaseValue{Holder: me, Until: now.Add(ttl).UnixMilli()})
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		if _, err := s.kv.Create(ctx, key, mine); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return false, nil // another relay took it first
			}
			return false, fmt.Errorf("eventlog: lease %s of %s: %w", name, ws, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("eventlog: lease %s of %s: %w", name, ws, err)
	}
	var v leaseValue
	_ = json.Unmarshal(e.Value(), &v)
	if v.Holder != me && now.UnixMilli() < v.Until {
		return false, nil
	}
	if _, err := s.kv.Update(ctx, key, mine, e.Revision()); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return false, nil // changed meanwhile: another relay's now
		}
		return false, fmt.Errorf("eventlog: lease %s of %s: %w", name, ws, err)
	}
	return true, nil
}

// Release implements Leaser: an expired lease, so another relay takes it
// at once.
func (j *JetStream) Release(ws, name string) error {
	s, err := j.space(ws)
	if err != nil {
		return err
	}
	ctx, cancel := j.ctx()
	defer cancel()
	key := leaseKeyName(name)
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return nil // none, or NATS away: it expires
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil || v.Holder != j.holder() {
		return nil
	}
	done, _ := json.Marshal(leaseValue{})
	_, _ = s.kv.Update(ctx, key, done, e.Revision())
	return nil
}

var _ Leaser = (*JetStream)(nil)
