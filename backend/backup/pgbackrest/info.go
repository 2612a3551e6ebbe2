package pgbackrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Info is what the repository holds for one stanza, read from
// "pgbackrest info --output=json".
type Info struct {
	Stanza string
	// Status is pgBackRest's status of the stanza: code 0 is "ok", 2 is
	// "no valid backups", 1 and 3 mean the stanza is missing.
	Status Status
	Cipher string
	// PGVersion is the PostgreSQL major version of the current database
	// ("15").
	PGVersion string
	// Backups are the backups in the repository, oldest first.
	Backups []Backup
	// Archives are the WAL ranges kept per database history; the last is
	// the current database's.
	Archives []ArchiveRange
	// BackupRunning reports a backup in progress (pgBackRest's lock).
	BackupRunning bool
}

// Status is a pgBackRest status code and message.
type Status struct {
	Code    int
	Message string
}

// Backup is one backup in the repository.
type Backup struct {
	Label string
	// Type is full, diff or incr.
	Type  string
	Prior string
	// Start and Stop are when pgBackRest started and finished the backup
	// (whole seconds). A restore to a time needs a backup that stopped
	// before it.
	Start, Stop time.Time
	// WALStart and WALStop are the first and last WAL segments the backup
	// needs to be consistent.
	WALStart, WALStop string
	LSNStart, LSNStop string
	// Size is the size of the database; RepoSize what this backup adds to
	// the repository.
	Size, RepoSize int64
	// Error reports page checksum errors found while backing up.
	Error bool
}

// ArchiveRange is the span of WAL segments archived for one database
// history ("15-1").
type ArchiveRange struct {
	ID       string
	Min, Max string
}

// Oldest is the oldest backup, and false when there is none.
func (i Info) Oldest() (Backup, bool) {
	if len(i.Backups) == 0 {
		return Backup{}, false
	}
	return i.Backups[0], true
}

// Newest is the newest backup, and false when there is none.
func (i Info) Newest() (Backup, bool) {
	if len(i.Backups) == 0 {
		return Backup{}, false
	}
	return i.Backups[len(i.Backups)-1], true
}

// Archive is the current database's WAL range, and false when nothing has
// been archived.
func (i Info) Archive() (ArchiveRange, bool) {
	for j := len(i.Archives) - 1; j >= 0; j-- {
		if i.Archives[j].Max != "" {
			return i.Archives[j], true
		}
	}
	return ArchiveRange{}, false
}

// infoJSON is the shape of one stanza in "pgbackrest info --output=json"
// (format 5, pgBackRest 2.x). Fields HealthHub does not use are left out.
type infoJSON struct {
	Name   string `json:"name"`
	Cipher string `json:"cipher"`
	Status struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
		Lock    struct {
			Backup struct {
				Held bool `json:"held"`
			} `json:"backup"`
		} `json:"lock"`
	} `json:"status"`
	DB []struct {
		ID      int    `json:"id"`
		Version string `json:"version"`
	} `json:"db"`
	Archive []struct {
		ID  string `json:"id"`
		Min string `json:"min"`
		Max string `json:"max"`
	} `json:"archive"`
	Backup []struct {
		Label   string  `json:"label"`
		Type    string  `json:"type"`
		Prior   *string `json:"prior"`
		Error   bool    `json:"error"`
		Archive struct {
			Start string `json:"start"`
			Stop  string `json:"stop"`
		} `json:"archive"`
		LSN struct {
			Start string `json:"start"`
			Stop  string `json:"stop"`
		} `json:"lsn"`
		Info struct {
			Size       int64 `json:"size"`
			Repository struct {
				Delta int64 `json:"delta"`
			} `json:"repository"`
		} `json:"info"`
		Timestamp struct {
			Start *int64 `json:"start"`
			Stop  *int64 `json:"stop"`
		} `json:"timestamp"`
	} `json:"backup"`
}

// maxEpoch bounds the times accepted from the repository (the year 9999),
// so a damaged file cannot produce times that overflow later arithmetic.
const maxEpoch = 253402300799

// ParseInfo reads the stanza named stanza from the output of
// "pgbackrest info --output=json". The output is a JSON array with one
// object per stanza; a stanza missing from it is an error.
func ParseInfo(data []byte, stanza string) (Info, error) {
	var all []infoJSON
	if err := json.Unmarshal(data, &all); err != nil {
		return Info{}, fmt.Errorf("pgbackrest info is not the expected JSON: %w", err)
	}
	for _, s := range all {
		if s.Name != stanza {
			continue
		}
		if s.Status.Code == nil {
			return Info{}, fmt.Errorf("pgbackrest info: stanza %q has no status code", stanza)
		}
		info := Info{Stanza: s.Name, Cipher: s.Cipher, Status: Status{Code: *s.Status.Code, Message: s.Status.Message},
			BackupRunning: s.Status.Lock.Backup.Held}
		maxDB := -1
		for _, db := range s.DB {
			if db.ID > maxDB {
				maxDB, info.PGVersion = db.ID, db.Version
			}
		}
		for _, a := range s.Archive {
			if a.Min != "" && !IsWALSegment(a.Min) || a.Max != "" && !IsWALSegment(a.Max) {
				return Info{}, fmt.Errorf("pgbackrest info: archive %q has a malformed WAL range %q-%q", a.ID, a.Min, a.Max)
			}
			info.Archives = append(info.Archives, ArchiveRange{ID: a.ID, Min: a.Min, Max: a.Max})
		}
		for _, b := range s.Backup {
			if b.Label == "" || b.Timestamp.Start == nil || b.Timestamp.Stop == nil {
				return Info{}, fmt.Errorf("pgbackrest info: a backup (%q) lacks its label or times", b.Label)
			}
			start, stop := *b.Timestamp.Start, *b.Timestamp.Stop
			if start < 0 || stop < start || stop > maxEpoch {
				return Info{}, fmt.Errorf("pgbackrest info: backup %s has impossible times %d-%d", b.Label, start, stop)
			}
			if !IsWALSegment(b.Archive.Start) || !IsWALSegment(b.Archive.Stop) {
				return Info{}, fmt.Errorf("pgbackrest info: backup %s has a malformed WAL range %q-%q", b.Label, b.Archive.Start, b.Archive.Stop)
			}
			switch b.Type {
			case "full", "diff", "incr":
			default:
				return Info{}, fmt.Errorf("pgbackrest info: backup %s has unknown type %q", b.Label, b.Type)
			}
			bk := Backup{Label: b.Label, Type: b.Type, Start: time.Unix(start, 0).UTC(), Stop: time.Unix(stop, 0).UTC(),
				WALStart: b.Archive.Start, WALStop: b.Archive.Stop, LSNStart: b.LSN.Start, LSNStop: b.LSN.Stop,
				Size: b.Info.Size, RepoSize: b.Info.Repository.Delta, Error: b.Error}
			if b.Prior != nil {
				bk.Prior = *b.Prior
			}
			info.Backups = append(info.Backups, bk)
		}
		sort.SliceStable(info.Backups, func(i, j int) bool { return info.Backups[i].Stop.Before(info.Backups[j].Stop) })
		return info, nil
	}
	names := make([]string, 0, len(all))
	for _, s := range all {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return Info{}, fmt.Errorf("pgbackrest info lists no stanza (wanted %q)", stanza)
	}
	return Info{}, fmt.Errorf("pgbackrest info has no stanza %q (it has %s)", stanza, strings.Join(names, ", "))
}

// IsWALSegment reports whether name is a WAL segment file name: 24
// upper-case hexadecimal digits (timeline, log, segment).
func IsWALSegment(name string) bool {
	if len(name) != 24 {
		return false
	}
	for _, c := range name {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// errNoSegment is the end of a walk back through WAL segment names.
var errNoSegment = errors.New("no earlier WAL segment")

// previousSegment is the WAL segment before name on the same timeline,
// for segments of segSize bytes.
func previousSegment(name string, segSize int64) (string, error) {
	var tli, log, seg uint32
	if !IsWALSegment(name) {
		return "", fmt.Errorf("%q is not a WAL segment name", name)
	}
	if _, err := fmt.Sscanf(name, "%08X%08X%08X", &tli, &log, &seg); err != nil {
		return "", fmt.Errorf("WAL segment name %q: %w", name, err)
	}
	perLog := uint32(0x100000000 / segSize)
	switch {
	case seg > 0:
		seg--
	case log > 0:
		log, seg = log-1, perLog-1
	default:
		return "", errNoSegment
	}
	return fmt.Sprintf("%08X%08X%08X", tli, log, seg), nil
}
