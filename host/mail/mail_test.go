package mail_test

import (
	"bufio"
	"context"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/mail"
)

// smtpServer is the least of an SMTP server, without STARTTLS: it takes
// one message and hands over what it was sent.
func smtpServer(t *testing.T) (addr string, got <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		c := textproto.NewConn(conn)
		var log strings.Builder
		c.PrintfLine("220 test ESMTP")
		for {
			line, err := c.ReadLine()
			if err != nil {
				out <- log.String()
				return
			}
			log.WriteString(line + "\n")
			switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
			case "EHLO", "HELO":
				c.PrintfLine("250 test")
			case "DATA":
				c.PrintfLine("354 go on")
				body, _ := bufio.NewReader(c.DotReader()).ReadString(0)
				log.WriteString(body)
				c.PrintfLine("250 queued")
			case "QUIT":
				c.PrintfLine("221 bye")
				out <- log.String()
				return
			default:
				c.PrintfLine("250 ok")
			}
		}
	}()
	return ln.Addr().String(), out
}

func TestSend(t *testing.T) {
	addr, got := smtpServer(t)
	m := mail.SMTP{Addr: addr, From: "crm@example.com"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Send(ctx, "bob@example.com", "Lead delegated: Café", "Road Runner\nuntil Friday"); err != nil {
		t.Fatal(err)
	}
	session := <-got
	for _, want := range []string{"MAIL FROM:<crm@example.com>", "RCPT TO:<bob@example.com>", "Subject: =?utf-8?q?Lead_delegated:_Caf=C3=A9?=",
		"Content-Type: text/plain; charset=utf-8", "Road Runner\nuntil Friday"} {
		if !strings.Contains(session, want) {
			t.Errorf("the session lacks %q:\n%s", want, session)
		}
	}
}

func TestNoCredentialsInTheClear(t *testing.T) {
	addr, _ := smtpServer(t)
	m := mail.SMTP{Addr: addr, From: "crm@example.com", Username: "crm", Password: "secret"}
	err := m.Send(context.Background(), "bob@example.com", "Hi", "")
	if err == nil || !strings.Contains(err.Error(), "no STARTTLS") {
		t.Fatalf("credentials over a plain connection: %v", err)
	}
}

func TestMessageLines(t *testing.T) {
	msg := string(mail.Message("a@example.com", "b@example.com", "Hi", "one\ntwo\r\nthree", time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)))
	if !strings.HasSuffix(msg, "\r\n\r\none\r\ntwo\r\nthree\r\n") || strings.Contains(strings.ReplaceAll(msg, "\r\n", ""), "\n") {
		t.Fatalf("lines must end in CRLF:\n%q", msg)
	}
}
