package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// privateCA makes a CA, as a company's own would be, and a certificate it
// signs for 127.0.0.1. It returns the CA's PEM and the server's key pair.
func privateCA(t *testing.T) (caPEM []byte, ca *x509.Certificate, server tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Acme private CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "relay.acme.internal"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	server = tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), ca, server
}

// startTLSRelay runs a real relay serving wss with cert; it returns its
// wss:// URL.
func startTLSRelay(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	return relayrun.Start(t, relayrun.WithConfig(relayConfig()),
		relayrun.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}})).WS
}

// waitSynced waits until the app's sync is online and its inbox shows a
// conversation whose preview is text.
func waitSynced(t *testing.T, a *App, rec *recorder, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		st, _ := a.Status()
		page, err := a.Inbox(Query{View: "open"})
		if st.Sync.State == client.StateOnline && err == nil && len(page.Rows) == 1 && page.Rows[0].Preview == text {
			return
		}
		select {
		case <-rec.ch:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("not synced: status %+v, inbox %+v, %v", st, page, err)
		}
	}
}

// TestConnectWSSPrivateCA connects the desktop app, through its own Connect
// binding, to a wss:// relay whose certificate a private CA signed: refused
// with a hint until THREADLINE_RELAY_CA names the CA's file, then synced; a
// restart without the variable trusts the profile's relayCA.
func TestConnectWSSPrivateCA(t *testing.T) {
	caPEM, ca, cert := privateCA(t)
	url := startTLSRelay(t, cert)
	caFile := filepath.Join(t.TempDir(), "acme-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profile.RelayCAEnv, "")
	a, rec := started(t, false)

	err := a.Connect(url, "acme", tokAna)
	if e := wireError(err); e == nil || e.Code != "offline" || !strings.Contains(e.Message, "x509:") || !strings.Contains(e.Message, profile.RelayCAEnv) {
		t.Fatalf("Connect(wss, CA not trusted) = %v; want offline, the certificate error and how to trust it", err)
	}
	if info, _ := a.Info(); info.Connected {
		t.Fatal("a refused Connect left the profile connected")
	}

	t.Setenv(profile.RelayCAEnv, filepath.Join(t.TempDir(), "missing.pem"))
	if err := a.Connect(url, "acme", tokAna); err == nil || wireError(err).Code != "invalid" {
		t.Fatalf("Connect(THREADLINE_RELAY_CA a missing file) = %v; want invalid", err)
	}

	t.Setenv(profile.RelayCAEnv, caFile)
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect(wss, THREADLINE_RELAY_CA=the CA) = %v", err)
	}
	if info, _ := a.Info(); info.Me.ID != "agent:ana" || !info.Connected {
		t.Fatalf("Info after Connect = %+v; want agent:ana, connected", info)
	}

	// A teammate writes over wss; the app syncs it.
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	ben := client.NewMemory(conv.Participant{ID: "agent:ben", Role: conv.RoleAgent}, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: "acme", Device: ben.Device(), Local: ben, HTTPClient: hc,
		Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: tokBen}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = cl.Run(ctx) }()
	defer cl.Close()
	contact := conv.Participant{ID: "contact:maria", Role: conv.RoleContact, Name: "Maria"}
	created, err := ben.Create(conv.Created{Contact: &contact, Subject: "Certificate"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Over wss."}); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a, rec, "Over wss.")

	// The profile's relayCA: kept in profile.json, used at the next start
	// when the variable is not set.
	Stop(a)
	prof, err := profile.Load(a.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	prof.RelayCA = caFile
	if err := profile.Save(a.cfg.DataDir, prof); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profile.RelayCAEnv, "")
	if err := Start(a); err != nil {
		t.Fatal(err)
	}
	waitSynced(t, a, rec, "Over wss.")
}
