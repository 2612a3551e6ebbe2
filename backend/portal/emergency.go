package portal

import "github.com/healthhub/healthhub/backend/access"

// UseEmergencyGrants makes the portal's decisions honour emergency access
// grants from grants from now on (access.Guard records each use).
func (s *Service) UseEmergencyGrants(grants access.Grants) { s.access.UseEmergencyGrants(grants) }
