// Package browser holds the dashboard's tests in headless Chromium: the
// page served by the wired server (e2e.StartServer), tickets written with
// plain SQL as another program would (e2e.SQLEditor), and what the page
// shows, how soon, and what it never leaks.
package browser
