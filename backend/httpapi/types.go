package httpapi

import "github.com/healthhub/healthhub/backend/domain"

type statusResponse struct {
	Status   string `json:"status"`
	Database string `json:"database,omitempty"`
	Version  string `json:"version,omitempty"`
	// API is the API generation this server speaks (the /api/v1 routes);
	// desktop apps refuse a server of another.
	API string `json:"api"`
}

// APIGeneration is the value of statusResponse.API.
const APIGeneration = "1"

type setupStatus struct {
	Needed bool `json:"needed"`
}

type setupRequest struct {
	Token    string `json:"token"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type meResponse struct {
	domain.User
	MFAEnrollmentRequired bool `json:"mfa_enrollment_required"`
	IdleTimeoutMinutes    int  `json:"idle_timeout_minutes"`
}

type mfaConfirmRequest struct {
	Code string `json:"code"`
}

type apiKeyRequest struct {
	Name string `json:"name"`
}

type apiKeyCreated struct {
	domain.APIKey
	Key string `json:"key"`
}

type apiKeyList struct {
	APIKeys []*domain.APIKey `json:"api_keys"`
}

type userList struct {
	Users []*domain.User `json:"users"`
	// DoctorsWithoutProfile are the ids of the listed doctor accounts that
	// have no doctor profile yet, so cannot be booked until it is completed.
	DoctorsWithoutProfile []string `json:"doctors_without_profile"`
}

type auditList struct {
	Events []*domain.AuditEvent `json:"events"`
	// NextBefore pages on: pass it as ?before= for older events; 0 at the end.
	NextBefore int64 `json:"next_before"`
}
