package mailgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options shape the generated mail. The zero value is the default.
type Options struct {
	// Seed selects the mail: the same seed and options give the same
	// messages in the same order.
	Seed int64
	// AttachmentRatio is the share of messages with an attachment. Default
	// 0.1; negative: none.
	AttachmentRatio float64
	// MinWords and MaxWords bound the words of a body, quoted text and
	// signature left out. Defaults 60 and 1200, about 2.7 KB of text on
	// average.
	MinWords, MaxWords int
}

// Distribution parameters; doc.go explains them.
const (
	zipfS, zipfV     = 1.05, 2.7 // word ranks
	peopleZipfS      = 1.3       // who sends
	population       = 400
	replyRatio       = 0.35
	htmlRatio        = 0.3
	rareTokenRatio   = 0.02
	recentThreads    = 500
	minAttachment    = 10 << 10
	maxAttachment    = 200 << 10
	subjectSkipRanks = 60 // subjects leave out the function words
)

var (
	vocabulary = buildVocabulary()
	yearStart  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	yearLength = 365 * 24 * time.Hour
)

func buildVocabulary() []string {
	seen := map[string]bool{}
	var words []string
	for _, w := range strings.Fields(wordList + wordList2) {
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

type person struct {
	name, addr string
	tz         *time.Location
}

func (p person) header() string {
	return (&mail.Address{Name: p.name, Address: p.addr}).String()
}

func (p person) first() string {
	first, _, _ := strings.Cut(p.name, " ")
	return first
}

// sent is what a reply needs of an earlier message.
type sent struct {
	id      string
	refs    []string
	subject string // without "Re: "
	from    int
	to      []int
	date    time.Time
}

// Generator produces messages. It is not safe for concurrent use.
type Generator struct {
	o       Options
	r       *rand.Rand
	words   *rand.Zipf
	senders *rand.Zipf
	people  []person
	recent  []sent // ring of the last recentThreads messages
	n       int
}

// New returns a generator of the mail that o describes.
func New(o Options) *Generator {
	if o.AttachmentRatio == 0 {
		o.AttachmentRatio = 0.1
	}
	if o.MinWords <= 0 {
		o.MinWords = 60
	}
	if o.MaxWords <= 0 {
		o.MaxWords = 1200
	}
	o.MaxWords = max(o.MaxWords, o.MinWords)
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x6a65746d61696c))
	g := &Generator{
		o:       o,
		r:       r,
		words:   rand.NewZipf(r, zipfS, zipfV, uint64(len(vocabulary)-1)),
		senders: rand.NewZipf(r, peopleZipfS, 1, population-1),
	}
	g.people = g.population()
	return g
}

// Words returns the vocabulary of the bodies and subjects, most frequent
// first: the i-th word is drawn with a probability proportional to
// (2.7+i)^-1.05.
func (g *Generator) Words() []string {
	return append([]string(nil), vocabulary...)
}

var (
	firstNames = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda
		David Elizabeth William Barbara Richard Susan Joseph Jessica Thomas Sarah
		Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Margaret Paul
		Sandra Steven Ashley Andrew Emily Kenneth Donna Joshua Michelle Kevin Carol
		Brian Amanda George Melissa Timothy Deborah Ronald Stephanie Jason Rebecca
		Edward Sharon Jeffrey Laura Ryan Cynthia Jacob Amy Gary Angela Nicholas Anna
		Eric Ruth Jonathan Brenda Stephen Pamela Larry Nicole Justin Katherine Scott
		Samantha Frank Christine Benjamin Emma Gregory Helen Raymond Debra Samuel
		Rachel Patrick Carolyn Alexander Janet Jack Maria Dennis Heather Jerry Diane
		José Zoë Søren François Chloé Jürgen Björn Inés Renée Nuño Małgorzata
		Priya Wei Yuki Aisha Omar Fatima Hiroshi Mei Ravi Ana Lukas Sofia Mateo`)
	lastNames = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis
		Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor
		Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
		Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores
		Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez
		Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris
		Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed
		Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James
		Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers
		Müller Schröder Dubois Lefèvre Jensen Nielsen Kowalski Novák Rossi Bianchi
		Tanaka Suzuki Chen Wang Singh Kumar Haddad Okafor Silva Costa Ivanova Larsen`)
	domains = strings.Fields(`example.com example.org example.net mail.example.com
		acme.example globex.example initech.example umbrella.example hooli.example
		contoso.example eu.contoso.example fabrikam.example northwind.example
		tailspin.example wingtip.example adventure-works.example litware.example
		proseware.example post.test mail.test`)
	zones = []*time.Location{
		time.FixedZone("", -8*3600), time.FixedZone("", -5*3600), time.FixedZone("", 0),
		time.FixedZone("", 3600), time.FixedZone("", 2*3600), time.FixedZone("", 5*3600+1800),
		time.FixedZone("", 8*3600), time.FixedZone("", 9*3600),
	}
	fold = strings.NewReplacer("é", "e", "è", "e", "ë", "e", "ü", "u", "ö", "o", "ø", "o",
		"å", "a", "á", "a", "ä", "a", "ñ", "n", "ç", "c", "ß", "ss", "ł", "l", "ń", "n", "ó", "o", "í", "i", "ã", "a")
)

// population draws the fixed set of correspondents, with unique addresses.
func (g *Generator) population() []person {
	used := map[string]bool{}
	people := make([]person, 0, population)
	for len(people) < population {
		first := firstNames[g.r.IntN(len(firstNames))]
		last := lastNames[g.r.IntN(len(lastNames))]
		f, l := fold.Replace(strings.ToLower(first)), fold.Replace(strings.ToLower(last))
		var local string
		switch x := g.r.IntN(10); {
		case x < 5:
			local = f + "." + l
		case x < 7:
			local = f[:1] + l
		case x < 8:
			local = f
		case x < 9:
			local = fmt.Sprintf("%s_%s%d", f, l, g.r.IntN(100))
		default:
			local = l + "." + f
		}
		addr := local + "@" + domains[g.r.IntN(len(domains))]
		for i := 2; used[addr]; i++ {
			at := strings.IndexByte(addr, '@')
			addr = fmt.Sprintf("%s%d%s", local, i, addr[at:])
		}
		used[addr] = true
		people = append(people, person{name: first + " " + last, addr: addr, tz: zones[g.r.IntN(len(zones))]})
	}
	return people
}

// Next returns the next message: RFC 5322, CRLF line ends.
func (g *Generator) Next() []byte {
	g.n++
	var m sent
	var parent *sent
	if len(g.recent) > 0 && g.r.Float64() < replyRatio {
		parent = &g.recent[g.r.IntN(len(g.recent))]
	}
	var cc []int
	if parent != nil {
		// A reply comes from one of the recipients, back to the sender.
		m.from = parent.to[g.r.IntN(len(parent.to))]
		m.to = []int{parent.from}
		m.subject = parent.subject
		m.refs = append(append([]string(nil), parent.refs...), parent.id)
		if len(m.refs) > 10 {
			m.refs = m.refs[len(m.refs)-10:]
		}
		delay := time.Duration(g.r.ExpFloat64() * float64(6*time.Hour))
		m.date = parent.date.Add(2*time.Minute + delay)
		if g.r.Float64() < 0.3 {
			for _, p := range parent.to {
				if p != m.from && p != parent.from {
					cc = append(cc, p)
				}
			}
		}
	} else {
		m.from = int(g.senders.Uint64())
		m.to = g.others(1+g.r.IntN(3), m.from)
		if g.r.Float64() < 0.3 {
			cc = g.others(1+g.r.IntN(3), append([]int{m.from}, m.to...)...)
		}
		m.subject = g.subject()
		m.date = yearStart.Add(time.Duration(g.r.Int64N(int64(yearLength))))
	}
	from := g.people[m.from]
	m.id = fmt.Sprintf("<%016x.%d@%s>", g.r.Uint64(), g.n, from.addr[strings.IndexByte(from.addr, '@')+1:])

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("Message-ID", m.id)
	header("Date", m.date.In(from.tz).Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	header("From", from.header())
	g.addressHeader(&b, "To", m.to)
	if len(cc) > 0 {
		g.addressHeader(&b, "Cc", cc)
	}
	subject := m.subject
	if parent != nil {
		subject = "Re: " + subject
		header("In-Reply-To", parent.id)
		header("References", strings.Join(m.refs, "\r\n "))
	}
	header("Subject", subject)
	header("MIME-Version", "1.0")

	paragraphs := g.body(m, parent)
	withHTML := g.r.Float64() < htmlRatio
	withAttachment := g.r.Float64() < g.o.AttachmentRatio
	if withAttachment {
		outer := g.boundary()
		header("Content-Type", `multipart/mixed; boundary="`+outer+`"`)
		b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n\r\n--" + outer + "\r\n")
		g.textEntity(&b, paragraphs, withHTML)
		b.WriteString("\r\n--" + outer + "\r\n")
		g.attachment(&b)
		b.WriteString("\r\n--" + outer + "--\r\n")
	} else {
		g.textEntity(&b, paragraphs, withHTML)
	}

	g.remember(m)
	return b.Bytes()
}

func (g *Generator) remember(m sent) {
	if len(g.recent) < recentThreads {
		g.recent = append(g.recent, m)
	} else {
		g.recent[g.n%recentThreads] = m
	}
}

// others draws n distinct people who are not in except.
func (g *Generator) others(n int, except ...int) []int {
	var out []int
	for len(out) < n {
		p := g.r.IntN(len(g.people))
		if !contains(except, p) && !contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// addressHeader writes an address list, folded before a line grows past 78.
func (g *Generator) addressHeader(b *bytes.Buffer, name string, people []int) {
	line := name + ":"
	for i, p := range people {
		a := g.people[p].header()
		if i > 0 {
			line += ","
		}
		if i > 0 && len(line)+1+len(a) > 78 {
			b.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + a
	}
	b.WriteString(line + "\r\n")
}

func (g *Generator) word() string { return vocabulary[g.words.Uint64()] }

// token is a body word: mostly from the vocabulary, sometimes a number, a
// reference code or a made-up name, the long tail of real mail.
func (g *Generator) token() string {
	if g.r.Float64() >= rareTokenRatio {
		return g.word()
	}
	switch g.r.IntN(3) {
	case 0:
		return fmt.Sprint(g.r.IntN(10000))
	case 1:
		w := g.word()
		return fmt.Sprintf("%s-%d", strings.ToUpper(w[:min(3, len(w))]), 1000+g.r.IntN(90000))
	default:
		return g.pseudoWord()
	}
}

var syllables = strings.Fields(`ka ri to ne sa mo lu vi de ra po shi an el or in
	ta be gu fe zo mi ha nu ko se di ya we lo`)

func (g *Generator) pseudoWord() string {
	var s strings.Builder
	for range 2 + g.r.IntN(3) {
		s.WriteString(syllables[g.r.IntN(len(syllables))])
	}
	return s.String()
}

func (g *Generator) subject() string {
	n := 2 + g.r.IntN(6)
	words := make([]string, 0, n)
	for len(words) < n {
		if i := g.words.Uint64(); i >= subjectSkipRanks {
			words = append(words, vocabulary[i])
		}
	}
	s := capitalize(strings.Join(words, " "))
	switch x := g.r.IntN(20); {
	case x == 0:
		s = "Fwd: " + s
	case x == 1:
		s = fmt.Sprintf("[%s] %s", words[0], s)
	case x == 2:
		s += fmt.Sprintf(" #%d", 100+g.r.IntN(9900))
	}
	return s
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func (g *Generator) sentence() string {
	n := 4 + g.r.IntN(9) + g.r.IntN(9) // 4 to 20 words, mostly around 12
	var s strings.Builder
	for i := range n {
		if i > 0 {
			s.WriteByte(' ')
		}
		s.WriteString(g.token())
		if i > 0 && i < n-1 && g.r.Float64() < 0.07 {
			s.WriteByte(',')
		}
	}
	switch x := g.r.IntN(20); {
	case x < 2:
		s.WriteByte('?')
	case x < 3:
		s.WriteByte('!')
	default:
		s.WriteByte('.')
	}
	return capitalize(s.String())
}

// body returns the paragraphs of a message: a greeting, text, a sign-off and,
// in a reply, a few quoted lines.
func (g *Generator) body(m sent, parent *sent) []string {
	u := g.r.Float64()
	words := g.o.MinWords + int(float64(g.o.MaxWords-g.o.MinWords)*u*u)
	to := g.people[m.to[0]]
	paras := []string{fmt.Sprintf("%s %s,", []string{"Hi", "Hello", "Dear", "Hey"}[g.r.IntN(4)], to.first())}
	for count := 0; count < words; {
		var p []string
		for range 2 + g.r.IntN(5) {
			s := g.sentence()
			count += strings.Count(s, " ") + 1
			p = append(p, s)
			if count >= words {
				break
			}
		}
		paras = append(paras, strings.Join(p, " "))
	}
	from := g.people[m.from]
	sign := []string{"Best regards,", "Thanks,", "Kind regards,", "Cheers,", "Best,"}[g.r.IntN(5)]
	paras = append(paras, sign+"\n"+from.first())
	if parent != nil {
		p := g.people[parent.from]
		quote := fmt.Sprintf("On %s, %s wrote:", parent.date.In(p.tz).Format("Mon, Jan 2, 2006 at 15:04"), p.header())
		for range 1 + g.r.IntN(3) {
			quote += "\n> " + g.sentence()
		}
		paras = append(paras, quote)
	}
	return paras
}

// textEntity writes the header and body of the text: text/plain, or
// multipart/alternative with an HTML version.
func (g *Generator) textEntity(b *bytes.Buffer, paras []string, withHTML bool) {
	plain := func() {
		cte := "7bit"
		for _, p := range paras {
			if !isASCII(p) {
				cte = "8bit"
				break
			}
		}
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n")
		for i, p := range paras {
			if i > 0 {
				b.WriteString("\r\n")
			}
			for line := range strings.SplitSeq(p, "\n") {
				if rest, ok := strings.CutPrefix(line, "> "); ok {
					wrap(b, "> ", rest, 76)
				} else {
					wrap(b, "", line, 76)
				}
			}
		}
	}
	if !withHTML {
		plain()
		return
	}
	bd := g.boundary()
	b.WriteString(`Content-Type: multipart/alternative; boundary="` + bd + "\"\r\n\r\n--" + bd + "\r\n")
	plain()
	b.WriteString("\r\n--" + bd + "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("<html><head><style>p { margin: 0 0 1em; }</style></head><body>\r\n")
	for _, p := range paras {
		text := strings.ReplaceAll(html.EscapeString(p), "\n", "<br>")
		if strings.HasPrefix(p, "On ") && strings.Contains(p, "\n> ") {
			text = "<blockquote>" + text + "</blockquote>"
		}
		wrap(b, "", "<p>"+text+"</p>", 76)
	}
	b.WriteString("</body></html>\r\n--" + bd + "--\r\n")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// wrap writes s in lines of at most width bytes where it has spaces to break
// at, each line starting with prefix.
func wrap(b *bytes.Buffer, prefix, s string, width int) {
	width -= len(prefix)
	for len(s) > width {
		i := strings.LastIndexByte(s[:width+1], ' ')
		if i <= 0 {
			if i = strings.IndexByte(s, ' '); i < 0 {
				break
			}
		}
		b.WriteString(prefix + s[:i] + "\r\n")
		s = s[i+1:]
	}
	b.WriteString(prefix + s + "\r\n")
}

func (g *Generator) boundary() string {
	return fmt.Sprintf("=_%016x%08x", g.r.Uint64(), g.r.Uint32())
}

// attachment writes a PDF- or PNG-like part of random bytes: sizes are
// log-uniform between 10 KB and 200 KB.
func (g *Generator) attachment(b *bytes.Buffer) {
	lo, hi := math.Log(minAttachment), math.Log(maxAttachment)
	size := int(math.Exp(lo + (hi-lo)*g.r.Float64()))
	data := make([]byte, size)
	for i := 0; i < size; i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8 && i+j < size; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	var ctype, name string
	if g.r.IntN(5) < 3 {
		copy(data, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
		ctype = "application/pdf"
		name = fmt.Sprintf("%s-%s-%d.pdf", g.word(), g.word(), 1+g.r.IntN(99))
	} else {
		copy(data, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
		ctype = "image/png"
		name = fmt.Sprintf("IMG_%04d.png", g.r.IntN(10000))
	}
	fmt.Fprintf(b, "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", ctype, name, name)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
}
