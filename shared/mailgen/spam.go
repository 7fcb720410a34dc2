package mailgen

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"html"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// CorpusOptions shape a labelled corpus. The zero value is the default.
type CorpusOptions struct {
	// Seed selects the corpus: the same seed and options give the same
	// messages, labels and kinds in the same order.
	Seed int64
	// SpamRatio is the share of spam (default 0.5).
	SpamRatio float64
	// Difficulty is the share of each class that looks like the other
	// (default 0.25; negative: none; at most 1). Corpus's doc says which
	// kinds those are.
	Difficulty float64
}

// Labelled is one message of a corpus with its label.
type Labelled struct {
	// Raw is the message, RFC 5322 with CRLF line ends.
	Raw []byte
	// Spam is the label.
	Spam bool
	// Kind names what generated the message, as the Corpus doc lists them.
	Kind string
	// Hard is set for the kinds that look like the other class.
	Hard bool
}

// Corpus generates labelled spam and ham, deterministically from a seed,
// for training and measuring spam filters where no public corpus can be
// downloaded. It is not safe for concurrent use. Labelled.Kind names what
// made each message; the hard kinds, a share CorpusOptions.Difficulty
// (default 25%) of each class, are those that look like the other class.
//
// # Ham
//
//   - personal (easy): the mail of a Generator (attachments in 5%), with
//     what its delivery adds: Return-Path, the Received field of the
//     sender domain's mail host (a fixed address per host), in half of
//     them the submission hop before it, and for 40% the User-Agent or
//     X-Mailer of a mail client. One sender in 25 runs a mail server at
//     home, on a dynamic address with the rDNS of an ISP, as spam does.
//   - note (easy, a tenth of the easy ham): a short note between the same
//     people with a link to a shared document, a meeting or a merge
//     request on their company's domain.
//   - newsletter, order, account, billing, finance-news, travel, health
//     (hard): commercial mail, 40% from 12 companies seen again and
//     again, 60% from 300 vendors drawn at the start (names such as
//     "Copper Pharmacy", domains in .com, .shop, .store, .online...), so
//     most senders are rare: sales with "% off" and "free shipping",
//     order and shipping notices with amounts, sign-in alerts and password
//     resets, invoices and statements, market updates and card offers,
//     flight deals, prescription and appointment reminders. 30% of their
//     sentences come from phrases that spam uses too ("Buy now and get
//     free shipping worldwide", "Click the link below to verify your
//     account", "Save up to 40% on your prescriptions"). They are HTML
//     (often quoted-printable or base64) with tracking links and pixels,
//     in 40% a hidden preheader (display:none), DKIM, List-Id,
//     List-Unsubscribe, Precedence: bulk, and for half of them the hosts,
//     bounce addresses and click-tracking domains of 4 bulk mail
//     providers that some spam is sent through as well.
//   - forward (hard): a colleague forwarding an offer or a notice: a
//     line of office text above the quoted commercial mail and its link.
//
// # Spam
//
//   - pharma, finance (loans, crypto, debt, work from home), phishing
//     (suspended accounts, parcel fees, full mailboxes, in the name of
//     well-known brands), lottery (prizes and advance-fee fraud),
//     marketing (replicas, SEO, diets, casinos; a sixth in Russian, in
//     KOI8-R or windows-1251) (easy). Each draws its subjects and
//     sentences from its own templates of some 10 to 20 phrases, and 30%
//     of the sentences from the phrases shared with commercial ham, with
//     amounts, percentages, products and brands filled in.
//   - bec, salad, fake-invoice, fake-newsletter (hard): CEO fraud in a
//     few lines of office language under the display name of a real
//     colleague and a free-mail address; a short pitch drowned in
//     paragraphs of Generator's office text (Bayesian poisoning); an
//     invoice with a zip, HTML or .pdf.exe attachment or a document link;
//     a marketing newsletter with an unsubscribe footer and
//     List-Unsubscribe.
//
// Spam is sent as text/plain (30%), HTML only (40%) or both (30%), in
// 7/8bit, quoted-printable or base64 (a quarter each of the last two),
// in UTF-8, ISO-8859-1 or windows-1252, with a third of its subjects
// RFC 2047 encoded. 70% of it comes the way spam comes: Received from a
// dynamic or unknown host on a random network, a From that names a brand
// or a person on an unrelated domain (or the recipient's own address), a
// Return-Path elsewhere; 20% through the bulk mail providers of commercial
// ham, and 10% from a compromised account of one of Generator's people,
// through that domain's own mail host. Then a Reply-To at a free-mail
// provider (30%), odd or missing Message-ID and Date, bulk mailer names,
// X-Priority, undisclosed recipients, DKIM (20%). Its links go to 400
// campaign domains drawn at the start (70%) or a fresh one each time, to
// link shorteners (10%) and to bare IP addresses (10%), with tracking
// paths. A third of the spam hides its keywords: l33t (v1agra, cr3dit),
// letters spaced out (v.i.a.g.r.a, C I A L I S), Cyrillic look-alikes,
// zero-width characters, and in HTML comments or tags inside words and
// numeric entities; a quarter adds hash busters (random strings, or a
// hidden block of office words in HTML).
//
// Both classes write to the same 400 people (Generator's) and are
// received by the same host, mx1.jetmail.example.
type Corpus struct {
	o           CorpusOptions
	r           *rand.Rand
	ham         *Generator
	spamDomains []string
	vendors     []company
	n           int
}

// NewCorpus returns a generator of the corpus that o describes.
func NewCorpus(o CorpusOptions) *Corpus {
	if o.SpamRatio <= 0 || o.SpamRatio >= 1 {
		o.SpamRatio = 0.5
	}
	switch {
	case o.Difficulty == 0:
		o.Difficulty = 0.25
	case o.Difficulty < 0:
		o.Difficulty = 0
	case o.Difficulty > 1:
		o.Difficulty = 1
	}
	c := &Corpus{
		o:   o,
		r:   rand.New(rand.NewPCG(uint64(o.Seed), 0x7370616d636f7270)),
		ham: New(Options{Seed: o.Seed, AttachmentRatio: 0.05}),
	}
	for range 400 {
		c.spamDomains = append(c.spamDomains, c.freshDomain())
	}
	seen := map[string]bool{}
	for len(c.vendors) < 300 {
		adj, noun := pick(c.r, vendorWords), pick(c.r, vendorNouns)
		domain := strings.ToLower(adj+pick(c.r, []string{"", "-"})+noun) + "." + pick(c.r, vendorTLDs)
		if seen[domain] {
			continue
		}
		seen[domain] = true
		c.vendors = append(c.vendors, company{adj + " " + noun, domain, ""})
	}
	return c
}

// Next returns the next labelled message.
func (c *Corpus) Next() Labelled {
	c.n++
	if c.r.Float64() < c.o.SpamRatio {
		if c.r.Float64() < c.o.Difficulty {
			kind := pick(c.r, []string{"bec", "salad", "salad", "fake-invoice", "fake-newsletter"})
			return Labelled{Raw: c.hardSpam(kind), Spam: true, Kind: kind, Hard: true}
		}
		kind := pick(c.r, []string{"pharma", "finance", "phishing", "lottery", "marketing"})
		return Labelled{Raw: c.spam(kind), Spam: true, Kind: kind}
	}
	if c.r.Float64() < c.o.Difficulty {
		kind := pick(c.r, []string{"newsletter", "newsletter", "order", "account", "billing", "health", "finance-news", "travel", "forward"})
		if kind == "forward" {
			return Labelled{Raw: c.forward(), Kind: kind, Hard: true}
		}
		return Labelled{Raw: c.commercial(kind), Kind: kind, Hard: true}
	}
	if c.r.Float64() < 0.1 {
		return Labelled{Raw: c.note(), Kind: "note"}
	}
	return Labelled{Raw: c.personal(), Kind: "personal"}
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (c *Corpus) chance(p float64) bool { return c.r.Float64() < p }

const receiver = "mx1.jetmail.example"

// ---- ham ----

// stableIP gives a host name its fixed address in a documentation network.
func stableIP(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	nets := []string{"192.0.2", "198.51.100", "203.0.113"}
	return fmt.Sprintf("%s.%d", nets[v%3], 1+(v>>8)%253)
}

// received is a Received field as the receiving host writes it.
func received(helo, rdns, ip, rcpt string, date time.Time, with string) string {
	id := fmt.Sprintf("%X", fnv32(helo+rcpt+date.String()))
	from := fmt.Sprintf("%s (%s [%s])", helo, rdns, ip)
	return fmt.Sprintf("Received: from %s\r\n\tby %s (jetmail) with %s id %s\r\n\tfor <%s>; %s\r\n",
		from, receiver, with, id, rcpt, date.UTC().Format(time.RFC1123Z))
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

var (
	hamClients = []string{
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
		"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.2.0",
		"X-Mailer: Microsoft Outlook 16.0",
		"X-Mailer: Apple Mail (2.3731.700.6)",
		"X-Mailer: iPhone Mail (21F90)",
		"User-Agent: Roundcube Webmail/1.6.5",
		"User-Agent: Mutt/2.2.12 (2023-09-09)",
		"X-Mailer: Evolution 3.50.2",
	}
	spamMailers = []string{
		"X-Mailer: PHPMailer 6.0.7 (https://github.com/PHPMailer/PHPMailer)",
		"X-Mailer: Microsoft Outlook Express 6.00.2600.0000",
		"X-Mailer: The Bat! (v3.51.10) Professional",
		"X-Mailer: Foxmail 7.2.25.228",
		"X-Mailer: Microsoft Outlook 16.0",
		"X-Mailer: Mozilla 4.7 [en]C-CCK-MCD NSCPCD47  (Win98; I)",
		"X-Mailer: SendBlaster 4.1.5",
	}
)

// headerValue returns the value of the first field called name in raw's
// header (name with its colon, as "From:").
func headerValue(raw []byte, name string) string {
	for line := range strings.SplitSeq(string(raw[:max(bytes.Index(raw, []byte("\r\n\r\n")), 0)]), "\r\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// addrOf is the address in a From or To value: between angle brackets,
// or the whole value.
func addrOf(v string) string {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// relay prepends to a ham message what its delivery adds: the sender's
// mail host's Received, sometimes the submission hop before it, and
// Return-Path.
func (c *Corpus) relay(msg []byte, client bool) []byte {
	from := addrOf(headerValue(msg, "From:"))
	to := addrOf(headerValue(msg, "To:"))
	domain := from[strings.IndexByte(from, '@')+1:]
	date, err := time.Parse("Mon, 02 Jan 2006 15:04:05 -0700", headerValue(msg, "Date:"))
	if err != nil {
		date = yearStart
	}
	var b bytes.Buffer
	b.WriteString("Return-Path: <" + from + ">\r\n")
	host, rdns, ip := "mail."+domain, "mail."+domain, stableIP("mail."+domain)
	if fnv32(from)%25 == 0 {
		// One sender in 25 runs a mail server at home, on a dynamic address.
		ip = stableIP(from)
		rdns = "host-" + strings.ReplaceAll(ip, ".", "-") + "." + isps[fnv32(from)%uint32(len(isps))]
		host = pick(c.r, []string{rdns, "localhost", "homeserver"})
	}
	b.WriteString(received(host, rdns, ip, to, date.Add(time.Duration(5+c.r.IntN(60))*time.Second), "ESMTPS"))
	if c.chance(0.5) {
		fmt.Fprintf(&b, "Received: from [10.%d.%d.%d] (unknown [10.0.0.1])\r\n\tby %s with ESMTPSA; %s\r\n",
			c.r.IntN(256), c.r.IntN(256), 1+c.r.IntN(254), host, date.UTC().Format(time.RFC1123Z))
	}
	if client && c.chance(0.4) {
		b.WriteString(pick(c.r, hamClients) + "\r\n")
	}
	b.Write(msg)
	return b.Bytes()
}

func (c *Corpus) personal() []byte { return c.relay(c.ham.Next(), true) }

var noteLinks = []string{
	"https://docs.%s/document/d/%s/edit",
	"https://drive.%s/file/d/%s/view",
	"https://meet.%s/%s",
	"https://wiki.%s/display/TEAM/%s",
	"https://git.%s/team/project/-/merge_requests/%d",
}

// note is a short message between colleagues with a link on their
// company's domain.
func (c *Corpus) note() []byte {
	g := c.ham
	from := g.people[int(g.senders.Uint64())]
	to := g.people[g.others(1, 0)[0]]
	domain := from.addr[strings.IndexByte(from.addr, '@')+1:]
	date := yearStart.Add(time.Duration(c.r.Int64N(int64(yearLength))))
	tmpl := pick(c.r, noteLinks)
	var link string
	if strings.HasSuffix(tmpl, "%d") {
		link = fmt.Sprintf(tmpl, domain, 100+c.r.IntN(5000))
	} else {
		link = fmt.Sprintf(tmpl, domain, c.randID(12))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <%016x.n%d@%s>\r\n", c.r.Uint64(), c.n, domain)
	b.WriteString("Date: " + date.In(from.tz).Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n")
	b.WriteString("From: " + from.header() + "\r\nTo: " + to.header() + "\r\n")
	b.WriteString("Subject: " + g.subject() + "\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Hi " + to.first() + ",\r\n\r\n")
	wrap(&b, "", g.sentence()+" "+g.sentence(), 76)
	b.WriteString("\r\n" + link + "\r\n\r\n")
	wrap(&b, "", g.sentence(), 76)
	b.WriteString("\r\n" + pick(c.r, []string{"Thanks,", "Cheers,", "Best,"}) + "\r\n" + from.first() + "\r\n")
	return c.relay(b.Bytes(), true)
}

// company is a sender of commercial ham.
type company struct {
	name, domain, kind string // kind: shop, bank, airline, saas, health, utility
}

var companies = []company{
	{"Northwind Traders", "northwind.example", "shop"},
	{"Wingtip Toys", "wingtip.example", "shop"},
	{"Proseware Books", "proseware.example", "shop"},
	{"Adventure Works", "adventure-works.example", "shop"},
	{"Contoso Bank", "contoso.example", "bank"},
	{"Tailspin Airways", "tailspin.example", "airline"},
	{"Fabrikam Cloud", "fabrikam.example", "saas"},
	{"Litware Online", "litware.example", "saas"},
	{"Initech Payroll", "initech.example", "saas"},
	{"Umbrella Health", "umbrella.example", "health"},
	{"Globex Energy", "globex.example", "utility"},
	{"Hooli Mail", "hooli.example", "saas"},
}

var (
	espMailers = []string{"X-Mailer: MailerLite", "X-Mailer: Sendinblue", "X-Mailer: Customer.io", "X-Mailer: Salesforce Marketing Cloud"}
	categories = []string{"garden tools", "kitchen essentials", "outdoor gear", "books", "toys", "summer clothing", "electronics", "home office furniture"}
	days       = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "tomorrow", "tonight", "this weekend", "March 14", "June 30", "September 2", "December 1"}
	months     = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	browsers   = []string{"Chrome", "Firefox", "Safari", "Edge"}
	systems    = []string{"Windows", "macOS", "Linux", "iPhone", "Android"}
)

var commercialText = map[string]struct{ subjects, sentences []string }{
	"newsletter": {
		subjects: []string{
			"This week at {brand}: {pct}% off {category}", "New arrivals in {category}", "Your {month} newsletter from {brand}",
			"Last chance: our summer sale ends {day}", "Members save an extra {pct}% this week", "{brand} picks for you",
			"Free shipping on everything until {day}",
		},
		sentences: []string{
			"This week we have {pct}% off selected {category}.", "Free shipping on orders over ${price}.",
			"Shop the new collection now.", "Members save an extra {pct}% with code {CODE}.", "Our summer sale ends {day}.",
			"Read the latest stories from our blog.", "We picked a few favourites from our {category} range for you.",
			"Thank you for being a customer since {year}.", "Visit one of our stores or shop online.",
			"Our customer service team is here to help seven days a week.", "Limited stock, while supplies last.",
			"Check out the reviews from other customers.", "Join our loyalty program and earn points on every order.",
		},
	},
	"order": {
		subjects: []string{
			"Your {brand} order #{order} has shipped", "Order confirmation #{order}", "Your package is on its way",
			"Delivered: your {brand} order", "We received your return", "Your {brand} booking confirmation {CODE}",
		},
		sentences: []string{
			"Thank you for your order #{order}.", "Your order has shipped and is on its way.", "Track your package online at any time.",
			"Estimated delivery: {day}.", "Order total: ${price}.", "Questions? Visit our help center.",
			"Your items will arrive in {n} business days.", "We have received your return and will refund ${price} within five days.",
			"Your booking reference is {CODE}.", "Please keep this email for your records.", "You can change or cancel your order until it ships.",
		},
	},
	"account": {
		subjects: []string{
			"New sign-in to your {brand} account", "Reset your {brand} password", "Please verify your email address",
			"Security alert for your {brand} account", "Your {brand} password was changed", "Confirm your new device",
		},
		sentences: []string{
			"We noticed a new sign-in to your {brand} account from {browser} on {os}.", "If this was you, you can ignore this message.",
			"If you did not request a password reset, please ignore this email.", "To reset your password, follow the link below.",
			"Please verify your email address to finish setting up your account.", "This link expires in 24 hours.",
			"For your security, never share your password with anyone.", "If you did not make this change, contact our support team right away.",
			"Your verification code is {n}{n}{n}.", "We will never ask for your password by email.",
		},
	},
	"billing": {
		subjects: []string{
			"Your {brand} invoice {INV}", "Your {month} statement is ready", "Payment received, thank you",
			"Your {brand} bill is due on {day}", "Receipt for your payment to {brand}",
		},
		sentences: []string{
			"Your invoice {INV} for {month} is now available.", "Amount due: ${price}, due on {day}.",
			"You can view and pay your bill online.", "Your payment of ${price} was received, thank you.",
			"Your statement is ready to view in online banking.", "Automatic payment is set up for this account.",
			"The invoice is attached to this email as a PDF.", "If you have questions about your bill, reply to this email.",
			"Your account balance is ${price}.",
		},
	},
	"finance-news": {
		subjects: []string{
			"Your {month} market update", "Interest rates are changing: what it means for you", "Your portfolio summary",
			"Save more with a {rate}% savings account", "{brand}: tax season checklist", "Refinancing in {year}? Read this first",
		},
		sentences: []string{
			"Markets rose {pct}% this quarter, led by technology stocks.", "Our new savings account pays {rate}% interest.",
			"Your portfolio gained ${price} since last month.", "Talk to an advisor about your retirement plan.",
			"Mortgage rates fell to {rate}% this week.", "Past performance is no guarantee of future returns.",
			"Log in to see your statements and tax documents.", "Investing involves risk, including the loss of principal.",
			"Consider paying down high-interest debt first.", "Our credit card now offers {pct}% cash back on groceries.",
		},
	},
	"travel": {
		subjects: []string{
			"Fly to {city} from ${price}", "Last minute deals for {day}", "Your trip to {city}: check in now",
			"Members get {pct}% off hotels", "Summer escapes from ${price}", "Earn double miles until {day}",
		},
		sentences: []string{
			"Book by {day} and save up to {pct}% on flights.", "Round trip fares from ${price}, taxes included.",
			"Check in online 24 hours before departure.", "Your booking reference is {CODE}.", "Earn double miles on every flight this month.",
			"Upgrade to business class from ${price}.", "Hotels near the beach from ${price} a night.", "Free cancellation on most rooms.",
		},
	},
	"health": {
		subjects: []string{
			"Your prescription is ready for pickup", "Appointment reminder: {day}", "Your test results are available",
			"Time for your annual check-up", "{brand}: refill your prescription online",
		},
		sentences: []string{
			"Your prescription is ready for pickup at our {city} pharmacy.", "Reminder: your appointment with Dr. {last} is on {day}.",
			"Your test results are available in the patient portal.", "You can refill your prescription online or in the app.",
			"Please arrive ten minutes early and bring your insurance card.", "To cancel or reschedule, call us or use the portal.",
			"Your pharmacist can answer questions about your medication.",
		},
	},
}

var (
	vendorWords = []string{"Blue", "Green", "Bright", "Happy", "Urban", "Nordic", "Golden", "Silver", "Little", "Modern", "Simple", "Wild", "Coastal", "Maple", "Cedar", "Summit", "Harbor", "Prairie", "Sunny", "Velvet", "Copper", "Lucky", "Fresh", "Clever"}
	vendorNouns = []string{"Outfitters", "Market", "Supply", "Goods", "Books", "Coffee", "Garden", "Kitchen", "Travel", "Fitness", "Pharmacy", "Bank", "Insurance", "Studio", "Labs", "Pets", "Shoes", "Home", "Wine", "Tickets", "Deals", "Rewards", "Credit", "Health"}
	vendorTLDs  = []string{"com", "com", "com", "net", "co", "shop", "store", "io", "online", "co.uk", "de"}
)

var cities = []string{"Springfield", "Riverside", "Fairview", "Greenville", "Madison", "Franklin", "Clinton", "Salem"}

// esps are the bulk mail providers that companies send through, and
// some spammers too.
var esps = []string{"sendhub.example", "mailrelay-esp.example", "bulkmta.example", "campaign-mx.example"}

// espHost is one of an ESP's sending hosts.
func (c *Corpus) espHost() (host, esp string) {
	esp = pick(c.r, esps)
	return fmt.Sprintf("o%d.ptr%d.%s", 1+c.r.IntN(9), 100+c.r.IntN(40), esp), esp
}

// commercial is a message from a company the recipient deals with: one of
// the 12 seen often (40%) or of the 300 seen now and then.
func (c *Corpus) commercial(kind string) []byte {
	co := pick(c.r, companies)
	if c.chance(0.6) {
		co = pick(c.r, c.vendors)
	}
	if kind == "health" && c.chance(0.5) {
		co = companies[9]
	}
	rcpt := pick(c.r, c.ham.people)
	f := c.filler(co.name, co.domain, rcpt)
	text := commercialText[kind]
	date := yearStart.Add(time.Duration(c.r.Int64N(int64(yearLength))))
	sender := pick(c.r, []string{"news", "info", "no-reply", "noreply", "orders", "account", "billing", "hello", "offers", "deals"})

	var h bytes.Buffer
	esp := ""
	if c.chance(0.5) {
		var host string
		host, esp = c.espHost()
		h.WriteString("Return-Path: <bounces+" + c.randID(10) + "@" + esp + ">\r\n")
		h.WriteString(received(host, host, stableIP(host), rcpt.addr, date, "ESMTPS"))
	} else {
		mailHost := fmt.Sprintf("mta%d.mail.%s", 1+c.r.IntN(4), co.domain)
		h.WriteString("Return-Path: <bounce-" + c.randID(10) + "@mail." + co.domain + ">\r\n")
		h.WriteString(received(mailHost, mailHost, stableIP(mailHost), rcpt.addr, date, "ESMTPS"))
	}
	fmt.Fprintf(&h, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail;\r\n\tbh=%s; b=%s\r\n", co.domain, c.randB64(44), c.randB64(88))
	fmt.Fprintf(&h, "Message-ID: <%s.%d@%s>\r\n", c.randID(20), c.n, pick(c.r, []string{"mail." + co.domain, co.domain, cmp.Or(esp, co.domain)}))
	h.WriteString("Date: " + date.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n")
	fmt.Fprintf(&h, "From: %s <%s@%s>\r\n", co.name, sender, co.domain)
	h.WriteString("To: " + rcpt.header() + "\r\n")
	subject := f.fill(pick(c.r, text.subjects))
	if c.chance(0.1) {
		subject += pick(c.r, []string{"!", " \u2728", " \U0001F381"})
	}
	h.WriteString("Subject: " + c.encodeSubject(subject, "utf-8", 0.2) + "\r\n")
	if kind == "newsletter" || kind == "travel" || kind == "finance-news" || c.chance(0.3) {
		fmt.Fprintf(&h, "List-Id: %s <%s.list.%s>\r\n", co.name, kind, co.domain)
		fmt.Fprintf(&h, "List-Unsubscribe: <https://%s/unsubscribe?u=%s>, <mailto:unsubscribe@%s>\r\n", co.domain, c.randID(16), co.domain)
		h.WriteString("Precedence: bulk\r\n")
	}
	if c.chance(0.6) {
		h.WriteString(pick(c.r, espMailers) + "\r\n")
	}

	shared := sharedText[sharedKind[kind]]
	var paras []string
	for range 2 + c.r.IntN(4) {
		var p []string
		for range 1 + c.r.IntN(3) {
			if c.chance(0.3) {
				p = append(p, f.fill(pick(c.r, shared)))
			} else {
				p = append(p, f.fill(pick(c.r, text.sentences)))
			}
		}
		paras = append(paras, strings.Join(p, " "))
	}
	url := fmt.Sprintf("https://%s%s?utm_source=email&utm_medium=%s&utm_campaign=%s", pick(c.r, []string{"www.", "", "links.", "account."}), co.domain,
		kind, c.randID(8))
	if esp != "" && c.chance(0.6) {
		url = fmt.Sprintf("https://click.%s/ls/click?upn=%s", esp, c.randID(40))
	}
	if kind == "account" {
		url = fmt.Sprintf("https://account.%s/%s?token=%s", co.domain, pick(c.r, []string{"reset", "verify", "security", "devices"}), c.randID(32))
	}
	footer := fmt.Sprintf("You are receiving this email because you have an account at %s. %s, 100 Main Street, %s. Manage your email preferences or unsubscribe at https://%s/preferences.",
		co.domain, co.name, pick(c.r, cities), co.domain)
	d := draft{
		paras:   append([]string{"Hello " + rcpt.first() + ","}, paras...),
		links:   []link{{url, pick(c.r, []string{"View in browser", "Shop now", "Track your order", "Sign in", "View your bill", "Learn more"})}},
		footer:  footer,
		format:  pick(c.r, []string{"alternative", "alternative", "alternative", "html"}),
		cte:     pick(c.r, []string{"quoted-printable", "quoted-printable", "base64", "8bit"}),
		charset: pick(c.r, []string{"utf-8", "utf-8", "utf-8", "iso-8859-1"}),
	}
	if c.chance(0.4) {
		d.preheader = f.fill(pick(c.r, text.sentences))
	}
	if kind == "billing" && c.chance(0.3) {
		d.attachment = &attachmentPart{name: fmt.Sprintf("invoice-%s.pdf", f.slot("INV")), ctype: "application/pdf", data: c.randBytes(4000+c.r.IntN(8000), "%PDF-1.5\n")}
	}
	return c.render(h.Bytes(), d)
}

// forward is a colleague passing on an offer or a notice: the text of
// commercial mail quoted in a personal message.
func (c *Corpus) forward() []byte {
	g := c.ham
	from := g.people[int(g.senders.Uint64())]
	to := g.people[g.others(1, 0)[0]]
	domain := from.addr[strings.IndexByte(from.addr, '@')+1:]
	co := pick(c.r, c.vendors)
	if c.chance(0.4) {
		co = pick(c.r, companies)
	}
	kind := pick(c.r, []string{"newsletter", "travel", "finance-news", "order", "billing"})
	text := commercialText[kind]
	f := c.filler(co.name, co.domain, to)
	date := yearStart.Add(time.Duration(c.r.Int64N(int64(yearLength))))
	subject := f.fill(pick(c.r, text.subjects))

	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <%016x.f%d@%s>\r\n", c.r.Uint64(), c.n, domain)
	b.WriteString("Date: " + date.In(from.tz).Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n")
	b.WriteString("From: " + from.header() + "\r\nTo: " + to.header() + "\r\n")
	b.WriteString("Subject: " + c.encodeSubject(pick(c.r, []string{"Fwd: ", "FW: ", "Fw: "})+subject, "utf-8", 0) + "\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Hi " + to.first() + ",\r\n\r\n")
	wrap(&b, "", pick(c.r, []string{"Thought you might like this.", "Could be useful for the team.", "What do you think?", "FYI, see below.", "Worth a look for the offsite?"})+" "+g.sentence(), 76)
	b.WriteString("\r\n" + from.first() + "\r\n\r\n---------- Forwarded message ---------\r\n")
	fmt.Fprintf(&b, "From: %s <news@%s>\r\nDate: %s\r\nSubject: %s\r\n\r\n", co.name, co.domain, date.Add(-time.Duration(c.r.IntN(72))*time.Hour).Format("Mon, Jan 2, 2006 at 15:04"), subject)
	for range 2 + c.r.IntN(3) {
		wrap(&b, "", f.fill(pick(c.r, text.sentences))+" "+f.fill(pick(c.r, text.sentences)), 76)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "https://%s/%s?utm_source=email&utm_campaign=%s\r\n", co.domain, pick(c.r, []string{"deals", "offers", "account", "news"}), c.randID(8))
	return c.relay(b.Bytes(), true)
}

// ---- spam ----

var spamText = map[string]struct{ subjects, sentences, calls []string }{
	"pharma": {
		subjects: []string{
			"Cheap {drug} online - {pct}% off", "Your {drug} prescription is ready", "Men's health: {drug} without prescription",
			"Best prices on {drug} and {drug2}", "Buy {drug} now, discreet shipping", "Order {drug} today - no doctor visit",
			"{drug} {dose}mg from ${small}", "Re: your pharmacy order", "Generic {drug} at wholesale prices",
		},
		sentences: []string{
			"Get {drug} at the lowest prices online.", "No prescription needed, FDA approved generic {drug}.",
			"Discreet packaging and fast worldwide shipping.", "Save up to {pct}% on all medications today.",
			"Our licensed online pharmacy offers {drug}, {drug2} and more.", "Order now and receive {n} free pills with every order.",
			"100% satisfaction guaranteed or your money back.", "Trusted by over {n},000 satisfied customers worldwide.",
			"Special offer expires {day}.", "Improve your performance and confidence tonight.", "{drug} {dose}mg x {n} pills only ${small}.",
			"Secure ordering, we accept Visa, MasterCard and Bitcoin.", "No doctor visit, no embarrassment, no waiting.",
			"Top quality medications from certified manufacturers.", "Reorder discounts for returning customers.",
		},
		calls: []string{"Order now", "Visit our pharmacy", "Buy {drug} here", "Get your pills"},
	},
	"finance": {
		subjects: []string{
			"Pre-approved: ${amount} loan at {rate}% APR", "Earn ${amount} a week from home", "Bitcoin investment: {pct}% returns guaranteed",
			"Eliminate your debt today", "Your credit score just changed", "Refinance now - rates at record low",
			"Make ${amount} per month with this secret system", "Final notice: your loan approval expires {day}",
		},
		sentences: []string{
			"You have been pre-approved for a personal loan of up to ${amount}.", "No credit check required, funds in your account within 24 hours.",
			"Our crypto trading platform delivers {pct}% monthly returns.", "Join thousands of investors earning passive income.",
			"Consolidate your debt and lower your monthly payment.", "This is a limited-time opportunity, act now.",
			"Start with a minimum deposit of only ${small}.", "Financial freedom is one click away.", "Risk-free investment, guaranteed profit.",
			"Work from home and earn ${amount} per month.", "Bad credit? No problem, everyone is approved.",
			"Our automated trading robot made ${amount} last week.", "Double your bitcoin in {n} days.", "Lowest interest rates of {rate}% fixed.",
		},
		calls: []string{"Apply now", "Get your cash", "Start earning", "Claim your approval"},
	},
	"phishing": {
		subjects: []string{
			"Your account has been suspended", "Action required: verify your account", "Unusual sign-in activity detected",
			"Your package could not be delivered", "Payment declined - update your billing information", "Your mailbox is full",
			"Security alert: confirm your identity", "[{brand}] Your account will be closed", "Invoice payment failed",
		},
		sentences: []string{
			"We detected unusual activity on your {brand} account.", "Your account will be suspended within 24 hours unless you verify your information.",
			"Please confirm your identity by clicking the link below.", "Update your billing details to avoid service interruption.",
			"Log in now to restore full access.", "Failure to verify will result in permanent account closure.",
			"Your package is on hold because of an unpaid shipping fee of ${small}.", "Your mailbox storage is full; incoming messages will be rejected.",
			"For your security, we have temporarily limited your account.", "Sign in to review the recent activity.",
			"Dear customer, your password expires today.", "Confirm your card number and security code to continue.",
			"This is an automated message from the {brand} security team.",
		},
		calls: []string{"Verify now", "Sign in", "Restore access", "Confirm your identity", "Pay the fee"},
	},
	"lottery": {
		subjects: []string{
			"Congratulations! You have won ${amount}", "Winning notification: claim your prize", "Urgent business proposal",
			"Inheritance fund of ${amount} million", "Your email has been selected", "Beneficiary payment release",
			"Attention: unclaimed funds in your name", "From the desk of barrister {person}",
		},
		sentences: []string{
			"Your email address was selected in our annual international lottery draw.", "You have won the sum of ${amount} USD.",
			"To claim your prize, contact our claims agent with your full name, address and phone number.",
			"I am barrister {person}, the personal attorney to the late {person2}.", "I need your assistance to transfer ${amount} million into your account.",
			"You will receive {pct}% of the total fund for your help.", "This transaction is 100% risk free and confidential.",
			"Please reply urgently with your details.", "Kindly send a processing fee of ${small} to release the funds.",
			"God bless you as you respond.", "The funds are deposited with a security company in London.", "Your winning number is {order}.",
		},
		calls: []string{"Claim your prize", "Reply now", "Contact the agent"},
	},
	"marketing": {
		subjects: []string{
			"Rolex replicas from ${small}", "Get your website on page 1 of Google", "Lose {n} pounds in {n2} days",
			"Limited offer: {pct}% off today only", "You've been chosen for an exclusive deal", "Hot deal: {product} at ${price}",
			"Casino bonus: {pct}% on your first deposit", "Last chance to claim your free gift", "Re: partnership opportunity",
		},
		sentences: []string{
			"Luxury replica watches at a fraction of the price.", "We can get your website ranked on the first page of Google.",
			"Our SEO experts guarantee more traffic and more sales.", "Burn fat fast with this all-natural supplement.",
			"Doctors hate this one simple trick.", "Exclusive deal for our valued customers only.", "Buy now and get free shipping worldwide.",
			"This offer will not last, order today.", "Claim your {pct}% welcome bonus now.", "Get {product} for only ${price}.",
			"Thousands of happy customers cannot be wrong.", "Spin the wheel and win up to ${amount}.", "Your free gift is waiting for you.",
			"Unsubscribe if you no longer wish to receive our offers.", "We build high quality backlinks for your site.",
		},
		calls: []string{"Shop now", "Claim your deal", "Get started", "Play now", "Learn more"},
	},
}

// sharedText are the phrases that legitimate commercial mail and spam
// both use, by spam kind; sharedKind says which of them each kind of
// commercial ham borrows from.
var (
	sharedText = map[string][]string{
		"marketing": {"Buy now and get free shipping worldwide.", "This offer will not last, order today.",
			"Exclusive deal for our valued customers only.", "Your free gift is waiting for you.", "Claim your {pct}% welcome bonus now.",
			"Thousands of happy customers cannot be wrong.", "Limited time offer: {pct}% off everything.", "Act now, this deal ends {day}.",
			"Click the button below to see all offers.", "Don't miss out on our biggest sale of the year."},
		"phishing": {"For your security, we have temporarily limited access to your account.", "Sign in to review the recent activity.",
			"Please confirm your identity to continue.", "Update your billing details to avoid service interruption.", "Your password expires soon.",
			"This is an automated message from the {brand} security team.", "Click the link below to verify your account.",
			"Your payment could not be processed."},
		"finance": {"Consolidate your debt and lower your monthly payment.", "You have been pre-approved for a credit card with a ${amount} limit.",
			"Lowest interest rates of {rate}% fixed.", "Start investing with as little as ${small}.", "Earn {pct}% cash back on every purchase.",
			"Apply online in minutes."},
		"pharma": {"Save up to {pct}% on your prescriptions.", "Order your refills online with free delivery.", "Discreet packaging and fast shipping.",
			"Generic medications at lower prices.", "Talk to a licensed pharmacist online."},
		"lottery": {"Congratulations, you have been selected.", "Reply to claim your reward.", "You are one of our lucky winners this month."},
	}
	sharedKind = map[string]string{
		"newsletter": "marketing", "travel": "marketing", "order": "marketing", "account": "phishing",
		"billing": "phishing", "finance-news": "finance", "health": "pharma",
	}
)

var (
	drugs        = []string{"Viagra", "Cialis", "Levitra", "Xanax", "Valium", "Tramadol", "Ambien", "Phentermine", "Propecia", "Soma", "Oxycodone", "Kamagra"}
	products     = []string{"iPhone 15", "a smart watch", "wireless earbuds", "a drone", "a massage chair", "a solar generator", "designer sunglasses"}
	brands       = []string{"PayPal", "Apple", "Microsoft 365", "Netflix", "Amazon", "Bank of America", "Wells Fargo", "DHL Express", "Chase", "Office365", "Outlook Web Access", "FedEx"}
	spamWords    = []string{"secure", "verify", "account", "login", "update", "online", "pharma", "meds", "rx", "cash", "loan", "prize", "win", "deal", "offer", "best", "top", "cheap", "bonus", "crypto", "invest", "shop", "health", "service", "support", "center", "global", "fast", "easy", "mega", "smart", "pro"}
	spamTLDs     = []string{"top", "xyz", "ru", "info", "biz", "click", "shop", "online", "site", "com", "net", "live", "club", "store", "icu", "buzz"}
	shorteners   = []string{"bit.ly", "tinyurl.com", "t.co", "goo.gl", "is.gd", "ow.ly", "rebrand.ly"}
	isps         = []string{"dyn.bigisp.example", "pool.telecom.example", "dsl.netprovider.example", "cable.broadband.example", "static.hosting.example", "adsl.provider.example", "mobile.carrier.example"}
	freemail     = []string{"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "mail.ru", "aol.com", "protonmail.com"}
	spamNets     = []int{5, 31, 37, 41, 45, 46, 62, 77, 78, 79, 80, 81, 85, 88, 91, 93, 94, 95, 103, 109, 110, 112, 113, 114, 117, 118, 119, 122, 123, 125, 141, 146, 151, 154, 156, 176, 177, 178, 179, 180, 181, 182, 185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 196, 197, 200, 201, 202, 212, 213, 217}
	obfuscatable = []string{"viagra", "cialis", "levitra", "xanax", "pharmacy", "prescription", "pills", "loan", "credit", "bitcoin", "casino", "winner", "lottery", "prize", "verify", "account", "password", "free", "money", "cash", "replica", "rolex", "bonus", "offer", "guaranteed"}
)

// Russian spam, sent in KOI8-R or windows-1251.
var (
	russianSubjects = []string{"Выгодное предложение для вас", "Скидка {pct}% только сегодня", "Заработок в интернете от {amount} рублей",
		"Реклама вашего бизнеса", "Бесплатная доставка по всей России"}
	russianSentences = []string{"Выгодное предложение только для вас.", "Скидка {pct}% на все товары до конца недели.",
		"Заработок в интернете от {amount} рублей в день.", "Звоните прямо сейчас, наши менеджеры ответят на все вопросы.",
		"Рассылка рекламы по базам email адресов.", "Бесплатная доставка по всей России.", "Уважаемый клиент, акция действует до {n} числа.",
		"Увеличим продажи вашей компании в {n} раза.", "Лучшие цены в городе, гарантия качества."}
)

// freshDomain draws a campaign domain.
func (c *Corpus) freshDomain() string {
	switch c.r.IntN(3) {
	case 0:
		return pick(c.r, spamWords) + "-" + pick(c.r, spamWords) + "." + pick(c.r, spamTLDs)
	case 1:
		return pick(c.r, spamWords) + pick(c.r, spamWords) + fmt.Sprint(c.r.IntN(100)) + "." + pick(c.r, spamTLDs)
	default:
		var s strings.Builder
		for range 2 + c.r.IntN(3) {
			s.WriteString(pick(c.r, syllables))
		}
		return s.String() + "." + pick(c.r, spamTLDs)
	}
}

func (c *Corpus) spamDomain() string {
	if c.chance(0.7) {
		return pick(c.r, c.spamDomains)
	}
	return c.freshDomain()
}

// spamURL is a campaign link: a campaign domain with a tracking path, a
// shortener or a bare address.
func (c *Corpus) spamURL(domain string) string {
	switch x := c.r.IntN(10); {
	case x == 0:
		return "https://" + pick(c.r, shorteners) + "/" + c.randID(7)
	case x == 1:
		return fmt.Sprintf("http://%d.%d.%d.%d/%s/index.php?id=%s", pick(c.r, spamNets), c.r.IntN(256), c.r.IntN(256), 1+c.r.IntN(254), c.randID(4), c.randID(8))
	default:
		path := pick(c.r, []string{"/", "/c/", "/r/", "/track/", "/go/", "/offer/", "/lp/", "/secure/login/", "/"})
		q := pick(c.r, []string{"", "?id=", "?ref=", "?u=", "?cid="})
		url := pick(c.r, []string{"http://", "https://", "http://www."}) + domain + path + c.randID(6+c.r.IntN(6))
		if q != "" {
			url += q + c.randID(10)
		}
		return url
	}
}

// spamIP is an address on a random network.
func (c *Corpus) spamIP() string {
	return fmt.Sprintf("%d.%d.%d.%d", pick(c.r, spamNets), c.r.IntN(256), c.r.IntN(256), 1+c.r.IntN(254))
}

// spamHeader writes the header fields of spam up to Subject: Received
// from a dynamic or unknown host, a forged or unrelated From, and the odd
// Message-ID, Date and mailer fields of bulk senders.
func (c *Corpus) spamHeader(h *bytes.Buffer, fromName, fromAddr string, rcpt person, date time.Time) {
	ip := c.spamIP()
	dash := strings.ReplaceAll(ip, ".", "-")
	var helo, rdns, returnPath string
	switch x := c.r.IntN(10); {
	case x < 2: // through a bulk mail provider, as commercial mail comes
		var esp string
		helo, esp = c.espHost()
		rdns, ip = helo, stableIP(helo)
		returnPath = "bounces+" + c.randID(10) + "@" + esp
	case x < 3: // from a compromised account of a real domain, as its owner
		p := pick(c.r, c.ham.people)
		fromAddr = p.addr
		if c.chance(0.5) {
			fromName = p.name
		}
		helo = "mail." + p.addr[strings.IndexByte(p.addr, '@')+1:]
		rdns, ip = helo, stableIP(helo)
		returnPath = p.addr
	}
	domain := fromAddr[strings.IndexByte(fromAddr, '@')+1:]
	if helo == "" {
		switch c.r.IntN(4) {
		case 0:
			helo, rdns = "User", "unknown"
		case 1:
			rdns = fmt.Sprintf("host-%s.%s", dash, pick(c.r, isps))
			helo = rdns
		case 2:
			rdns = fmt.Sprintf("mail%d.%s", c.r.IntN(20), domain)
			helo = rdns
		default:
			helo, rdns = pick(c.r, []string{"localhost", "ylmf-pc", "win-" + strings.ToLower(c.randID(8)), pick(c.r, c.spamDomains)}), "ip-"+dash+"."+pick(c.r, isps)
		}
		returnPath = fromAddr
		if c.chance(0.5) {
			returnPath = "bounce-" + c.randID(8) + "@" + c.spamDomain()
		}
	}
	h.WriteString("Return-Path: <" + returnPath + ">\r\n")
	h.WriteString(received(helo, rdns, ip, rcpt.addr, date, pick(c.r, []string{"ESMTP", "SMTP", "ESMTPS"})))
	if c.chance(0.2) {
		fmt.Fprintf(h, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=default;\r\n\tbh=%s; b=%s\r\n", domain, c.randB64(44), c.randB64(88))
	}
	switch x := c.r.IntN(10); {
	case x == 0: // none
	case x < 3:
		fmt.Fprintf(h, "Message-ID: <%s@%s>\r\n", c.randID(16), pick(c.r, []string{"localhost", "localhost.localdomain", pick(c.r, c.spamDomains)}))
	default:
		fmt.Fprintf(h, "Message-ID: <%d.%s@%s>\r\n", date.Unix(), c.randID(12), domain)
	}
	if !c.chance(0.05) {
		zone := time.FixedZone("", pick(c.r, []int{-8, -5, 0, 1, 3, 8})*3600)
		h.WriteString("Date: " + date.In(zone).Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\r\n")
	}
	if fromName != "" {
		name := fromName
		if !isASCII(name) || c.chance(0.2) {
			name = mime.BEncoding.Encode("utf-8", name)
		} else {
			name = `"` + name + `"`
		}
		h.WriteString("From: " + name + " <" + fromAddr + ">\r\n")
	} else {
		h.WriteString("From: " + fromAddr + "\r\n")
	}
	switch x := c.r.IntN(10); {
	case x == 0:
		h.WriteString("To: undisclosed-recipients:;\r\n")
	case x == 1:
		h.WriteString("To: " + rcpt.addr + "\r\n")
	default:
		h.WriteString("To: " + rcpt.header() + "\r\n")
	}
	if c.chance(0.3) {
		h.WriteString("Reply-To: " + strings.ToLower(c.randID(8)) + "@" + pick(c.r, freemail) + "\r\n")
	}
	if c.chance(0.5) {
		h.WriteString(pick(c.r, spamMailers) + "\r\n")
	}
	if c.chance(0.3) {
		h.WriteString("X-Priority: " + pick(c.r, []string{"1 (Highest)", "1", "3"}) + "\r\n")
	}
}

// spam is an easy spam message of a kind.
func (c *Corpus) spam(kind string) []byte {
	rcpt := pick(c.r, c.ham.people)
	domain := c.spamDomain()
	brand := pick(c.r, brands)
	f := c.filler(brand, domain, rcpt)
	date := yearStart.Add(time.Duration(c.r.Int64N(int64(yearLength))))
	text := spamText[kind]
	russian := kind == "marketing" && c.chance(1.0/6)

	var fromName, fromAddr string
	local := pick(c.r, []string{"info", "support", "service", "noreply", "sales", "admin", "security", "offers", "news", strings.ToLower(c.randID(6))})
	switch {
	case kind == "phishing":
		fromName, fromAddr = brand+pick(c.r, []string{"", " Support", " Security", " Team", " Service"}), local+"@"+domain
	case c.chance(0.1):
		fromName, fromAddr = rcpt.name, rcpt.addr // from the recipient's own address
	case c.chance(0.5):
		p := pick(c.r, c.ham.people)
		fromName = p.name
		fromAddr = strings.ToLower(strings.ReplaceAll(p.first(), " ", "")) + fmt.Sprint(c.r.IntN(1000)) + "@" + domain
		fromAddr = fold.Replace(fromAddr)
	default:
		fromAddr = local + "@" + domain
		if c.chance(0.5) {
			fromName = pick(c.r, []string{"Pharmacy Online", "Customer Service", "Rewards Center", "Claims Department", "Best Deals", "Investment Team", "Dr. " + pick(c.r, lastNames)})
		}
	}
	var h bytes.Buffer
	c.spamHeader(&h, fromName, fromAddr, rcpt, date)

	charset := pick(c.r, []string{"utf-8", "utf-8", "iso-8859-1", "windows-1252"})
	var subject string
	var paras []string
	if russian {
		charset = pick(c.r, []string{"koi8-r", "windows-1251"})
		subject = f.fill(pick(c.r, russianSubjects))
		for range 2 + c.r.IntN(3) {
			paras = append(paras, f.fill(pick(c.r, russianSentences))+" "+f.fill(pick(c.r, russianSentences)))
		}
	} else {
		subject = f.fill(pick(c.r, text.subjects))
		if c.chance(0.15) {
			subject = strings.ToUpper(subject)
		}
		if c.chance(0.2) {
			subject += pick(c.r, []string{"!", "!!", "!!!", " $$$"})
		}
		if c.chance(0.15) {
			subject += " [" + c.randID(5) + "]"
		}
		greet := pick(c.r, []string{"Dear customer,", "Hello " + rcpt.first() + ",", "Dear friend,", "Hi,", "Attention:", "Dear " + rcpt.addr + ","})
		paras = append(paras, greet)
		for range 1 + c.r.IntN(4) {
			var p []string
			for range 1 + c.r.IntN(3) {
				if c.chance(0.3) {
					p = append(p, f.fill(pick(c.r, sharedText[kind])))
				} else {
					p = append(p, f.fill(pick(c.r, text.sentences)))
				}
			}
			paras = append(paras, strings.Join(p, " "))
		}
	}
	obfuscate := !russian && c.chance(1.0/3)
	if obfuscate {
		subject = c.obfuscate(subject, false)
		for i := range paras {
			paras[i] = c.obfuscate(paras[i], false)
		}
	}
	h.WriteString("Subject: " + c.encodeSubject(subject, charset, 1.0/3) + "\r\n")

	var links []link
	call := "Click here"
	if len(text.calls) > 0 && !russian {
		call = f.fill(pick(c.r, text.calls))
	}
	for range 1 + c.r.IntN(2) {
		links = append(links, link{c.spamURL(domain), call})
	}
	d := draft{
		paras:     paras,
		links:     links,
		format:    pick(c.r, []string{"plain", "plain", "plain", "html", "html", "html", "html", "alternative", "alternative", "alternative"}),
		cte:       pick(c.r, []string{"8bit", "8bit", "quoted-printable", "base64"}),
		charset:   charset,
		obfuscate: obfuscate,
	}
	if c.chance(0.5) {
		d.footer = pick(c.r, []string{
			"To unsubscribe, reply with REMOVE in the subject.", "This message was sent to " + rcpt.addr + ". Unsubscribe here.",
			"You received this email because you opted in to receive offers from our partners.", "Copyright 2025. All rights reserved.",
		})
	}
	if c.chance(0.25) {
		c.hashBuster(&d)
	}
	return c.render(h.Bytes(), d)
}

// hashBuster adds random strings, or in HTML a hidden block of office
// words, to make each copy of a campaign differ.
func (c *Corpus) hashBuster(d *draft) {
	if d.format != "plain" && c.chance(0.5) {
		var w []string
		for range 20 + c.r.IntN(60) {
			w = append(w, c.ham.word())
		}
		d.hidden = strings.Join(w, " ")
		return
	}
	var w []string
	for range 3 + c.r.IntN(8) {
		w = append(w, strings.ToLower(c.randID(4+c.r.IntN(6))))
	}
	d.paras = append(d.paras, strings.Join(w, " "))
}

// hardSpam is spam that looks like ham.
func (c *Corpus) hardSpam(kind string) []byte {
	rcpt := pick(c.r, c.ham.people)
	date := yearStart.Add(time.Duration(c.r.Int64N(int64(yearLength))))
	domain := c.spamDomain()
	f := c.filler(pick(c.r, brands), domain, rcpt)
	var h bytes.Buffer
	d := draft{format: "plain", cte: "8bit", charset: "utf-8"}
	switch kind {
	case "bec":
		boss := pick(c.r, c.ham.people)
		addr := fold.Replace(strings.ToLower(strings.ReplaceAll(boss.name, " ", "."))) + fmt.Sprint(c.r.IntN(100)) + "@" + pick(c.r, freemail)
		c.spamHeader(&h, boss.name, addr, rcpt, date)
		h.WriteString("Subject: " + pick(c.r, []string{"Urgent", "Quick request", "Are you available?", "Payment today", "Confidential", "Task for you", c.ham.subject()}) + "\r\n")
		d.paras = []string{
			"Hi " + rcpt.first() + ",",
			pick(c.r, []string{"Are you at your desk? I need you to take care of a payment for a new vendor today.",
				"I need a favour. Can you purchase some gift cards for a client meeting this afternoon?",
				"Please process a wire transfer of ${amount} to the account below before the end of the day.",
				"Are you available? I have a confidential task for you and I am in a meeting right now."}),
			c.ham.sentence() + " " + pick(c.r, []string{"It is urgent and confidential.", "Do not discuss this with anyone else for now.", "Reply to this email only, I cannot take calls."}),
			pick(c.r, []string{"Let me know when you can do it.", "Send me the codes when you have them.", "Confirm once it is done."}),
			"Regards,\n" + boss.first() + "\nSent from my iPhone",
		}
		for i := range d.paras {
			d.paras[i] = f.fill(d.paras[i])
		}
	case "salad":
		k := pick(c.r, []string{"pharma", "finance", "marketing", "lottery"})
		c.spamHeader(&h, c.ham.people[int(c.ham.senders.Uint64())].name, strings.ToLower(c.randID(7))+"@"+domain, rcpt, date)
		h.WriteString("Subject: " + c.encodeSubject(c.ham.subject(), "utf-8", 0.3) + "\r\n")
		text := spamText[k]
		d.paras = append(d.paras, f.fill(pick(c.r, text.sentences))+" "+f.fill(pick(c.r, text.sentences)))
		d.links = []link{{c.spamURL(domain), f.fill(pick(c.r, text.calls))}}
		for range 2 + c.r.IntN(5) {
			var p []string
			for range 2 + c.r.IntN(4) {
				p = append(p, c.ham.sentence())
			}
			d.paras = append(d.paras, strings.Join(p, " "))
		}
		d.format = pick(c.r, []string{"plain", "html", "alternative"})
		d.cte = pick(c.r, []string{"8bit", "quoted-printable", "base64"})
	case "fake-invoice":
		co := pick(c.r, companies)
		c.spamHeader(&h, pick(c.r, []string{co.name, "Accounts Payable", "Billing Department", c.ham.people[c.r.IntN(len(c.ham.people))].name}), pick(c.r, []string{"billing", "invoice", "accounts"})+"@"+domain, rcpt, date)
		h.WriteString("Subject: " + f.fill(pick(c.r, []string{"Invoice {INV}", "RE: Invoice {INV} overdue", "Payment advice {INV}", "Your document is ready", "Outstanding balance ${price}"})) + "\r\n")
		d.paras = []string{
			pick(c.r, []string{"Hello,", "Dear " + rcpt.first() + ",", "Good morning,"}),
			f.fill(pick(c.r, []string{"Please find attached the invoice {INV} for your review.", "Your invoice {INV} is overdue, please settle the amount of ${price} today.",
				"A document has been shared with you for signature.", "Attached is the payment advice for {INV}."})),
			c.ham.sentence(),
			pick(c.r, []string{"Thank you.", "Kind regards,\nAccounts team", "Best regards"}),
		}
		if c.chance(0.5) {
			name := f.fill(pick(c.r, []string{"Invoice_{INV}.zip", "{INV}.html", "Payment_{order}.pdf.exe", "Document_{n}{n}.zip"}))
			ctype := "application/zip"
			switch {
			case strings.HasSuffix(name, ".html"):
				ctype = "text/html"
			case strings.HasSuffix(name, ".exe"):
				ctype = "application/octet-stream"
			}
			d.attachment = &attachmentPart{name: name, ctype: ctype, data: c.randBytes(3000+c.r.IntN(20000), "PK\x03\x04")}
		} else {
			d.links = []link{{fmt.Sprintf("https://%s/%s/doc/%s", pick(c.r, []string{"docs-share." + pick(c.r, spamTLDs), domain, "sharepoint-" + domain}), c.randID(6), c.randID(10)), "View document"}}
		}
	default: // fake-newsletter
		text := spamText["marketing"]
		name := pick(c.r, []string{"Deals Daily", "Smart Shopper", "Top Offers Weekly", "Health Insider", "Money Tips"})
		c.spamHeader(&h, name, "news@"+domain, rcpt, date)
		fmt.Fprintf(&h, "List-Unsubscribe: <http://%s/unsubscribe?e=%s>\r\n", domain, c.randID(12))
		h.WriteString("Subject: " + f.fill(pick(c.r, append(commercialText["newsletter"].subjects, text.subjects...))) + "\r\n")
		for range 2 + c.r.IntN(4) {
			d.paras = append(d.paras, f.fill(pick(c.r, commercialText["newsletter"].sentences))+" "+f.fill(pick(c.r, text.sentences)))
		}
		d.links = []link{{c.spamURL(domain), f.fill(pick(c.r, text.calls))}}
		d.footer = "You are receiving this email because you subscribed at " + domain + ". Unsubscribe at any time."
		d.format = pick(c.r, []string{"html", "alternative"})
		d.cte = pick(c.r, []string{"quoted-printable", "base64", "8bit"})
	}
	return c.render(h.Bytes(), d)
}

// obfuscate hides the keywords of s the ways spam does; inHTML allows
// the ways that only markup has.
func (c *Corpus) obfuscate(s string, inHTML bool) string {
	words := strings.Fields(s)
	for i, w := range words {
		core := strings.Trim(w, ".,!?:;$")
		lw := strings.ToLower(core)
		if !slices.Contains(obfuscatable, lw) || c.chance(0.3) {
			continue
		}
		var o string
		n := 5
		if inHTML {
			n = 8
		}
		switch c.r.IntN(n) {
		case 0:
			o = leetify(core)
		case 1:
			o = spaceOut(core, pick(c.r, []string{".", "-", "_"}))
		case 2:
			o = spaceOut(strings.ToUpper(core), " ")
		case 3:
			o = cyrillic(core)
		case 4:
			o = core[:len(core)/2] + "\u200b" + core[len(core)/2:]
		case 5:
			o = core[:len(core)/2] + "<!-- " + c.randID(6) + " -->" + core[len(core)/2:]
		case 6:
			o = "<b>" + core[:1] + "</b>" + core[1:]
		default:
			o = fmt.Sprintf("&#%d;", core[0]) + core[1:]
		}
		words[i] = strings.Replace(w, core, o, 1)
	}
	return strings.Join(words, " ")
}

func leetify(w string) string {
	r := strings.NewReplacer("i", "1", "I", "1", "o", "0", "O", "0", "e", "3", "E", "3", "a", "@", "s", "$")
	out := []byte(w)
	// Replace one or two letters, not all: v1agra, cr3dit.
	done := 0
	for i := 1; i < len(out)-1 && done < 2; i++ {
		if s := r.Replace(string(out[i])); s != string(out[i]) {
			out[i] = s[0]
			done++
		}
	}
	return string(out)
}

func spaceOut(w, sep string) string {
	return strings.Join(strings.Split(w, ""), sep)
}

var toCyrillic = map[rune]rune{'a': 'а', 'e': 'е', 'o': 'о', 'p': 'р', 'c': 'с', 'x': 'х', 'i': 'і', 'A': 'А', 'E': 'Е', 'O': 'О', 'C': 'С'}

func cyrillic(w string) string {
	done := false
	return strings.Map(func(r rune) rune {
		if c, ok := toCyrillic[r]; ok && !done {
			done = true
			return c
		}
		return r
	}, w)
}

// ---- filling templates ----

// filler fills the {slots} of templates for one message: the brand,
// domain and recipient stay the same, numbers are drawn anew each time.
type filler struct {
	c      *Corpus
	brand  string
	domain string
	rcpt   person
}

func (c *Corpus) filler(brand, domain string, rcpt person) *filler {
	return &filler{c: c, brand: brand, domain: domain, rcpt: rcpt}
}

func (f *filler) fill(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(f.slot(s[i+1 : i+j]))
		s = s[i+j+1:]
	}
}

func (f *filler) slot(name string) string {
	r := f.c.r
	switch name {
	case "brand":
		return f.brand
	case "domain":
		return f.domain
	case "drug", "drug2":
		return pick(r, drugs)
	case "pct":
		return fmt.Sprint(pick(r, []int{10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90}))
	case "amount":
		return fmt.Sprintf("%d,%03d", 1+r.IntN(900), r.IntN(1000))
	case "small":
		return fmt.Sprintf("%d.%02d", 1+r.IntN(99), r.IntN(100))
	case "price":
		return fmt.Sprintf("%d.%02d", 5+r.IntN(495), r.IntN(100))
	case "rate":
		return fmt.Sprintf("%d.%d", 1+r.IntN(9), r.IntN(10))
	case "dose":
		return fmt.Sprint(pick(r, []int{5, 10, 20, 50, 100}))
	case "n", "n2":
		return fmt.Sprint(2 + r.IntN(30))
	case "product":
		return pick(r, products)
	case "category":
		return pick(r, categories)
	case "day":
		return pick(r, days)
	case "month":
		return pick(r, months)
	case "year":
		return fmt.Sprint(2010 + r.IntN(15))
	case "order":
		return fmt.Sprintf("%03d-%07d", r.IntN(1000), r.IntN(10000000))
	case "INV":
		return fmt.Sprintf("INV-%d", 10000+r.IntN(90000))
	case "CODE":
		return strings.ToUpper(f.c.randID(6))
	case "browser":
		return pick(r, browsers)
	case "os":
		return pick(r, systems)
	case "city":
		return pick(r, cities)
	case "last":
		return pick(r, lastNames)
	case "person", "person2":
		return pick(r, firstNames) + " " + pick(r, lastNames)
	}
	return "{" + name + "}"
}

// ---- rendering ----

type link struct{ url, text string }

type attachmentPart struct {
	name, ctype string
	data        []byte
}

// draft is a message body before it is encoded.
type draft struct {
	paras      []string
	links      []link
	footer     string
	hidden     string // HTML only: a block that is not displayed
	preheader  string // HTML only: the hidden preview text of newsletters
	format     string // plain, html, alternative
	cte        string // 8bit, quoted-printable, base64
	charset    string
	obfuscate  bool // also hide keywords the HTML ways
	attachment *attachmentPart
}

// render writes header h (with everything but the MIME fields) and the
// body of d.
func (c *Corpus) render(h []byte, d draft) []byte {
	var b bytes.Buffer
	b.Write(h)
	b.WriteString("MIME-Version: 1.0\r\n")
	body := func() {
		switch d.format {
		case "plain":
			c.part(&b, "text/plain", d.charset, d.cte, d.plain())
		case "html":
			c.part(&b, "text/html", d.charset, d.cte, c.html(d))
		default:
			bd := c.ham.boundary()
			b.WriteString("Content-Type: multipart/alternative; boundary=\"" + bd + "\"\r\n\r\n")
			b.WriteString("--" + bd + "\r\n")
			c.part(&b, "text/plain", d.charset, d.cte, d.plain())
			b.WriteString("\r\n--" + bd + "\r\n")
			c.part(&b, "text/html", d.charset, d.cte, c.html(d))
			b.WriteString("\r\n--" + bd + "--\r\n")
		}
	}
	if d.attachment == nil {
		body()
		return b.Bytes()
	}
	outer := c.ham.boundary()
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + outer + "\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--" + outer + "\r\n")
	body()
	b.WriteString("\r\n--" + outer + "\r\n")
	a := d.attachment
	fmt.Fprintf(&b, "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", a.ctype, a.name, a.name)
	writeBase64(&b, a.data)
	b.WriteString("\r\n--" + outer + "--\r\n")
	return b.Bytes()
}

func (d draft) plain() string {
	var b strings.Builder
	for i, p := range d.paras {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p)
		if i == 1 || (i == 0 && len(d.paras) == 1) {
			for _, l := range d.links {
				b.WriteString("\n\n" + l.text + ": " + l.url)
			}
		}
	}
	if len(d.paras) == 0 {
		for _, l := range d.links {
			b.WriteString(l.text + ": " + l.url + "\n")
		}
	}
	if d.footer != "" {
		b.WriteString("\n\n--\n" + d.footer)
	}
	return b.String()
}

func (c *Corpus) html(d draft) string {
	var b strings.Builder
	b.WriteString("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=" + d.charset + "\">")
	b.WriteString("<style>body{font-family:Arial,sans-serif} .btn{background:#e33;color:#fff;padding:10px}</style></head>\n<body>\n")
	if d.preheader != "" {
		b.WriteString("<span style=\"display:none;max-height:0;overflow:hidden\">" + html.EscapeString(d.preheader) + "</span>\n")
	}
	b.WriteString("<table width=\"600\" align=\"center\"><tr><td>\n")
	for i, p := range d.paras {
		text := strings.ReplaceAll(html.EscapeString(p), "\n", "<br>")
		if d.obfuscate {
			text = c.obfuscate(text, true)
		}
		if i == 0 && len(d.paras) > 2 && c.chance(0.3) {
			b.WriteString("<h2>" + text + "</h2>\n")
		} else {
			b.WriteString("<p>" + text + "</p>\n")
		}
		if i == 1 || (i == 0 && len(d.paras) == 1) {
			for _, l := range d.links {
				b.WriteString("<p><a class=\"btn\" href=\"" + html.EscapeString(l.url) + "\"><b>" + html.EscapeString(l.text) + "</b></a></p>\n")
			}
		}
	}
	if len(d.links) > 0 && c.chance(0.4) {
		u := d.links[0].url
		if k := strings.Index(u[8:], "/"); k > 0 {
			u = u[:8+k]
		}
		b.WriteString("<img src=\"" + html.EscapeString(u) + "/img/" + c.randID(8) + ".gif\" width=\"1\" height=\"1\">\n")
	}
	if d.hidden != "" {
		b.WriteString("<div style=\"display:none;font-size:1px;color:#ffffff\">" + d.hidden + "</div>\n")
	}
	if d.footer != "" {
		b.WriteString("<p style=\"font-size:10px;color:#999\">" + html.EscapeString(d.footer) + "</p>\n")
	}
	b.WriteString("</td></tr></table>\n</body></html>")
	return b.String()
}

// part writes one text part: its header, then text in charset and cte.
func (c *Corpus) part(b *bytes.Buffer, ctype, charset, cte, text string) {
	text = strings.ReplaceAll(text, "\n", "\r\n")
	data := encodeCharset(text, charset)
	if cte == "8bit" && isASCII(string(data)) {
		cte = "7bit"
	}
	fmt.Fprintf(b, "Content-Type: %s; charset=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n", ctype, charset, cte)
	switch cte {
	case "base64":
		writeBase64(b, data)
	case "quoted-printable":
		w := quotedprintable.NewWriter(b)
		w.Write(data)
		w.Close()
		b.WriteString("\r\n")
	default:
		// 7bit and 8bit lines must stay under 998 bytes.
		for line := range strings.SplitSeq(string(data), "\r\n") {
			wrap(b, "", line, 76)
		}
	}
}

// encodeCharset encodes UTF-8 text in a single-byte charset; characters
// it lacks become '?'.
func encodeCharset(s, charset string) []byte {
	var cm *charmap.Charmap
	switch charset {
	case "iso-8859-1":
		cm = charmap.ISO8859_1
	case "windows-1252":
		cm = charmap.Windows1252
	case "koi8-r":
		cm = charmap.KOI8R
	case "windows-1251":
		cm = charmap.Windows1251
	default:
		return []byte(s)
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if bt, ok := cm.EncodeRune(r); ok {
			out = append(out, bt)
		} else {
			out = append(out, '?')
		}
	}
	return out
}

// encodeSubject RFC 2047-encodes a subject that needs it, and with
// probability p one that does not.
func (c *Corpus) encodeSubject(s, charset string, p float64) string {
	if isASCII(s) && !c.chance(p) {
		return s
	}
	if charset == "koi8-r" || charset == "windows-1251" || charset == "iso-8859-1" || charset == "windows-1252" {
		enc := mime.BEncoding
		if c.chance(0.5) {
			enc = mime.QEncoding
		}
		return enc.Encode(charset, string(encodeCharset(s, charset)))
	}
	if c.chance(0.5) {
		return mime.QEncoding.Encode("utf-8", s)
	}
	return mime.BEncoding.Encode("utf-8", s)
}

func writeBase64(b *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (c *Corpus) randID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idChars[c.r.IntN(len(idChars))]
	}
	return string(b)
}

func (c *Corpus) randB64(n int) string {
	b := make([]byte, n*3/4)
	for i := range b {
		b[i] = byte(c.r.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

func (c *Corpus) randBytes(n int, magic string) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(c.r.Uint32())
	}
	copy(b, magic)
	return b
}
