package attest

import (
	"sync"

	"github.com/clstr-dev/clstr/attest/engine"
)

// reporter serialises calls to an engine.Reporter, which may be nil.
type reporter struct {
	mu sync.Mutex // serialises calls to r
	r  engine.Reporter
}

func newReporter(r engine.Reporter) *reporter { return &reporter{r: r} }

func (p *reporter) Step(text string) {
	if p.r == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.r.Step(text)
}

func (p *reporter) TestStarted(name string) {
	if p.r == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.r.TestStarted(name)
}

func (p *reporter) TestFinished(tr engine.TestResult) {
	if p.r == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.r.TestFinished(tr)
}

func (p *reporter) Waiting(w engine.Wait) {
	if p.r == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.r.Waiting(w)
}
