package demodata

import "github.com/ticketstream/ticketstream/domain"

type team struct {
	name   string
	agents []string
}

func agents(team string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "@" + team + ".support.example.com"
	}
	return out
}

// teams are the desks tickets land on, weighted by their share of the volume.
var teams = []weighted[team]{
	{team{"support", agents("support", "alice.moreau", "bilal.haddad", "chen.wei", "dana.kowalski", "emeka.obi", "fatima.zahra", "gus.lindqvist", "hana.sato", "ivan.petrov", "jules.martin")}, 35},
	{team{"billing", agents("billing", "karen.osei", "luis.fernandez", "maya.cohen", "nils.berg", "olga.ivanova")}, 20},
	{team{"technical", agents("technical", "priya.raman", "quentin.leroy", "rosa.diaz", "sven.holm", "tariq.aziz", "uma.nair")}, 20},
	{team{"accounts", agents("accounts", "victor.huang", "wendy.park", "xavier.dubois")}, 10},
	{team{"shipping", agents("shipping", "yara.nassar", "zoe.adams", "arjun.mehta", "beatriz.souza")}, 10},
	{team{"enterprise", agents("enterprise", "carla.rossi", "dmitri.volkov")}, 5},
}

// Teams lists the team names the generator uses, for filters in demos and tests.
func Teams() []string {
	out := make([]string, len(teams))
	for i, t := range teams {
		out[i] = t.value.name
	}
	return out
}

var statuses = []weighted[domain.Status]{
	{domain.StatusNew, 8}, {domain.StatusOpen, 25}, {domain.StatusPending, 15},
	{domain.StatusOnHold, 5}, {domain.StatusSolved, 30}, {domain.StatusClosed, 17},
}

var priorities = []weighted[domain.Priority]{
	{domain.PriorityLow, 25}, {domain.PriorityNormal, 50}, {domain.PriorityHigh, 20}, {domain.PriorityUrgent, 5},
}

var subjects = []string{
	"Charged twice for order #{order} after updating my card on the {product} checkout page",
	"Cannot log in to {product}: the \"reset password\" link in the e-mail has already expired",
	"Refund for order #{order} still not received after 14 days, bank says nothing is pending",
	"{feature} in {product} stopped working since this morning's update for our whole team",
	"Invoice for order #{order} shows the wrong VAT number & company address, need a corrected copy",
	"Package for order #{order} marked as delivered but nothing arrived at the office reception",
	"How do I export all our {product} data to CSV before the end of the month?",
	"Error 502 when uploading attachments larger than 10 MB through {feature} in {product}",
	"Please add two more seats to our {product} plan and prorate the difference on the next invoice",
	"Réclamation : commande #{order} reçue incomplète, il manque deux articles sur cinq",
	"Two-factor codes from the {product} app are rejected as invalid on my new phone 📱",
	"Our admin left the company - how do we transfer ownership of the {product} workspace?",
	"{feature} shows times in UTC instead of our local time zone <Europe/Berlin> since Monday",
	"Question about the discount on order #{order}: the coupon code was not applied at checkout",
}

var products = []string{"Acme Cloud Platform", "Acme Cloud", "Acme Desk", "Acme Pay", "Acme Mobile", "Acme Analytics", "Acme Store"}

var features = []string{"The calendar sync", "Single sign-on", "The bulk import", "The reporting dashboard", "Webhook delivery", "The mobile push notification"}

var followUps = []string{"urgent, customer waiting", "second request", "follow-up on earlier ticket", "escalated by account manager", "reopened by the customer", "customer replied by e-mail"}

var firstNames = []string{"james", "maria", "wei", "fatima", "olivier", "sofia", "kenji", "amara", "lucas", "ingrid", "mateo", "aisha", "noah", "elena", "ravi", "chloe"}

var lastNames = []string{"smith", "garcia", "zhang", "khan", "dubois", "rossi", "tanaka", "okafor", "silva", "johansson", "lopez", "rahman", "miller", "novak", "iyer", "martin"}

var domains = []string{"gmail.com", "outlook.com", "mail.northwind-traders.com", "example.org", "northwind-traders.com", "contoso.co.uk", "fabrikam.de", "globex-corporation.com"}

var tagWords = []string{"refund", "vip", "login", "billing-dispute", "bug", "feature-request", "shipping-delay", "mobile", "sso", "invoice", "churn-risk", "gdpr", "escalated", "onboarding", "needs-engineering"}
