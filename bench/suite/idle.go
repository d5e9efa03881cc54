package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"
)

// idleResult is the idle-memory measurement of one pooler.
type idleResult struct {
	clients        int           // asked for
	loggedIn       int           // succeeded
	failures       int           // logins that failed
	firstErr       string        // one of their errors
	loginTime      time.Duration // for all of them, idleLoginConcurrency at a time
	rssBefore      int64         // bytes, after the warm-up, before the first idle client
	rssAfter       int64         // bytes, with every client logged in and settled
	bytesPerClient float64
}

// idleLoginConcurrency is how many idle clients log in at the same time: fast, but not a storm.
const idleLoginConcurrency = 100

// measureIdle logs n clients in to p, 100 at a time, keeps them idle and reports the growth of p's
// RSS per client. The clients are closed before it returns, and it waits until p has closed its side.
func measureIdle(ctx context.Context, l *loginer, p *pooler, n int) (idleResult, error) {
	r := idleResult{clients: n}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := l.selectOne(wctx, p.endpoint)
	cancel()
	if err != nil {
		return r, fmt.Errorf("%s warm-up: %w", p.name, err)
	}
	baseFDs, err := procFDs(p.pid())
	if err != nil {
		return r, err
	}
	if r.rssBefore, err = settledRSS(p.pid()); err != nil {
		return r, err
	}
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, idleLoginConcurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			conns[i], errs[i] = l.login(lctx, p.endpoint)
		}()
	}
	wg.Wait()
	r.loginTime = time.Since(start)
	for _, err := range errs {
		if err != nil {
			if r.failures == 0 {
				r.firstErr = err.Error()
			}
			r.failures++
		}
	}
	r.loggedIn = n - r.failures
	r.rssAfter, err = settledRSS(p.pid())
	closeAll(conns)
	if err != nil {
		return r, err
	}
	if r.loggedIn > 0 {
		r.bytesPerClient = float64(r.rssAfter-r.rssBefore) / float64(r.loggedIn)
	}
	return r, waitFDs(p.pid(), baseFDs+10, 60*time.Second)
}

// stormResult is the connection storm against one pooler.
type stormResult struct {
	clients  int
	failures int
	firstErr string
	allIn    time.Duration // from the start signal until the last login ended
	p50, p99 time.Duration // of the logins that succeeded
}

// measureStorm starts n goroutines, releases them at once, each dialing p and logging in, and reports
// how long until every login has ended and how many failed. The clients are closed afterwards.
func measureStorm(ctx context.Context, l *loginer, p *pooler, n int) (stormResult, error) {
	r := stormResult{clients: n}
	baseFDs, err := procFDs(p.pid())
	if err != nil {
		return r, err
	}
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	took := make([]time.Duration, n)
	var ready, wg sync.WaitGroup
	ready.Add(n)
	wg.Add(n)
	startSignal := make(chan struct{})
	var start time.Time
	for i := range n {
		go func() {
			defer wg.Done()
			ready.Done()
			<-startSignal
			lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			conns[i], errs[i] = l.login(lctx, p.endpoint)
			took[i] = time.Since(start)
		}()
	}
	ready.Wait()
	start = time.Now()
	close(startSignal)
	wg.Wait()
	r.allIn = time.Since(start)
	closeAll(conns)
	var ok []time.Duration
	for i, err := range errs {
		if err != nil {
			if r.failures == 0 {
				r.firstErr = err.Error()
			}
			r.failures++
			continue
		}
		ok = append(ok, took[i])
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	if len(ok) > 0 {
		r.p50 = ok[(len(ok)-1)/2]
		r.p99 = ok[min(len(ok)-1, (len(ok)*99+99)/100-1)]
	}
	return r, waitFDs(p.pid(), baseFDs+10, 60*time.Second)
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			terminate(c)
		}
	}
}

// settledRSS reads pid's RSS every 500 ms until two readings in a row differ by less than 0.5% (at
// most 15 s), and returns the last one.
func settledRSS(pid int) (int64, error) {
	prev, err := procRSS(pid)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		cur, err := procRSS(pid)
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d*200 < cur && -d*200 < cur {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// waitFDs waits until pid has at most limit file descriptors open: the pooler has closed the
// clients' sockets. An error after timeout.
func waitFDs(pid, limit int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := procFDs(pid)
		if err != nil {
			return err
		}
		if n <= limit {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d still has %d file descriptors open (want at most %d)", pid, n, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
