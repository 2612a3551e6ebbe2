package assistant

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/redact"
)

// TestNothingInTheRequestNamesAPatient: for an external provider no part
// of the request a provider is handed (system prompt, messages, passages)
// holds an identifier, whatever the provider chooses to send; for an
// internal one the passages stay as written, for the offline mode to quote.
func TestNothingInTheRequestNamesAPatient(t *testing.T) {
	s := New(nil, nil, nil, nil, nil, Options{}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.patientNames = redact.NewPatients(func(context.Context) ([]string, error) { return []string{"Wei Zhang", "Maria Gonzalez"}, nil }, time.Now, time.Minute)
	cites := []domain.Citation{
		{N: 1, Title: "wei-zhang-referral", Heading: "Callbacks for Maria Gonzalez", Text: "Reception rings Wei Zhang on 555-214-8830; pump serial number SN-4471-XK9."},
		{N: 2, Title: "Parking", Text: "Her carer's car, plate KX19 LMN, may use the disabled bay."},
	}
	tr := turn{
		content: "When do we ring Wei Zhang back?",
		history: []llm.Message{{Role: domain.RoleUser, Content: "Maria Gonzalez asked too, on 555-301-4477."}, {Role: domain.RoleAssistant, Content: "Noted."}},
		system:  "Answer for the front desk of the clinic that treats Wei Zhang.",
	}
	identifiers := []string{"Wei", "Zhang", "wei-zhang", "Maria", "Gonzalez", "555-214-8830", "555-301-4477", "4471-XK9", "KX19 LMN"}

	tr.choice = &choice{info: &domain.LLMProvider{Kind: domain.ProviderOpenAI, External: true}, model: domain.LLMModel{Name: "m", ContextTokens: 8192}}
	req, replaced, restorer, err := s.prompt(context.Background(), tr, cites)
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := json.Marshal(req)
	for _, id := range identifiers {
		if strings.Contains(string(sent), id) {
			t.Errorf("%q is in the request for an external provider:\n%s", id, sent)
		}
	}
	if len(req.Passages) != 2 || !strings.Contains(req.Passages[0].Text, "Reception rings [PATIENT_2] on [PHONE_2]") || req.Passages[0].Title != "[PATIENT_2]-referral" {
		t.Fatalf("passages handed to the provider: %+v", req.Passages)
	}
	if replaced == 0 || restorer == nil {
		t.Fatalf("replaced %d, restorer %v", replaced, restorer)
	}
	if got := restorer.Write("[PATIENT_2] on [PHONE_2], [VEHICLE_1]") + restorer.Flush(); got != "Wei Zhang on 555-214-8830, KX19 LMN" {
		t.Fatalf("restored %q", got)
	}

	tr.choice = &choice{info: &domain.LLMProvider{Kind: domain.ProviderOffline}, model: domain.LLMModel{Name: "m", ContextTokens: 8192}}
	req, replaced, restorer, err = s.prompt(context.Background(), tr, cites)
	if err != nil || replaced != 0 || restorer != nil {
		t.Fatalf("internal provider: %v, %d replaced, restorer %v", err, replaced, restorer)
	}
	if req.Passages[0].Text != cites[0].Text || req.Passages[0].Title != cites[0].Title {
		t.Fatalf("an internal provider's passages changed: %+v", req.Passages[0])
	}
}
