// Command clientgo is the benchmark's client-go contender: Kubernetes' own leader election
// (k8s.io/client-go/tools/leaderelection on a Lease lock, ReleaseOnCancel) used as a mutex,
// driven by the benchmark's worker protocol (bench/protocol.ts).
//
// A Node worker talks to the benchmark over an IPC channel; this process uses stdio instead:
// one JSON command per line on stdin and one JSON event per line on stdout, with the shapes
// of WorkerCommand and WorkerMessage. Its configuration is the same BENCH_WORKER JSON, and
// its first argument names the worker (contender, uncontended or scale), as the script does
// for a Node worker. `clientgo --version` prints the client-go and Go versions it was built
// with.
//
//	lock    LeaderElector.Run in a goroutine with a fresh context; 'acquired' at OnStartedLeading
//	unlock  cancel that context; 'released' once Run has returned (ReleaseOnCancel releases the
//	        Lease on the way out)
//	loop    lock, hold holdMs, unlock, lock again at once, ... until untilAt or stop, reporting
//	        each step as the commands above do; a lock still waiting at untilAt is given up
//	stop    unlock if a Run is going on, then exit
//
// client-go has no callback per renewal. The Lease lock handed to the elector is wrapped so
// that each write it makes is seen when it succeeds: the first write of a Run is the
// acquisition, every later one with our identity a renewal (reported with the renewTime it
// wrote, which client-go takes when the attempt starts), and one with no holder the release.
// The wrapper makes no request of its own and changes no decision of the elector. It also
// reports every write it passes on ('wrote', with the HTTP status answered), successful or
// not, so that the writes counted at the server can be checked against what was sent.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// The timing every design runs with: defaultTiming in bench/protocol.ts, which are also
// client-go's usual values.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

type workerConfig[P any] struct {
	KubeConfig string  `json:"kubeConfig"`
	Namespace  string  `json:"namespace"`
	Identity   string  `json:"identity"`
	DeadlineMs float64 `json:"deadlineMs"`
	Params     P       `json:"params"`
}

type contenderParams struct {
	Lease string `json:"lease"`
}

type uncontendedParams struct {
	Lease         string  `json:"lease"`
	WarmupCycles  int     `json:"warmupCycles"`
	MaxCycles     int     `json:"maxCycles"`
	MaxDurationMs float64 `json:"maxDurationMs"`
}

type scaleParams struct {
	LeasePrefix   string  `json:"leasePrefix"`
	Leases        int     `json:"leases"`
	Concurrency   int     `json:"concurrency"`
	WarmupMs      float64 `json:"warmupMs"`
	MeasureMs     float64 `json:"measureMs"`
	RetryPeriodMs float64 `json:"retryPeriodMs"`
}

type uncontendedResult struct {
	CycleMs   []float64 `json:"cycleMs"`
	LockMs    []float64 `json:"lockMs"`
	UnlockMs  []float64 `json:"unlockMs"`
	ElapsedMs float64   `json:"elapsedMs"`
}

type scaleResult struct {
	Leases             int       `json:"leases"`
	AcquireMs          float64   `json:"acquireMs"`
	MeasuredMs         float64   `json:"measuredMs"`
	CPUMs              float64   `json:"cpuMs"`
	PeakRssWindowBytes int64     `json:"peakRssWindowBytes"`
	MaxRssBytes        int64     `json:"maxRssBytes"`
	LatenessMs         []float64 `json:"latenessMs"`
	Renewals           int       `json:"renewals"`
	Lost               int       `json:"lost"`
}

// message is a WorkerMessage; the fields other than type and at belong to some types only.
type message struct {
	Type      string   `json:"type"`
	At        float64  `json:"at"`
	Released  *bool    `json:"released,omitempty"`
	StartedAt *float64 `json:"startedAt,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Message   string   `json:"message,omitempty"`
	Code      *int     `json:"code,omitempty"`
	Status    *int     `json:"status,omitempty"`
	Result    any      `json:"result,omitempty"`
}

type command struct {
	Type string `json:"type"`
	// Of 'loop' only.
	HoldMs  float64 `json:"holdMs"`
	UntilAt float64 `json:"untilAt"`
}

// msOf is a time in the protocol's clock: milliseconds since the epoch, sub-millisecond.
func msOf(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e6
}

func now() float64 {
	return msOf(time.Now())
}

func ms(value float64) time.Duration {
	return time.Duration(value * float64(time.Millisecond))
}

var stdout sync.Mutex

// report writes one event line; each line is a single write, so lines never interleave.
func report(m message) {
	line, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	stdout.Lock()
	defer stdout.Unlock()
	if _, err := os.Stdout.Write(append(line, '\n')); err != nil {
		os.Exit(0) // the benchmark went away
	}
}

func fail(err error) {
	report(message{Type: "failed", At: now(), Message: err.Error()})
}

func finish(code int) {
	report(message{Type: "done", At: now(), Code: &code})
	os.Exit(code)
}

// commands yields each command on stdin, and exits when stdin closes (the benchmark went
// away, even if it was killed).
func commands() <-chan command {
	types := make(chan command)
	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			var c command
			if err := json.Unmarshal(scanner.Bytes(), &c); err != nil {
				fail(fmt.Errorf("bad command %q: %w", scanner.Text(), err))
				continue
			}
			types <- c
		}
		os.Exit(0)
	}()
	return types
}

// exitOnStop is the command loop of the workers that run on their own: 'stop' ends them.
func exitOnStop() {
	for c := range commands() {
		if c.Type == "stop" {
			finish(0)
		}
	}
}

func readConfig[P any]() workerConfig[P] {
	raw, ok := os.LookupEnv("BENCH_WORKER")
	if !ok {
		fmt.Fprintln(os.Stderr, "this is a benchmark worker: run `npm run bench` instead")
		os.Exit(2)
	}
	var config workerConfig[P]
	if err := json.Unmarshal([]byte(raw), &config); err != nil {
		fmt.Fprintf(os.Stderr, "BENCH_WORKER: %v\n", err)
		os.Exit(2)
	}
	deadline := ms(config.DeadlineMs)
	time.AfterFunc(deadline, func() {
		fmt.Fprintf(os.Stderr, "worker %d: deadline of %d ms passed, exiting\n", os.Getpid(), deadline.Milliseconds())
		os.Exit(3)
	})
	return config
}

// newClientset is set up as resourcelock.NewFromKubeconfig sets up its own (a request
// timeout of renewDeadline / 2, the "leader-election" user agent), but is shared by every
// lock of the process, and without the client-side rate limit (5 requests/s by default),
// under which one process could not renew 1,000 leases.
func newClientset(kubeConfig string) (kubernetes.Interface, error) {
	raw, err := clientcmd.Load([]byte(kubeConfig))
	if err != nil {
		return nil, err
	}
	config, err := clientcmd.NewDefaultClientConfig(*raw, nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	// The benchmark's emulator serves plain http, over which clientcmd sends no credentials
	// (so the token is given directly), and speaks JSON only (typed clients send protobuf by
	// default, as they do to the real kube-apiserver).
	if !rest.IsConfigTransportTLS(*config) {
		config.ContentType = "application/json"
		if current := raw.Contexts[raw.CurrentContext]; current != nil {
			if user := raw.AuthInfos[current.AuthInfo]; user != nil {
				config.BearerToken = user.Token
			}
		}
	}
	config.Timeout = renewDeadline / 2
	config.QPS = -1
	return kubernetes.NewForConfig(rest.AddUserAgent(config, "leader-election"))
}

// observedLock passes everything to the Lease lock, tells of each write that succeeded, and
// of each write sent (attempted, with the HTTP status answered).
type observedLock struct {
	resourcelock.Interface
	written   func(record resourcelock.LeaderElectionRecord)
	attempted func(status int)
}

func (l *observedLock) Create(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, record)
	l.observe(record, err)
	return err
}

func (l *observedLock) Update(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, record)
	l.observe(record, err)
	return err
}

func (l *observedLock) observe(record resourcelock.LeaderElectionRecord, err error) {
	if l.attempted != nil {
		l.attempted(statusOf(err))
	}
	if err == nil {
		l.written(record)
	}
}

// statusOf is the HTTP status of a write's outcome: 200 when it succeeded, the Status code the
// server answered, or 0 when there was no answer (a timeout, a broken connection).
func statusOf(err error) int {
	if err == nil {
		return 200
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return int(status.Status().Code)
	}
	return 0
}

// locker is one Lease used as a mutex: each lock() is one LeaderElector.Run.
type locker struct {
	client    kubernetes.Interface
	namespace string
	name      string
	identity  string
	// Called on client-go's goroutines.
	onRenewed func(startedAt time.Time)
	onLost    func(reason string)
	onWrite   func(status int)
	current   *election
}

// election is one Run, from the lock() that started it to the unlock() that cancels it.
type election struct {
	cancel    context.CancelFunc
	acquired  chan struct{} // closed when OnStartedLeading is called
	done      chan struct{} // closed when Run has returned
	wrote     atomic.Bool   // the acquisition has been written
	released  atomic.Bool   // a write with no holder succeeded
	cancelled atomic.Bool
}

// lock starts a Run and returns at once; onAcquired is called when it leads.
func (l *locker) lock(onAcquired func()) (*election, error) {
	if l.current != nil {
		select {
		case <-l.current.done:
		default:
			return nil, errors.New("lock(): already locking or holding")
		}
	}
	e := &election{acquired: make(chan struct{}), done: make(chan struct{})}
	base, err := resourcelock.New(resourcelock.LeasesResourceLock, l.namespace, l.name, l.client.CoreV1(), l.client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: l.identity})
	if err != nil {
		return nil, err
	}
	lock := &observedLock{Interface: base, attempted: l.onWrite, written: func(record resourcelock.LeaderElectionRecord) {
		switch {
		case record.HolderIdentity == "":
			e.released.Store(true)
		case !e.wrote.Swap(true):
			// The acquisition, not a renewal.
		case l.onRenewed != nil:
			l.onRenewed(record.RenewTime.Time)
		}
	}}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            l.name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				close(e.acquired)
				if onAcquired != nil {
					onAcquired()
				}
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	l.current = e
	go func() {
		defer close(e.done)
		elector.Run(ctx)
		// Run returns by itself only when a renewal failed for renewDeadline.
		if !e.cancelled.Load() && l.onLost != nil {
			l.onLost("client-go stopped leading: renewal failed for renewDeadline")
		}
	}()
	return e, nil
}

// lockAndWait locks and returns once the lock is held.
func (l *locker) lockAndWait() error {
	e, err := l.lock(nil)
	if err != nil {
		return err
	}
	select {
	case <-e.acquired:
		return nil
	case <-e.done:
		return errors.New("LeaderElector.Run returned before it led")
	}
}

// unlock cancels the current Run, if any, and returns a function that waits for it to
// return and tells whether the lease was released (false when there was no Run, or when it
// no longer held the lease).
func (l *locker) unlock() func() bool {
	e := l.current
	if e == nil {
		return func() bool { return false }
	}
	e.cancelled.Store(true)
	e.cancel()
	return func() bool {
		<-e.done
		if l.current == e {
			l.current = nil
		}
		return e.released.Load()
	}
}

// newLocker is a locker on Lease `lease` with a clientset of its own; it ends the process
// if the KubeConfig cannot be used.
func newLocker[P any](config workerConfig[P], lease string) *locker {
	client, err := newClientset(config.KubeConfig)
	if err != nil {
		fail(err)
		finish(1)
	}
	return &locker{client: client, namespace: config.Namespace, name: lease, identity: config.Identity}
}

// contender: one locker on one Lease, locking and unlocking when told.
func contender() {
	config := readConfig[contenderParams]()
	l := newLocker(config, config.Params.Lease)
	l.onRenewed = func(startedAt time.Time) {
		started := msOf(startedAt)
		report(message{Type: "renewed", At: now(), StartedAt: &started})
	}
	l.onLost = func(reason string) { report(message{Type: "lost", At: now(), Reason: reason}) }
	l.onWrite = func(status int) { report(message{Type: "wrote", At: now(), Status: &status}) }
	stamp := func(kind string) func() { return func() { report(message{Type: kind, At: now()}) } }
	unlock := func() {
		// Stamp, cancel, then report: the write to stdout must not delay the release.
		at := now()
		wait := l.unlock()
		report(message{Type: "unlocking", At: at})
		released := wait()
		report(message{Type: "released", At: now(), Released: &released})
	}
	// While a loop runs, it alone uses the locker; stop ends it before unlocking.
	var stopLoop, loopEnded chan struct{}
	incoming := commands()
	report(message{Type: "ready", At: now()})
	for c := range incoming {
		switch c.Type {
		case "lock":
			report(message{Type: "locking", At: now()})
			if _, err := l.lock(stamp("acquired")); err != nil {
				fail(err)
			}
		case "unlock":
			unlock()
		case "loop":
			if stopLoop != nil {
				fail(errors.New("loop: already looping"))
				continue
			}
			stopLoop, loopEnded = make(chan struct{}), make(chan struct{})
			go func(stop, ended chan struct{}, hold time.Duration, until time.Time) {
				defer close(ended)
				if err := loop(l, hold, until, stop, unlock); err != nil {
					fail(err)
				}
				report(message{Type: "loop-ended", At: now()})
			}(stopLoop, loopEnded, ms(c.HoldMs), time.UnixMicro(int64(c.UntilAt*1000)))
		case "stop":
			if stopLoop != nil {
				close(stopLoop)
				<-loopEnded
			}
			l.unlock()()
			finish(0)
		}
	}
}

// loop locks, holds for hold, unlocks and locks again at once, until until or stop; a lock
// still waiting then is given up (its Run cancelled).
func loop(l *locker, hold time.Duration, until time.Time, stop <-chan struct{}, unlock func()) error {
	for time.Now().Before(until) {
		report(message{Type: "locking", At: now()})
		e, err := l.lock(nil)
		if err != nil {
			return err
		}
		timeUp := time.NewTimer(time.Until(until))
		select {
		case <-e.acquired:
			timeUp.Stop()
		case <-e.done:
			timeUp.Stop()
			return errors.New("LeaderElector.Run returned before it led")
		case <-stop:
			l.unlock()()
			return nil
		case <-timeUp.C:
			l.unlock()()
			return nil
		}
		report(message{Type: "acquired", At: now()})
		select {
		case <-time.After(hold):
		case <-stop:
		}
		unlock()
		select {
		case <-stop:
			return nil
		default:
		}
	}
	return nil
}

// uncontended: lock + unlock back to back on a Lease nobody else uses.
func uncontended() {
	config := readConfig[uncontendedParams]()
	go exitOnStop()
	params := config.Params
	l := newLocker(config, params.Lease)
	cycle := func() (lockMs, unlockMs float64, err error) {
		start := now()
		if err := l.lockAndWait(); err != nil {
			return 0, 0, err
		}
		locked := now()
		if !l.unlock()() {
			return 0, 0, errors.New("unlock did not release the lease")
		}
		return locked - start, now() - locked, nil
	}
	run := func() (uncontendedResult, error) {
		// The first cycles create the Lease and warm up the connection.
		for range params.WarmupCycles {
			if _, _, err := cycle(); err != nil {
				return uncontendedResult{}, err
			}
		}
		result := uncontendedResult{CycleMs: []float64{}, LockMs: []float64{}, UnlockMs: []float64{}}
		started := now()
		for len(result.CycleMs) < params.MaxCycles && now()-started < params.MaxDurationMs {
			lockMs, unlockMs, err := cycle()
			if err != nil {
				return result, err
			}
			result.LockMs = append(result.LockMs, lockMs)
			result.UnlockMs = append(result.UnlockMs, unlockMs)
			result.CycleMs = append(result.CycleMs, lockMs+unlockMs)
		}
		result.ElapsedMs = now() - started
		return result, nil
	}
	result, err := run()
	if err != nil {
		fail(err)
		finish(1)
	}
	report(message{Type: "uncontended-result", At: now(), Result: result})
	finish(0)
}

// scale: one process, one clientset, one LeaderElector per Lease.
func scale() {
	config := readConfig[scaleParams]()
	go exitOnStop()
	params := config.Params
	client, err := newClientset(config.KubeConfig)
	if err != nil {
		fail(err)
		finish(1)
	}
	var mu sync.Mutex
	measuring := false
	lateness := []float64{}
	renewals, lost := 0, 0
	lockers := make([]*locker, params.Leases)
	for i := range lockers {
		previous := 0.0
		seen := false
		lockers[i] = &locker{
			client:    client,
			namespace: config.Namespace,
			name:      fmt.Sprintf("%s-%04d", params.LeasePrefix, i),
			identity:  config.Identity,
			onRenewed: func(startedAt time.Time) {
				started := msOf(startedAt)
				mu.Lock()
				defer mu.Unlock()
				if measuring && seen {
					lateness = append(lateness, started-(previous+params.RetryPeriodMs))
					renewals++
				}
				previous, seen = started, true
			},
			onLost: func(string) {
				mu.Lock()
				lost++
				mu.Unlock()
			},
		}
	}

	acquireStart := now()
	if err := eachLimited(lockers, params.Concurrency, (*locker).lockAndWait); err != nil {
		fail(err)
		finish(1)
	}
	acquireMs := now() - acquireStart
	time.Sleep(ms(params.WarmupMs))

	report(message{Type: "measuring", At: now()})
	mu.Lock()
	measuring = true
	mu.Unlock()
	var peak atomic.Int64
	peak.Store(currentRss())
	sampling := time.NewTicker(100 * time.Millisecond)
	go func() {
		for range sampling.C {
			if rss := currentRss(); rss > peak.Load() {
				peak.Store(rss)
			}
		}
	}()
	cpuBefore := cpuTime()
	started := now()
	time.Sleep(ms(params.MeasureMs))
	cpu := cpuTime() - cpuBefore
	measuredMs := now() - started
	sampling.Stop()
	mu.Lock()
	measuring = false
	result := scaleResult{
		Leases: params.Leases, AcquireMs: acquireMs, MeasuredMs: measuredMs, CPUMs: float64(cpu) / float64(time.Millisecond),
		PeakRssWindowBytes: peak.Load(), MaxRssBytes: maxRss(), LatenessMs: lateness, Renewals: renewals, Lost: lost,
	}
	mu.Unlock()
	report(message{Type: "scale-result", At: now(), Result: result})
	// No release: exiting stops every renewal at once, as the Node scale worker does.
	finish(0)
}

// eachLimited runs task on every item, at most limit at once; the first error wins.
func eachLimited[T any](items []T, limit int, task func(T) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	slots := make(chan struct{}, max(1, limit))
	for _, item := range items {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := task(item); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// maxRss is the process's lifetime peak resident set (Linux reports it in KiB).
func maxRss() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return int64(usage.Maxrss) * 1024
}

// currentRss is the resident set now, from /proc/self/statm (0 where there is none).
func currentRss() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	clientGo := "(unknown)"
	for _, dep := range info.Deps {
		if dep.Path == "k8s.io/client-go" {
			clientGo = dep.Version
		}
	}
	return fmt.Sprintf("k8s.io/client-go %s, %s", clientGo, info.GoVersion)
}

func main() {
	// client-go logs every attempt and every conflict; the events on stdout say what matters.
	klog.SetLogger(logr.Discard())
	workers := map[string]func(){"contender": contender, "uncontended": uncontended, "scale": scale}
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(version())
		return
	}
	if len(os.Args) != 2 || workers[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: clientgo contender|uncontended|scale (configuration in BENCH_WORKER) | --version")
		os.Exit(2)
	}
	workers[os.Args[1]]()
}
