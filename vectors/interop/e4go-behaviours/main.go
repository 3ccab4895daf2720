// Command e4go-behaviours runs e4go itself on the behaviours that the e4go
// sample vectors do not show, and prints what it did as vector cases (JSON
// Lines in the format of ../e4go/README.md): the source of
// ../e4rs-e4go-behaviours.jsonl. See ../README.md for what each case pins
// down and how to run this (Go 1.19, GOPATH mode, e4go 384ed8ac184a and
// teserakt-io/golang-ed25519 8255be791ce4 beside Debian's miscreant.go and
// golang.org/x/crypto 0.4.0). Nothing of e4go is kept in this repository.
//
// Keys come from fixed labels; timestamps are the clock's at generation
// time (e4go reads the real clock), so regenerating changes the protected
// bytes and the timestamps, never the outcomes.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"unicode/utf8"

	e4 "github.com/teserakt-io/e4go"
	e4crypto "github.com/teserakt-io/e4go/crypto"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/ed25519"
)

type obj = map[string]interface{}

var out = json.NewEncoder(os.Stdout)

func emit(o obj) {
	out.SetEscapeHTML(false)
	if err := out.Encode(o); err != nil {
		panic(err)
	}
}

func h(b []byte) string { return hex.EncodeToString(b) }

func label(l string) []byte { return e4crypto.Sha3Sum256([]byte("e4rs e4go-behaviour vector: " + l)) }

func result(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// store: an in-memory ReadWriteSeeker whose latest JSON we can read.
type store struct {
	buf []byte
	pos int
}

func (s *store) Read(p []byte) (int, error) {
	if s.pos >= len(s.buf) {
		return 0, io.EOF
	}
	n := copy(p, s.buf[s.pos:])
	s.pos += n
	return n, nil
}
func (s *store) Write(p []byte) (int, error) {
	end := s.pos + len(p)
	if end > len(s.buf) {
		s.buf = append(s.buf, make([]byte, end-len(s.buf))...)
	}
	copy(s.buf[s.pos:], p)
	s.pos = end
	return len(p), nil
}
func (s *store) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		return 0, errors.New("unsupported")
	}
	s.pos = int(off)
	return off, nil
}

func b64(v interface{}) []byte {
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// state: the vectors' description of e4go's persisted client.
func state(s *store) obj {
	var raw map[string]interface{}
	if err := json.NewDecoder(bytes.NewReader(s.buf)).Decode(&raw); err != nil {
		panic(err)
	}
	st := obj{"id": h(b64(raw["ID"])), "receiving_topic": raw["ReceivingTopic"]}
	tks := []obj{}
	trans := []obj{}
	if m, ok := raw["TopicKeys"].(map[string]interface{}); ok {
		for k, v := range m {
			b := b64(v)
			if len(b) == 32 {
				tks = append(tks, obj{"topic_hash": k, "key": h(b)})
			} else {
				trans = append(trans, obj{"slot": k, "old_key": h(b[:32])})
			}
		}
	}
	sort.Slice(tks, func(i, j int) bool { return tks[i]["topic_hash"].(string) < tks[j]["topic_hash"].(string) })
	st["topic_keys"] = tks
	st["transition_keys"] = trans
	key := raw["Key"].(map[string]interface{})
	data := key["keyData"].(map[string]interface{})
	if key["keyType"].(float64) == 0 {
		st["key"] = h(b64(data["Key"]))
	} else {
		sk := b64(data["PrivateKey"])
		st["ed25519_private_key"] = h(sk)
		st["ed25519_public_key"] = h(sk[32:])
		st["c2_public_key"] = h(b64(data["C2PubKey"]))
		pks := []obj{}
		if m, ok := data["PubKeys"].(map[string]interface{}); ok {
			for k, v := range m {
				pks = append(pks, obj{"id": k, "public_key": h(b64(v))})
			}
		}
		sort.Slice(pks, func(i, j int) bool { return pks[i]["id"].(string) < pks[j]["id"].(string) })
		st["pubkeys"] = pks
	}
	return st
}

func kdf() obj {
	return obj{"algorithm": "argon2i", "version": 19, "salt_hex": "", "time_cost": 1, "memory_kib": 65536,
		"parallelism": 4, "output_len": 32, "secret": "", "associated_data": ""}
}

func quote(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	q := strconv.QuoteToASCII(string(b))
	return q[1 : len(q)-1]
}

func passwords() {
	type pw struct {
		name string
		b    []byte
		note string
	}
	list := []pw{
		{"lone_continuation", []byte("\x80password-long-enough"), "21 bytes, not UTF-8: a lone continuation byte"},
		{"overlong_slash", []byte("password-long-\xc0\xafenough"), "22 bytes, not UTF-8: the overlong encoding of '/'"},
		{"surrogate", []byte("password-long-enough-\xed\xa0\x80"), "24 bytes, not UTF-8: an encoded UTF-16 surrogate"},
		{"truncated_sequence", []byte("password-long-enough-\xe2\x82"), "23 bytes, not UTF-8: a 3-byte sequence cut short"},
		{"latin1_bytes", []byte("p\xe4ssw\xf6rd-l\xe4nger-als-16"), "21 bytes, not UTF-8: Latin-1 umlauts"},
		{"short_not_utf8", []byte("\xff\xfe"), "2 bytes, not UTF-8 and too short"},
		{"utf8_16_bytes_7_chars", []byte("ééééé€€"), "valid UTF-8: 16 bytes in 7 characters (the minimum counts bytes)"},
	}
	for _, kind := range []string{"symkey_from_password", "ed25519_from_password"} {
		for _, p := range list {
			c := obj{"case": "e4go_behaviour_" + kind + "/" + p.name, "kind": kind, "password": quote(p.b), "password_hex": h(p.b),
				"password_len_bytes": len(p.b), "kdf": kdf(), "note": p.note}
			var err error
			var cfgErr error
			if kind == "symkey_from_password" {
				var key []byte
				key, err = e4crypto.DeriveSymKey(string(p.b))
				c["key"] = nil
				if err == nil {
					c["key"] = h(key)
					c["client_name"] = "behaviour-client"
					c["client_id"] = h(e4crypto.HashIDAlias("behaviour-client"))
				}
				_, cfgErr = e4.NewClient(&e4.SymNameAndPassword{Name: "behaviour-client", Password: string(p.b)}, &store{})
			} else {
				var sk e4crypto.Ed25519PrivateKey
				sk, err = e4crypto.Ed25519PrivateKeyFromPassword(string(p.b))
				c["seed"], c["ed25519_private_key"], c["ed25519_public_key"] = nil, nil, nil
				if err == nil {
					c["seed"] = h(sk[:32])
					c["ed25519_private_key"] = h(sk)
					c["ed25519_public_key"] = h(sk[32:])
				}
				c2 := label("c2 curve25519 public")
				_, cfgErr = e4.NewClient(&e4.PubNameAndPassword{Name: "behaviour-client", Password: string(p.b), C2PubKey: c2}, &store{})
			}
			c["e4go_result"] = result(err)
			c["e4go_new_client_result"] = result(cfgErr)
			if err == nil {
				c["expect"] = "ok"
			} else {
				c["expect"] = "invalid_password"
			}
			emit(c)
		}
	}
}

var topics = []string{"sensors/temperature", "actuators/valve"}

type client struct {
	c      e4.Client
	s      *store
	fields obj
	cmdKey []byte
	mode   string
}

func symClient(id []byte, l string) *client {
	s := &store{}
	key := label(l + " client key")
	c, err := e4.NewClient(&e4.SymIDAndKey{ID: id, Key: key}, s)
	if err != nil {
		panic(err)
	}
	return &client{c, s, obj{"client_id": h(id), "client_key": h(key)}, key, "symkey"}
}

func c2Key(l string) ([]byte, []byte) {
	priv := label(l + " c2 curve25519 private")
	pub, err := curve25519.X25519(priv, curve25519.Basepoint)
	if err != nil {
		panic(err)
	}
	return priv, pub
}

func pubClient(id []byte, l string) (*client, error) {
	s := &store{}
	sk := ed25519.NewKeyFromSeed(label(l + " client ed25519 seed"))
	c2priv, c2pub := c2Key(l)
	c, err := e4.NewClient(&e4.PubIDAndKey{ID: id, Key: e4crypto.Ed25519PrivateKey(sk), C2PubKey: c2pub}, s)
	if err != nil {
		return nil, err
	}
	shared, err := curve25519.X25519(c2priv, e4crypto.PublicEd25519KeyToCurve25519(e4crypto.Ed25519PublicKey(sk[32:])))
	if err != nil {
		panic(err)
	}
	return &client{c, s, obj{"client_id": h(id), "client_ed25519_private_key": h(sk), "client_ed25519_public_key": h(sk[32:]),
		"c2_curve25519_private_key": h(c2priv), "c2_curve25519_public_key": h(c2pub)}, e4crypto.Sha3Sum256(shared), "pubkey"}, nil
}

// setup: the commands files' initial state (two topic keys; pubkey: two senders' keys).
func (c *client) setup() {
	for _, t := range topics {
		cmd, _ := e4.CmdSetTopicKey(label("topic key "+t), t)
		if _, err := c.command(cmd); err != nil {
			panic(err)
		}
	}
	if c.mode == "pubkey" {
		for _, n := range []string{"vector-sender-s", "vector-sender-t"} {
			pk := ed25519.NewKeyFromSeed(label(n + " seed"))[32:]
			cmd, _ := e4.CmdSetPubKey(e4crypto.Ed25519PublicKey(pk), n)
			if _, err := c.command(cmd); err != nil {
				panic(err)
			}
		}
	}
}

// command: protect with the command key now, give it to Unprotect on the receiving topic.
func (c *client) command(cmd []byte) (obj, error) {
	p, err := e4crypto.ProtectSymKey(cmd, c.cmdKey)
	if err != nil {
		panic(err)
	}
	ts := int64(p[0]) | int64(p[1])<<8 | int64(p[2])<<16 | int64(p[3])<<24 | int64(p[4])<<32
	_, err = c.c.Unprotect(p, c.c.GetReceivingTopic())
	return obj{"command_bytes": h(cmd), "command_key": h(c.cmdKey), "timestamp": ts, "now": ts, "protected": h(p)}, err
}

func expectOf(err error, want string) string {
	if err == nil {
		return "ok_command"
	}
	return want
}

func commandCase(c *client, name, cmdName string, cmd []byte, want, effect string) {
	c.setup()
	init := state(c.s)
	k, err := c.command(cmd)
	o := obj{"case": "e4go_behaviour_" + c.mode + "_cmd/" + name, "mode": c.mode, "command": cmdName, "command_code": int(cmd[0])}
	for key, v := range c.fields {
		o[key] = v
	}
	o["receiving_topic"] = c.c.GetReceivingTopic()
	o["initial_state"] = init
	for key, v := range k {
		o[key] = v
	}
	o["e4go_result"] = result(err)
	o["expect"] = expectOf(err, want)
	o["state_after"] = state(c.s)
	o["effect"] = effect
	// followup: the command key is unchanged (or changed) as stated
	t := "behaviour/followup"
	fcmd, _ := e4.CmdSetTopicKey(label("topic key "+t), t)
	f, ferr := c.command(fcmd)
	f["step"] = 1
	f["command"] = "SetTopicKey"
	f["description"] = "SetTopicKey under the command key the client had before"
	f["e4go_result"] = result(ferr)
	f["expect"] = expectOf(ferr, "not_authentic")
	o["followups"] = []obj{f}
	o["state_after_followups"] = state(c.s)
	emit(o)
}

func idKey(n int, l string, zero bool) []byte {
	k := append(append(label(l+" a"), label(l+" b")...), label(l+" c")...)[:n]
	if zero {
		k = make([]byte, n)
	}
	return append([]byte{2}, k...)
}

func setIDKey() {
	id := e4crypto.HashIDAlias("behaviour-device")
	c := symClient(id, "sym")
	commandCase(c, "set_id_key_pubkey_length", "SetIDKey", idKey(64, "new id key", false), "invalid_argument",
		"a 64-byte key (the public-key mode's length) passes e4go's SetIDKey length check (32 or 64) and fails ValidateSymKey: nothing changes")
	commandCase(symClient(id, "sym"), "set_id_key_pubkey_length_zero", "SetIDKey", idKey(64, "", true), "invalid_argument",
		"64 zero bytes: ValidateSymKey's length check comes before its zero check")
	commandCase(symClient(id, "sym"), "set_id_key_33_bytes", "SetIDKey", idKey(33, "new id key", false), "invalid_command_length",
		"33 bytes: neither E4 length, refused by the length check")
	pc, err := pubClient(id, "pub")
	if err != nil {
		panic(err)
	}
	commandCase(pc, "set_id_key_symkey_length", "SetIDKey", idKey(32, "new id key", false), "invalid_argument",
		"a 32-byte key (the symmetric mode's length) passes e4go's SetIDKey length check and fails ValidateEd25519PrivKey: nothing changes")
	pc, _ = pubClient(id, "pub")
	commandCase(pc, "set_id_key_symkey_length_zero", "SetIDKey", idKey(32, "", true), "invalid_argument",
		"32 zero bytes: ValidateEd25519PrivKey's length check comes before its zero check")
	pc, _ = pubClient(id, "pub")
	commandCase(pc, "set_id_key_65_bytes", "SetIDKey", idKey(65, "new id key", false), "invalid_command_length",
		"65 bytes: neither E4 length, refused by the length check")
}

func idOf(n int) []byte {
	return append(label("id a"), label("id b")...)[:n]
}

func ids() {
	for _, n := range []int{1, 8, 15, 16, 17, 20, 32, 64} {
		id := idOf(n)
		o := obj{"case": fmt.Sprintf("e4go_behaviour_control_topic/id_%d_bytes", n), "kind": "control_topic", "id": h(id),
			"control_topic": e4.TopicForID(id)}
		sc := symClient(id, "sym")
		o["e4go_symkey_client_receiving_topic"] = sc.c.GetReceivingTopic()
		if _, err := pubClient(id, "pub"); err != nil {
			o["e4go_pubkey_client"] = err.Error()
		} else {
			o["e4go_pubkey_client"] = "ok"
		}
		o["note"] = "e4go's TopicForID and a SymIDAndKey client: e4/ + hex of the whole id; PubIDAndKey accepts 16-byte ids only"
		emit(o)
	}
	// A symmetric client with such an id works: commands on its receiving topic, messages.
	for _, n := range []int{1, 8, 32} {
		c := symClient(idOf(n), "sym")
		cmd, _ := e4.CmdSetTopicKey(label("topic key sensors/humidity"), "sensors/humidity")
		commandCase(c, fmt.Sprintf("id_%d_bytes_set_topic_key", n), "SetTopicKey", cmd, "",
			fmt.Sprintf("a symmetric client with a %d-byte id applies commands received on e4/<hex of the %d bytes>", n, n))
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fast" {
		setIDKey()
		ids()
		return
	}
	passwords()
	setIDKey()
	ids()
}
