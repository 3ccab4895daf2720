// The e4go side of the e4go / libe4 / e4-rs comparison (benches/peers,
// see its README). It is built by run.sh against a checkout of e4go given on
// the command line (a go.mod with a replace directive is written to a
// temporary directory); nothing of e4go is in the e4-rs repository.
//
// Only e4go's public API is used: e4.NewClient, Client.ProtectMessage and
// Client.Unprotect; topic keys and public keys reach the clients as C2
// commands (e4.CmdSetTopicKey, e4.CmdSetPubKey protected with
// e4crypto.ProtectSymKey), as they do in a deployment.
//
// Output: one line per (operation, payload size),
//
//	RESULT <tab> e4go <tab> op <tab> size <tab> ops/s <tab> calls <tab> seconds
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	e4 "github.com/teserakt-io/e4go"
	e4crypto "github.com/teserakt-io/e4go/crypto"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/ed25519"
)

const topic = "sensors/temperature"

// sink keeps the results of the timed calls alive.
var sink int

// payload is e4-rs's test payload: byte i is i*7+3.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// measure runs f for secs seconds after a calibration and a warm-up and
// returns (calls, seconds). The same procedure as in the C and Rust
// harnesses: batches doubled until one takes at least 1 ms, a warm-up of
// secs/5, then whole batches until secs have elapsed.
func measure(secs float64, f func()) (int, float64) {
	batch := 1
	for {
		t := time.Now()
		for i := 0; i < batch; i++ {
			f()
		}
		if time.Since(t).Seconds() >= 1e-3 {
			break
		}
		batch *= 2
	}
	warm := time.Now()
	for time.Since(warm).Seconds() < secs/5 {
		for i := 0; i < batch; i++ {
			f()
		}
	}
	t := time.Now()
	n := 0
	for {
		for i := 0; i < batch; i++ {
			f()
		}
		n += batch
		if el := time.Since(t).Seconds(); el >= secs {
			return n, el
		}
	}
}

func report(op string, size int, n int, el float64) {
	fmt.Printf("RESULT\te4go\t%s\t%d\t%.1f\t%d\t%.4f\n", op, size, float64(n)/el, n, el)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "e4go harness:", err)
		os.Exit(1)
	}
}

// seq returns n bytes start, start+1, ...
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// command sends a C2 command (protected with key) to c.
func command(c e4.Client, key []byte, cmd []byte, err error) {
	must(err)
	protected, err := e4crypto.ProtectSymKey(cmd, key)
	must(err)
	_, err = c.Unprotect(protected, c.GetReceivingTopic())
	must(err)
}

// symPair: two symmetric-key clients sharing a key for the topic.
func symPair() (e4.Client, e4.Client) {
	topicKey := seq(0x40, 32)
	newClient := func(name string, key []byte) e4.Client {
		c, err := e4.NewClient(&e4.SymIDAndKey{ID: e4crypto.HashIDAlias(name), Key: key}, e4.NewInMemoryStore(nil))
		must(err)
		cmd, err := e4.CmdSetTopicKey(topicKey, topic)
		command(c, key, cmd, err)
		return c
	}
	return newClient("tx", seq(0x10, 32)), newClient("rx", seq(0x20, 32))
}

// pubPair: two public-key clients sharing a key for the topic; the receiver
// knows the sender's Ed25519 public key.
func pubPair() (e4.Client, e4.Client) {
	topicKey := seq(0x40, 32)
	c2Secret := seq(0x50, 32)
	c2Public, err := curve25519.X25519(c2Secret, curve25519.Basepoint)
	must(err)
	newClient := func(name string, seed byte) (e4.Client, []byte, ed25519.PublicKey) {
		sk := ed25519.NewKeyFromSeed(seq(seed, 32))
		pk := sk.Public().(ed25519.PublicKey)
		c, err := e4.NewClient(&e4.PubIDAndKey{ID: e4crypto.HashIDAlias(name), Key: sk, C2PubKey: c2Public}, e4.NewInMemoryStore(nil))
		must(err)
		// C2's side of the command key: X25519(C2 secret, device's
		// Montgomery key), hashed with SHA3-256.
		shared, err := curve25519.X25519(c2Secret, e4crypto.PublicEd25519KeyToCurve25519(pk))
		must(err)
		key := e4crypto.Sha3Sum256(shared)[:e4crypto.KeyLen]
		cmd, err := e4.CmdSetTopicKey(topicKey, topic)
		command(c, key, cmd, err)
		return c, key, pk
	}
	tx, _, txPub := newClient("tx", 0x60)
	rx, rxKey, _ := newClient("rx", 0x70)
	cmd, err := e4.CmdSetPubKey(txPub, "tx")
	command(rx, rxKey, cmd, err)
	return tx, rx
}

func main() {
	secs := flag.Float64("secs", 0.5, "seconds timed per operation and size")
	sizesArg := flag.String("sizes", "16,64,1024,16384", "payload sizes")
	opsArg := flag.String("ops", "sym-protect,sym-unprotect,pk-protect,pk-unprotect", "operations")
	flag.Parse()
	var sizes []int
	for _, s := range strings.Split(*sizesArg, ",") {
		n, err := strconv.Atoi(s)
		must(err)
		sizes = append(sizes, n)
	}
	want := map[string]bool{}
	for _, o := range strings.Split(*opsArg, ",") {
		want[o] = true
	}
	fmt.Printf("# e4go %s GOMAXPROCS=%d secs=%g\n", runtime.Version(), runtime.GOMAXPROCS(0), *secs)

	symTx, symRx := symPair()
	pkTx, pkRx := pubPair()
	for _, n := range sizes {
		pt := payload(n)
		// Self-check: both suites round-trip before anything is timed.
		for _, p := range [][2]e4.Client{{symTx, symRx}, {pkTx, pkRx}} {
			msg, err := p[0].ProtectMessage(pt, topic)
			must(err)
			got, err := p[1].Unprotect(msg, topic)
			must(err)
			if !bytes.Equal(got, pt) {
				must(fmt.Errorf("round trip of %d bytes changed the payload", n))
			}
		}
		protectRow := func(op string, c e4.Client) {
			if !want[op] {
				return
			}
			calls, el := measure(*secs, func() {
				out, err := c.ProtectMessage(pt, topic)
				if err != nil {
					must(err)
				}
				sink += len(out)
			})
			report(op, n, calls, el)
		}
		unprotectRow := func(op string, tx, rx e4.Client) {
			if !want[op] {
				return
			}
			msg, err := tx.ProtectMessage(pt, topic)
			must(err)
			calls, el := measure(*secs, func() {
				out, err := rx.Unprotect(msg, topic)
				if err != nil {
					must(err)
				}
				sink += len(out)
			})
			report(op, n, calls, el)
		}
		protectRow("sym-protect", symTx)
		unprotectRow("sym-unprotect", symTx, symRx)
		protectRow("pk-protect", pkTx)
		unprotectRow("pk-unprotect", pkTx, pkRx)
	}
	if sink == 0 {
		fmt.Fprintln(os.Stderr, "nothing was produced")
	}
}
