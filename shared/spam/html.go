package spam

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Bounds of the HTML pass.
const (
	// maxHTML is how much of the HTML parts is read, in all.
	maxHTML = 256 << 10
	// maxHidden is how much hidden text is kept, in bytes.
	maxHidden = 16 << 10
)

// htmlParts reads the text/html parts of raw, decoded, for what
// mailparse's text leaves out: the hosts of links and images (href, src,
// action), and the text that a reader never sees (display:none,
// visibility:hidden, a font size of 0 or 1px), which spam fills with
// words of ham. The hidden text becomes hidden: tokens rather than body
// tokens, as SpamAssassin's Bayes keeps its invisible text apart; the
// runs of it are returned so that Analyze can take them out of the body
// text. It reports false when the message could not be walked, and then
// the caller looks for links in the raw body instead.
func (a *analyzer) htmlParts(raw []byte) ([]string, bool) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, false
	}
	var hidden []string
	budget := int64(maxHTML)
	walkErr := e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		ct, _, _ := part.Header.ContentType()
		if ct != "text/html" || budget <= 0 {
			return nil
		}
		if disp, _, _ := part.Header.ContentDisposition(); disp == "attachment" {
			return nil
		}
		lr := &io.LimitedReader{R: part.Body, N: budget}
		hidden = append(hidden, a.html(bufio.NewReader(lr))...)
		budget = lr.N
		return nil
	})
	return hidden, walkErr == nil
}

// hidingStyle says how a style attribute hides text: "" when it does not.
func hidingStyle(style string) string {
	s := strings.ToLower(strings.ReplaceAll(style, " ", ""))
	switch {
	case strings.Contains(s, "display:none"), strings.Contains(s, "visibility:hidden"):
		return "x:html-hidden"
	case tinyFont(s):
		return "x:html-tiny"
	}
	return ""
}

// tinyFont reports a font size of 0 to 2 (px, pt or none) in a style
// without spaces: font-size:0 and font-size:1px, not font-size:0.9em.
func tinyFont(s string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], "font-size:")
		if j < 0 {
			return false
		}
		v := s[i+j+len("font-size:"):]
		if len(v) > 0 && '0' <= v[0] && v[0] <= '2' {
			rest := v[1:]
			if rest == "" || rest[0] == ';' || rest[0] == '!' || strings.HasPrefix(rest, "px") || strings.HasPrefix(rest, "pt") {
				return true
			}
		}
		i += j + len("font-size:")
	}
}

// html reads one HTML part: link tokens, flags, and the runs of hidden
// text, with white space collapsed as mailparse collapses it.
func (a *analyzer) html(r io.Reader) []string {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(1 << 20)
	var (
		runs      []string
		run       strings.Builder
		kept      int
		hideTag   atom.Atom // the element whose content is hidden
		hideDepth int
	)
	endRun := func() {
		if t := strings.TrimSpace(run.String()); t != "" {
			runs = append(runs, t)
		}
		run.Reset()
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			endRun()
			return runs
		case html.CommentToken:
			a.flag("x:html-comment")
		case html.TextToken:
			if hideDepth > 0 && kept < maxHidden {
				t := strings.Join(strings.Fields(string(z.Text())), " ")
				if t != "" {
					if run.Len() > 0 {
						run.WriteByte(' ')
					}
					run.WriteString(t)
					kept += len(t)
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if hideDepth > 0 && atom.Lookup(name) == hideTag {
				if hideDepth--; hideDepth == 0 {
					endRun()
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := atom.Lookup(name)
			if hideDepth > 0 && tag == hideTag && tt == html.StartTagToken {
				hideDepth++
			}
			for hasAttr {
				var key, val []byte
				key, val, hasAttr = z.TagAttr()
				switch string(key) {
				case "href", "src", "action", "background":
					v := string(val)
					if strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "cid:") {
						continue
					}
					a.urls(v, true)
				case "style":
					if flag := hidingStyle(string(val)); flag != "" {
						a.flag(flag)
						if hideDepth == 0 && tt == html.StartTagToken && !voidElement[tag] {
							hideTag, hideDepth = tag, 1
						}
					}
				}
			}
		}
	}
}

// voidElement are the elements that have no content.
var voidElement = map[atom.Atom]bool{
	atom.Img: true, atom.Br: true, atom.Hr: true, atom.Input: true, atom.Meta: true,
	atom.Link: true, atom.Area: true, atom.Base: true, atom.Col: true, atom.Wbr: true,
}

// cutRuns removes from text the first occurrence of each run; runs not
// found are left in (mailparse may have broken their lines differently,
// or kept another alternative).
func cutRuns(text string, runs []string) string {
	for _, r := range runs {
		if i := strings.Index(text, r); i >= 0 {
			text = text[:i] + " " + text[i+len(r):]
		}
	}
	return text
}

// hasHTMLType reports whether raw names the text/html type anywhere, in
// the usual cases: only then is the HTML pass worth its time.
func hasHTMLType(raw []byte) bool {
	for _, sub := range []string{"/html", "/HTML", "/Html"} {
		for i := 0; ; {
			j := bytes.Index(raw[i:], []byte(sub))
			if j < 0 {
				break
			}
			at := i + j
			if at >= 4 && strings.EqualFold(string(raw[at-4:at]), "text") {
				return true
			}
			i = at + len(sub)
		}
	}
	return false
}
