package gormstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/adapters/gormstore"
	"github.com/ticketstream/ticketstream/domain"
	"github.com/ticketstream/ticketstream/domain/demodata"
	"github.com/ticketstream/ticketstream/ports"
	"github.com/ticketstream/ticketstream/ports/portstest"
)

func TestStore_MeetsTicketSourceContract(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			portstest.TestTicketSourceContract(t, func(t *testing.T, tickets []domain.Ticket) ports.TicketSource {
				return openStore(t, d, tickets, gormstore.Config{})
			})
		})
	}
}

func TestStore_Ticket(t *testing.T) {
	t.Parallel()
	tickets := portstest.ContractTickets()[:50]
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, tickets, gormstore.Config{})
			for _, want := range []domain.Ticket{tickets[3], tickets[4], tickets[6]} {
				got, err := s.Ticket(context.Background(), want.ID)
				if err != nil {
					t.Fatalf("Ticket(%d): %v", want.ID, err)
				}
				if diff := portstest.DiffTicket(got, want); diff != "" {
					t.Fatalf("Ticket(%d): %s", want.ID, diff)
				}
			}
			_, err := s.Ticket(context.Background(), 999999)
			var derr *domain.Error
			if !errors.As(err, &derr) || derr.Code != domain.ENotFound {
				t.Fatalf("Ticket of a missing id = %v, want ENotFound", err)
			}
		})
	}
}

func TestStore_InsertRefusesInvalidTicketsAndWritesNothing(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, nil, gormstore.Config{})
			tickets := demodata.New(3).Tickets(10)
			tickets[7].Status = "opne"
			err := s.InsertTickets(context.Background(), tickets)
			if domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("InsertTickets with a bad status = %v, want EInvalid", err)
			}
			if n, _ := s.Count(context.Background()); n != 0 {
				t.Fatalf("%d tickets written despite the error", n)
			}
		})
	}
}

func TestStore_TimestampsComeBackInUTC(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, d, demodata.New(1).Tickets(3), gormstore.Config{})
			err := s.StreamTickets(context.Background(), domain.Query{}, 0, ports.BatchHandlerFunc(func(batch []domain.Ticket) error {
				for _, tk := range batch {
					if tk.CreatedAt.Location() != time.UTC || tk.UpdatedAt.Location() != time.UTC {
						t.Fatalf("ticket %d times are in %v/%v, want UTC (the encoder's fast path)", tk.ID, tk.CreatedAt.Location(), tk.UpdatedAt.Location())
					}
				}
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStore_UpdateTicket(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			tickets := demodata.New(9).Tickets(20)
			s := openStore(t, d, tickets, gormstore.Config{})
			ctx := context.Background()
			g := demodata.New(10)
			want := g.Update(tickets[4], demodata.Epoch.Add(time.Hour))
			want.Tags = []string{"escalated", "vip"}
			if err := s.UpdateTicket(ctx, want); err != nil {
				t.Fatal(err)
			}
			got, err := s.Ticket(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := portstest.DiffTicket(got, want); d != "" {
				t.Fatalf("after the update: %s", d)
			}
			missing := want
			missing.ID = 9999
			if err := s.UpdateTicket(ctx, missing); domain.ErrorCode(err) != domain.ENotFound {
				t.Fatalf("updating a missing ticket = %v, want ENotFound", err)
			}
			bad := want
			bad.Status = "opne"
			if err := s.UpdateTicket(ctx, bad); domain.ErrorCode(err) != domain.EInvalid {
				t.Fatalf("an invalid update = %v, want EInvalid", err)
			}
		})
	}
}

func TestStore_MeetsChangeFeedContract(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			portstest.TestChangeFeedContract(t, func(t *testing.T) (ports.ChangeFeed, portstest.TicketWriter) {
				s := openStore(t, d, nil, gormstore.Config{})
				return s, s
			})
		})
	}
}
