package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
)

// Request and response bodies of the portal routes.
type (
	patientList struct {
		Patients []*domain.Patient `json:"patients"`
	}
	entryList struct {
		Entries []*domain.ClinicalEntry `json:"entries"`
	}
	changeList struct {
		Changes []*domain.PatientChange `json:"changes"`
	}
	doctorList struct {
		Doctors []*domain.Doctor `json:"doctors"`
	}
	slotList struct {
		Slots []portal.Slot `json:"slots"`
	}
	appointmentList struct {
		Appointments []*domain.Appointment `json:"appointments"`
	}
	notificationList struct {
		Notifications []*domain.Notification `json:"notifications"`
	}
	cancelRequest struct {
		Reason string `json:"reason"`
	}
	rescheduleRequest struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	}
	statusRequest struct {
		Status string `json:"status"`
	}
	registered struct {
		domain.User
		PatientID string `json:"patient_id"`
	}
	selfRegistration struct {
		Email       string  `json:"email"`
		Password    string  `json:"password"`
		Name        string  `json:"name"`
		DateOfBirth *string `json:"date_of_birth,omitempty"`
	}
)

func (s *Server) handleRegisterPatient() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in selfRegistration
		if err := decode(w, r, &in); err != nil {
			return err
		}
		np := portal.NewPatient{Password: in.Password}
		np.Email, np.Name, np.DateOfBirth = &in.Email, &in.Name, in.DateOfBirth
		if in.Password == "" {
			return domain.Invalid("password", "Choose a password.")
		}
		p, err := s.portal.CreatePatient(r.Context(), np, true)
		if err != nil {
			return err
		}
		u, err := s.auth.User(r.Context(), p.UserID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, registered{User: *u, PatientID: p.ID})
		return nil
	})
}

func (s *Server) handleListPatients() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		limit, err := queryInt(r, "limit", 1, 200)
		if err != nil {
			return err
		}
		offset, err := queryInt(r, "offset", 0, 1<<31)
		if err != nil {
			return err
		}
		f := domain.PatientFilter{Query: truncate(r.URL.Query().Get("q"), 200), Limit: int(limit), Offset: int(offset)}
		ps, err := s.portal.ListPatients(r.Context(), f)
		if err != nil {
			return err
		}
		if ps == nil {
			ps = []*domain.Patient{}
		}
		writeJSON(w, http.StatusOK, patientList{Patients: ps})
		return nil
	})
}

func (s *Server) handleCreatePatient() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in portal.NewPatient
		if err := decode(w, r, &in); err != nil {
			return err
		}
		p, err := s.portal.CreatePatient(r.Context(), in, false)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, p)
		return nil
	})
}

func (s *Server) handleGetPatient() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.portal.Patient(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	})
}

func (s *Server) handleMyPatient() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.portal.MyPatient(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	})
}

func (s *Server) handleUpdatePatient() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in portal.PatientInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		p, err := s.portal.UpdatePatient(r.Context(), r.PathValue("id"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, p)
		return nil
	})
}

func (s *Server) handleListEntries() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		es, err := s.portal.Entries(r.Context(), id, r.URL.Query().Get("kind"))
		if err != nil {
			return err
		}
		if es == nil {
			es = []*domain.ClinicalEntry{}
		}
		writeJSON(w, http.StatusOK, entryList{Entries: es})
		return nil
	})
}

func (s *Server) handleAddEntry() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in portal.EntryInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		id := r.PathValue("id")
		e, err := s.portal.AddEntry(r.Context(), id, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, e)
		return nil
	})
}

func (s *Server) handleUpdateEntry() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in portal.EntryInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		id := r.PathValue("id")
		e, err := s.portal.UpdateEntry(r.Context(), id, r.PathValue("entry_id"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, e)
		return nil
	})
}

func (s *Server) handleDeleteEntry() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := s.portal.DeleteEntry(r.Context(), id, r.PathValue("entry_id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handlePatientChanges() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		cs, err := s.portal.Changes(r.Context(), id)
		if err != nil {
			return err
		}
		if cs == nil {
			cs = []*domain.PatientChange{}
		}
		writeJSON(w, http.StatusOK, changeList{Changes: cs})
		return nil
	})
}

func (s *Server) handleListDoctors() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		ds, err := s.portal.ListDoctors(r.Context(), truncate(r.URL.Query().Get("specialization"), 100))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, doctorList{Doctors: ds})
		return nil
	})
}

func (s *Server) handleCreateDoctor() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in portal.NewDoctor
		if err := decode(w, r, &in); err != nil {
			return err
		}
		d, err := s.portal.CreateDoctor(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, d)
		return nil
	})
}

func (s *Server) handleGetDoctor() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		d, err := s.portal.Doctor(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	})
}

func (s *Server) handleGetAvailability() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.portal.Availability(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) handlePutAvailability() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in domain.Availability
		if err := decode(w, r, &in); err != nil {
			return err
		}
		a, err := s.portal.SetAvailability(r.Context(), r.PathValue("id"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) handleSlots() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		from, err := queryTime(r, "from")
		if err != nil {
			return err
		}
		to, err := queryTime(r, "to")
		if err != nil {
			return err
		}
		if from.IsZero() {
			from = s.now()
		}
		if to.IsZero() {
			to = from.Add(7 * 24 * time.Hour)
		}
		slots, err := s.portal.Slots(r.Context(), r.PathValue("id"), from, to)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, slotList{Slots: slots})
		return nil
	})
}

func (s *Server) handleAppointmentStats() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		stats, err := s.portal.AppointmentStats(r.Context(), q.Get("from"), q.Get("to"), q.Get("time_zone"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, stats)
		return nil
	})
}

func (s *Server) handleListAppointments() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		f := domain.AppointmentFilter{DoctorID: q.Get("doctor_id"), PatientID: q.Get("patient_id"), Status: q.Get("status")}
		var err error
		if f.From, err = queryTime(r, "from"); err != nil {
			return err
		}
		if f.To, err = queryTime(r, "to"); err != nil {
			return err
		}
		limit, err := queryInt(r, "limit", 1, 1000)
		if err != nil {
			return err
		}
		f.Limit = int(limit)
		if err := s.portal.ScopeAppointments(r.Context(), &f); err != nil {
			return err
		}
		list, err := s.portal.ListAppointments(r.Context(), f)
		if err != nil {
			return err
		}
		if list == nil {
			list = []*domain.Appointment{}
		}
		writeJSON(w, http.StatusOK, appointmentList{Appointments: list})
		return nil
	})
}

func (s *Server) handleBook() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in portal.BookRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if in.DoctorID == "" || in.PatientID == "" {
			return domain.Invalid("doctor_id", "Give doctor_id and patient_id.")
		}
		b, err := s.portal.Book(r.Context(), in, r.Header.Get("Idempotency-Key"))
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if b.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.Header().Set("Location", "/api/v1/appointments/"+b.Appointment.ID)
		writeJSON(w, status, b.Appointment)
		return nil
	})
}

func (s *Server) handleGetAppointment() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.portal.Appointment(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) handleCancel() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in cancelRequest
		if r.ContentLength != 0 {
			if err := decode(w, r, &in); err != nil {
				return err
			}
		}
		a, err := s.portal.Cancel(r.Context(), r.PathValue("id"), in.Reason)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) handleReschedule() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in rescheduleRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		a, err := s.portal.Reschedule(r.Context(), r.PathValue("id"), in.Start, in.End)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) handleSetStatus() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in statusRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		a, err := s.portal.SetStatus(r.Context(), r.PathValue("id"), in.Status)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	})
}

func (s *Server) handleListNotifications() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		ns, err := s.portal.Notifications(r.Context(), 100)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, notificationList{Notifications: ns})
		return nil
	})
}

func (s *Server) handleReadNotification() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.portal.MarkNotificationRead(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleWS() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if s.live == nil {
			return domain.Unavailable(nil, "Live updates are not available on this server.")
		}
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			writeErrorStatus(w, r, s.logger, http.StatusUpgradeRequired, &domain.Error{Code: domain.EINVALID,
				Message: "This endpoint is a WebSocket: connect with a WebSocket client (Upgrade: websocket)."})
			return nil
		}
		s.live.ServeWS(w, r, domain.PrincipalFrom(r.Context()), s.chatOverWebSocket)
		return nil
	})
}
