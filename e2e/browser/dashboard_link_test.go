package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ticketstream/ticketstream"
	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/adapters/jwtauth"
	"github.com/ticketstream/ticketstream/e2e"
)

// acceptLinkedToken waits for the page to offer the token of its link,
// checks that the offer names teams, and accepts it.
func (p *browserTab) acceptLinkedToken(teams string) {
	p.t.Helper()
	p.clickLinkedToken(teams)
	p.waitFor("the page to be live", `ticketstream.state() === "live"`, 60*time.Second)
}

// clickLinkedToken waits for the page to offer the token of its link,
// checks that the offer names teams, and clicks to accept it.
func (p *browserTab) clickLinkedToken(teams string) {
	p.t.Helper()
	p.waitFor("the offer of the link's token", `!document.getElementById("offer").hidden`, 30*time.Second)
	if msg := eval[string](p, `document.getElementById("offer-msg").textContent`); !strings.Contains(msg, teams) {
		p.t.Fatalf("the offer says %q, want it to name %s", msg, teams)
	}
	p.do(chromedp.Click("#offer-accept"))
}

// TestDashboard_ALinkedTokenIsUsedOnlyOnceConfirmed: a page that links here
// with #token= does not sign the tab in silently. The tab keeps its own
// session, shows what the link's token grants (from GET /v1/session), and
// switches only when the person accepts; ignoring it changes nothing.
func TestDashboard_ALinkedTokenIsUsedOnlyOnceConfirmed(t *testing.T) {
	srv := e2e.StartServer(t, gormstore.SQLite, func(c *ticketstream.Config) { c.Server.JWTSecret = e2e.Secret })
	db := e2e.NewSQLEditor(t, srv.URL)
	mine, err := jwtauth.Issue([]byte(e2e.Secret), "me", []string{"billing"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := jwtauth.Issue([]byte(e2e.Secret), "attacker", []string{"support", "<img src=x onerror=alert(1)>"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tab := newBrowserTab(t, 1280, 800)

	// Signed in with my own token, typed in.
	tab.do(chromedp.Navigate(srv.Base + "/"))
	tab.waitFor("the sign-in form", `ticketstream.state() === "auth" && !document.getElementById("auth").hidden`, 30*time.Second)
	tab.do(chromedp.SendKeys("#auth-token", mine+"\r"))
	tab.checkShows(db.Count("team = ?", "billing"))

	// A link from elsewhere carries another token: offered, not used.
	tab.do(chromedp.Navigate(srv.Base + "/#token=" + theirs))
	tab.waitFor("the offer", `!document.getElementById("offer").hidden`, 30*time.Second)
	msg := eval[string](tab, `document.getElementById("offer-msg").textContent`)
	if !strings.Contains(msg, "support") || !strings.Contains(msg, "<img src=x onerror=alert(1)>") {
		t.Fatalf("the offer says %q: want the token's teams, shown as text", msg)
	}
	if n := eval[int](tab, `document.querySelectorAll("#offer img").length`); n != 0 {
		t.Fatal("a team name from the link became markup")
	}
	tab.waitFor("my own session to stay", `ticketstream.state() === "live"`, 30*time.Second)
	if stored := eval[string](tab, `sessionStorage.getItem("ticketstream.token") ?? ""`); stored != mine {
		t.Fatal("the link's token replaced the stored one before it was accepted")
	}
	tab.checkShows(db.Count("team = ?", "billing"))

	// Ignored: nothing changes.
	tab.do(chromedp.Click("#offer-reject"))
	tab.waitFor("the offer to go", `document.getElementById("offer").hidden`, 10*time.Second)
	if stored := eval[string](tab, `sessionStorage.getItem("ticketstream.token") ?? ""`); stored != mine {
		t.Fatal("an ignored link's token was stored")
	}
	tab.checkShows(db.Count("team = ?", "billing"))

	// Offered again and accepted: now the tab is the link's.
	tab.do(chromedp.Navigate(srv.Base + "/#token=" + theirs))
	tab.acceptLinkedToken("support")
	tab.checkShows(db.Count("team = ?", "support"))

	// A link with a token the server refuses is never offered.
	tab.do(chromedp.Navigate(srv.Base + "/#token=not-a-token"))
	tab.waitFor("the refusal", `document.getElementById("auth-msg").textContent.includes("link's token was refused")`, 30*time.Second)
	if !eval[bool](tab, `document.getElementById("offer").hidden`) {
		t.Fatal("a refused token was offered")
	}
	for _, tok := range []string{mine, theirs} {
		if strings.Contains(tab.seen(), tok) {
			t.Fatal("a token appears in a URL the page requested or on its console")
		}
	}
}
