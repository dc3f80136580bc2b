package ticketstream

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every relative link in the README and docs/ resolves: the file exists
// and, when the link names a heading (#anchor), the file has that heading.
// Links out of the repository (http:, https:, mailto:) are not followed.
func TestDocs_RelativeLinksResolve(t *testing.T) {
	files := []string{"README.md", "CHANGELOG.md"}
	more, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	if len(more) == 0 {
		t.Fatal("no docs/*.md")
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)|<(https?://[^>]+)>`)
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(stripCode(string(text)), -1) {
			target := m[1]
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %q: %v", file, target, err)
					continue
				}
				if rel, err := filepath.Rel(".", resolved); err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s: link %q leaves the repository", file, target)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(resolved, ".md") && !hasAnchor(t, resolved, anchor) {
				t.Errorf("%s: link %q: %s has no heading #%s", file, target, resolved, anchor)
			}
		}
	}
}

// stripCode drops fenced code blocks and inline code, where brackets are
// not links.
func stripCode(s string) string {
	s = regexp.MustCompile("(?s)```.*?```").ReplaceAllString(s, "")
	return regexp.MustCompile("`[^`\n]*`").ReplaceAllString(s, "")
}

// hasAnchor reports whether the markdown file has a heading whose
// GitHub-style anchor is anchor.
func hasAnchor(t *testing.T, file, anchor string) bool {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(stripCode(string(text)), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") && slug(h) == anchor {
			return true
		}
	}
	return false
}

// slug is GitHub's anchor of a heading: lower case, punctuation dropped,
// spaces turned into hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
